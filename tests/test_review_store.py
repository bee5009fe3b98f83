"""ReviewStore: samples validation, blinding, concurrency/durability, summary math, export, Hub sync."""

import csv
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from unittest import mock

import pytest

from medchat.review_store import (
    AXES,
    ReviewError,
    ReviewStore,
    SampleValidationError,
    cohen_kappa,
    load_samples,
    sample_set_id,
    wilson_interval,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "samples_small.jsonl"


def make_samples(n: int, tag: str = "") -> list[dict]:
    return [{"id": f"item{i:03d}", "description": f"d{i}", "patient": f"patient text {i}{tag}",
             "reference": f"ref {i}", "replies": {"base": f"base reply {i}", "finetuned": f"ft reply {i}"}}
            for i in range(n)]


def label_for(store: ReviewStore, item_id: str, model: str, set_id: str | None = None) -> str:
    mapping = store.blinding(set_id)[item_id]
    return "A" if mapping["A"] == model else "B"


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------------
# samples
# ---------------------------------------------------------------------------------------------

def test_load_samples_fixture_and_wal(tmp_path):
    rows = load_samples(FIXTURE)
    assert len(rows) == 4 and all(set(r["replies"]) == {"base", "finetuned"} for r in rows)
    store = ReviewStore(tmp_path / "r.db")
    store.load_samples_file(FIXTURE)
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


@pytest.mark.parametrize("bad, line, field", [
    ('{"id": "x", "patient": "p", "replies": {"base": "b"}}', 2, "replies.finetuned"),
    ('{"id": "x", "patient": "", "replies": {"base": "b", "finetuned": "f"}}', 2, "patient"),
    ('{"patient": "p", "replies": {"base": "b", "finetuned": "f"}}', 2, "id"),
    ('{"id": "x", "patient": "p", "replies": ["b", "f"]}', 2, "replies"),
    ('{"id": "x", "patient": "p", "replies": {"base": 1, "finetuned": "f"}}', 2, "replies.base"),
    ('{"id": "x", "patient": "p", "reference": 3, "replies": {"base": "b", "finetuned": "f"}}', 2, "reference"),
    ('{"id": "x", "patient": "p", "replies": {"base": "b", "finetuned": "f"}', 2, "invalid JSON"),
    ('{"id": "item000", "patient": "p", "replies": {"base": "b", "finetuned": "f"}}', 2, "duplicates"),
])
def test_load_samples_errors_name_line_and_field(tmp_path, bad, line, field):
    path = write_jsonl(tmp_path / "s.jsonl", [make_samples(1)[0], bad])
    with pytest.raises(SampleValidationError) as err:
        load_samples(path)
    msg = str(err.value)
    assert f"line {line}" in msg and field in msg


def test_load_samples_empty_and_missing(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(SampleValidationError, match="no samples"):
        load_samples(tmp_path / "empty.jsonl")
    with pytest.raises(SampleValidationError, match="not found"):
        load_samples(tmp_path / "nope.jsonl")


def test_sample_set_id_is_content_hash_and_sets_never_mix(tmp_path):
    rows = make_samples(3)
    a = write_jsonl(tmp_path / "a.jsonl", rows)
    b = tmp_path / "b.jsonl"  # same content, different formatting and metrics
    b.write_text("\n".join(json.dumps({**r, "metrics": {"base": {"x": 1}}}, indent=None, separators=(", ", ": "))
                           for r in rows) + "\n\n")
    changed = [dict(r) for r in rows]
    changed[1] = {**changed[1], "replies": {"base": "other", "finetuned": "ft reply 1"}}
    assert sample_set_id(load_samples(a)) == sample_set_id(load_samples(b))
    assert sample_set_id(changed) != sample_set_id(rows)

    store = ReviewStore(tmp_path / "r.db", blinding_seed=0)
    s1 = store.add_samples(rows)
    s2 = store.add_samples(changed)
    assert s1 != s2 and store.load_samples_file(b) == s1
    store.save_rating("ann", "item001", "A", set_id=s1)
    assert store.progress("ann", s1) == (1, 3)
    assert store.progress("ann", s2) == (0, 3)
    assert store.get_rating("ann", "item001", s2) is None
    assert store.summary(s2)["n_ratings"] == 0


# ---------------------------------------------------------------------------------------------
# blinding
# ---------------------------------------------------------------------------------------------

def test_blinding_random_per_item_seeded_and_stored(tmp_path):
    rows = make_samples(40)
    orders = {}
    for seed in (1, 2):
        store = ReviewStore(tmp_path / f"s{seed}.db", blinding_seed=seed)
        set_id = store.add_samples(rows)
        orders[seed] = [store.blinding(set_id)[r["id"]]["A"] for r in rows]
        assert set(orders[seed]) == {"base", "finetuned"}  # both orders occur
        for m in store.blinding(set_id).values():
            assert {m["A"], m["B"]} == {"base", "finetuned"}
    assert orders[1] != orders[2]
    # the same seed reproduces the draw
    again = ReviewStore(tmp_path / "again.db", blinding_seed=1)
    sid = again.add_samples(rows)
    assert [again.blinding(sid)[r["id"]]["A"] for r in rows] == orders[1]
    # stored: reopening the DB (even with another seed, or none) and reloading keeps the mapping
    reopened = ReviewStore(tmp_path / "s1.db", blinding_seed=99)
    assert reopened.add_samples(rows) == sid
    assert [reopened.blinding(sid)[r["id"]]["A"] for r in rows] == orders[1]
    assert [ReviewStore(tmp_path / "s1.db").blinding(sid)[r["id"]]["A"] for r in rows] == orders[1]


def test_blinding_system_random_has_both_orders(tmp_path):
    store = ReviewStore(tmp_path / "r.db")
    sid = store.add_samples(make_samples(40))
    assert {m["A"] for m in store.blinding(sid).values()} == {"base", "finetuned"}  # P(fail) = 2**-39


def test_blinded_item_hides_models_and_follows_mapping(tmp_path):
    store = ReviewStore(tmp_path / "r.db", blinding_seed=5)
    sid = store.add_samples(make_samples(6))
    for i in range(6):
        item = store.blinded_item(i, sid)
        mapping = store.blinding(sid)[item["item_id"]]
        assert item["reply_a"] == (f"ft reply {i}" if mapping["A"] == "finetuned" else f"base reply {i}")
        assert not {"base", "finetuned", "replies", "model_a"} & set(item)


def test_blinding_recovered_for_summary(tmp_path):
    store = ReviewStore(tmp_path / "r.db", blinding_seed=11)
    sid = store.add_samples(make_samples(12))
    for item_id in store.item_ids(sid):
        r = store.save_rating("fan", item_id, label_for(store, item_id, "finetuned"), set_id=sid)
        assert r["chosen_model"] == "finetuned" and r["choice"] in ("A", "B")
        store.save_rating("skeptic", item_id, label_for(store, item_id, "base"), set_id=sid)
    labels = {r["choice"] for r in store.ratings(sid) if r["reviewer"] == "fan"}
    assert labels == {"A", "B"}  # the reviewer clicked both labels, yet always the fine-tuned model
    fan = ReviewStore(tmp_path / "r.db").summary(sid, reviewer="fan")  # recovered from the stored mapping
    assert fan["win_rate"] == 1.0 and fan["wins"] == 12 and fan["n_reviewers"] == 1
    skeptic = store.summary(sid, reviewer="skeptic")
    assert skeptic["win_rate"] == 0.0 and skeptic["losses"] == 12
    assert store.summary(sid)["win_rate"] == 0.5


# ---------------------------------------------------------------------------------------------
# ratings, navigation
# ---------------------------------------------------------------------------------------------

def test_save_upsert_validation_and_navigation(tmp_path):
    store = ReviewStore(tmp_path / "r.db", blinding_seed=3)
    sid = store.add_samples(make_samples(5))
    ids = store.item_ids(sid)
    assert store.first_unrated("ann") == 0 and store.resume_position("ann") == 0
    store.save_rating("ann", ids[0], "A", scores_a={"accuracy": 5, "safety": "4"}, harmful_b=True, comment="x")
    store.save_rating("ann", ids[1], "tie")
    assert store.first_unrated("ann") == 2 and store.progress("ann") == (2, 5)
    r = store.save_rating(" ann ", ids[0], "B", scores_b={"completeness": 2}, comment="changed")
    assert r["choice"] == "B" and r["comment"] == "changed" and r["a_accuracy"] is None
    assert r["b_completeness"] == 2 and r["b_harmful"] is False
    assert len(store.ratings()) == 2
    for bad in [dict(choice="C"), dict(choice="A", scores_a={"accuracy": 6}),
                dict(choice="A", scores_a={"accuracy": 2.5}), dict(choice="A", scores_a={"kindness": 3}),
                dict(choice="A", scores_a={"accuracy": True})]:
        with pytest.raises(ReviewError):
            store.save_rating("ann", ids[2], bad.pop("choice"), **bad)
    with pytest.raises(ReviewError):
        store.save_rating("", ids[2], "A")
    with pytest.raises(ReviewError):
        store.save_rating("ann", "no-such-item", "A")
    for i in ids[2:]:
        store.save_rating("ann", i, "both_unsafe")
    assert store.first_unrated("ann") is None
    store.set_position("ann", 3)
    assert store.resume_position("ann") == 3  # all rated: back where the reviewer was
    assert store.resume_position("bob") == 0


def test_concurrent_threads_and_processes(tmp_path):
    db = tmp_path / "r.db"
    store = ReviewStore(db, blinding_seed=4)
    sid = store.add_samples(make_samples(15))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_all, args=(str(db), sid, f"proc{k}")) for k in range(3)]
    errors: list[BaseException] = []

    def thread_target(reviewer):
        try:
            _write_all(str(db), sid, reviewer)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_target, args=(f"thread{k}",)) for k in range(4)]
    for p in procs:
        p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert not errors
    ratings = ReviewStore(db).ratings(sid)
    assert len(ratings) == 7 * 15
    blinding = store.blinding(sid)
    for r in ratings:
        _check_consistent(r, blinding)


def test_concurrent_upserts_of_one_key_stay_whole(tmp_path):
    store = ReviewStore(tmp_path / "r.db", blinding_seed=4)
    sid = store.add_samples(make_samples(2))
    barrier = threading.Barrier(6)

    def writer(k):
        barrier.wait()
        for j in range(5):
            n = k * 10 + j
            store.save_rating("same", "item000", "A", set_id=sid, scores_a={a: 1 + n % 5 for a in AXES},
                              harmful_a=bool(n % 2), comment=f"write {n}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (r,) = store.ratings(sid)
    n = int(r["comment"].split()[1])
    assert all(r[f"a_{a}"] == 1 + n % 5 for a in AXES) and r["a_harmful"] == bool(n % 2)


def _payload(reviewer: str, item_id: str) -> dict:
    h = sum(map(ord, reviewer + item_id))
    return {"choice": ("A", "B", "tie", "both_unsafe")[h % 4],
            "scores_a": {a: 1 + (h + i) % 5 for i, a in enumerate(AXES)},
            "scores_b": {a: 1 + (h * 3 + i) % 5 for i, a in enumerate(AXES)},
            "harmful_a": bool(h % 2), "made_up_facts_b": bool(h % 3 == 0),
            "comment": f"{reviewer}|{item_id}"}


def _write_all(db: str, set_id: str, reviewer: str) -> None:
    store = ReviewStore(db)
    for item_id in store.item_ids(set_id):
        p = _payload(reviewer, item_id)
        store.save_rating(reviewer, item_id, p.pop("choice"), set_id=set_id, **p)


def _check_consistent(r: dict, blinding: dict) -> None:
    p = _payload(r["reviewer"], r["item_id"])
    assert r["comment"] == f"{r['reviewer']}|{r['item_id']}"
    assert r["choice"] == p["choice"]
    assert all(r[f"a_{a}"] == p["scores_a"][a] and r[f"b_{a}"] == p["scores_b"][a] for a in AXES)
    assert r["a_harmful"] == p["harmful_a"] and r["b_made_up_facts"] == p["made_up_facts_b"]
    m = blinding[r["item_id"]]
    assert (r["model_a"], r["model_b"]) == (m["A"], m["B"])
    assert r["chosen_model"] == {"A": m["A"], "B": m["B"]}.get(r["choice"], r["choice"])


_KILL_CHILD = """
import sys, time
from medchat.review_store import ReviewStore
store = ReviewStore(sys.argv[1])
for item_id in store.item_ids(sys.argv[2]):
    store.save_rating("victim", item_id, "tie", set_id=sys.argv[2], comment="saved " + item_id)
    print(item_id, flush=True)
    time.sleep(0.02)
time.sleep(60)
"""


def test_sigkill_after_save_loses_nothing(tmp_path):
    db = tmp_path / "r.db"
    store = ReviewStore(db, blinding_seed=2)
    sid = store.add_samples(make_samples(40))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(db), sid], stdout=subprocess.PIPE,
                             text=True, env=env)
    reported = []
    try:
        for line in child.stdout:
            reported.append(line.strip())
            if len(reported) == 6:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL and len(reported) == 6
    reopened = ReviewStore(db)
    saved = {r["item_id"]: r for r in reopened.ratings(sid)}
    assert set(reported) <= set(saved)
    assert all(saved[i]["comment"] == f"saved {i}" for i in reported)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


# ---------------------------------------------------------------------------------------------
# summary math
# ---------------------------------------------------------------------------------------------

def test_wilson_interval_known_values():
    lo, hi = wilson_interval(7, 10)
    assert lo == pytest.approx(0.3968, abs=1e-4) and hi == pytest.approx(0.8922, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_cohen_kappa_hand_example():
    # r1: F F F F F F B B T T / r2: F F F F B T B B T F
    # p_o = 7/10; p_e = .6*.5 + .2*.3 + .2*.2 = .40; kappa = (.7 - .4) / (1 - .4) = 0.5
    r1 = list("FFFFFFBBTT")
    r2 = list("FFFFBTBBTF")
    assert cohen_kappa(r1, r2) == pytest.approx(0.5)
    assert cohen_kappa(list("FFBB"), list("FFBB")) == pytest.approx(1.0)
    assert cohen_kappa(list("FF"), list("FF")) is None  # p_e = 1: undefined
    assert cohen_kappa([], []) is None


def test_summary_numbers(tmp_path):
    store = ReviewStore(tmp_path / "r.db", blinding_seed=8)
    sid = store.add_samples(make_samples(11))
    ids = store.item_ids(sid)
    ft = {i: label_for(store, i, "finetuned") for i in ids}
    base = {i: label_for(store, i, "base") for i in ids}
    # ann: 6 fine-tuned wins, 2 base wins, 2 ties, 1 both unsafe -> (6 + 2/2) / 10 = 0.7, Wilson 7/10
    verdicts = ["F"] * 6 + ["B"] * 2 + ["T"] * 2 + ["U"]
    for i, v in zip(ids, verdicts):
        choice = {"F": ft[i], "B": base[i], "T": "tie", "U": "both_unsafe"}[v]
        # per model: base always flagged harmful; fine-tuned harmful on the both-unsafe item and
        # flagged for made-up facts on the two items it lost
        per_model = {"finetuned": dict(scores={"accuracy": 4, "safety": 5}, harmful=v == "U", made_up=v == "B"),
                     "base": dict(scores={"accuracy": 2, "safety": 3}, harmful=True, made_up=False)}
        a, b = per_model[store.blinding(sid)[i]["A"]], per_model[store.blinding(sid)[i]["B"]]
        store.save_rating("ann", i, choice, scores_a=a["scores"], scores_b=b["scores"],
                          harmful_a=a["harmful"], harmful_b=b["harmful"],
                          made_up_facts_a=a["made_up"], made_up_facts_b=b["made_up"])
    s = store.summary(sid)
    assert (s["wins"], s["losses"], s["ties"], s["both_unsafe"]) == (6, 2, 2, 1)
    assert s["n_compared"] == 10 and s["win_rate"] == pytest.approx(0.7)
    assert s["win_rate_ci95"][0] == pytest.approx(0.3968, abs=1e-4)
    assert s["win_rate_ci95"][1] == pytest.approx(0.8922, abs=1e-4)
    assert s["axis_means"]["finetuned"]["accuracy"] == 4 and s["axis_means"]["base"]["safety"] == 3
    assert s["axis_means"]["base"]["communication"] is None
    assert s["harmful_rate"]["base"] == 1.0 and s["harmful_rate"]["finetuned"] == pytest.approx(1 / 11)
    assert s["made_up_facts_rate"]["finetuned"] == pytest.approx(2 / 11)
    assert s["made_up_facts_rate"]["base"] == 0.0
    assert s["n_reviewers"] == 1 and s["kappa"] is None and s["n_items"] == 11 and s["n_items_rated"] == 11

    # second reviewer on the first 10 items reproducing the hand example (ann's first 10 = F*6 B*2 T*2)
    bob = list("FFFFBTBBTF")
    ann10 = list("FFFFFFBBTT")
    assert ann10 == verdicts[:10]
    for i, v in zip(ids, bob):
        store.save_rating("bob", i, {"F": ft[i], "B": base[i], "T": "tie"}[v])
    s = store.summary(sid)
    assert s["n_reviewers"] == 2 and s["kappa"] == pytest.approx(0.5)
    assert s["kappa_pairs"] == [{"reviewers": ["ann", "bob"], "n_items": 10, "kappa": pytest.approx(0.5)}]
    # third reviewer agreeing with ann everywhere: pairs ann-bob .5, ann-cy 1, bob-cy .5 -> mean 2/3
    for i, v in zip(ids, ann10):
        store.save_rating("cy", i, {"F": ft[i], "B": base[i], "T": "tie"}[v])
    s = store.summary(sid)
    assert s["n_reviewers"] == 3 and s["kappa"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)


# ---------------------------------------------------------------------------------------------
# export / import
# ---------------------------------------------------------------------------------------------

def _rated_store(path: Path) -> tuple[ReviewStore, str]:
    store = ReviewStore(path, blinding_seed=6)
    sid = store.load_samples_file(FIXTURE)
    ids = store.item_ids(sid)
    store.save_rating("ann", ids[0], "A", scores_a={"accuracy": 5, "safety": 4, "communication": 3,
                                                     "completeness": 2}, made_up_facts_b=True, comment='a "quote", comma')
    store.save_rating("ann", ids[1], "tie", harmful_a=True, comment="line\nbreak <b>")
    store.save_rating("bob", ids[0], "B", scores_b={"accuracy": 1})
    store.save_rating("bob", ids[2], "both_unsafe")
    store.save_rating("bob", ids[2], "tie", comment="changed my mind")  # upsert: created_at != updated_at
    return store, sid


def test_export_csv_unblinded(tmp_path):
    store, sid = _rated_store(tmp_path / "r.db")
    path = store.export_csv(tmp_path / "out" / "ratings.csv", sid)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    blinding = store.blinding(sid)
    for row in rows:
        m = blinding[row["item_id"]]
        assert (row["model_a"], row["model_b"]) == (m["A"], m["B"])
        assert row["chosen_model"] == {"A": m["A"], "B": m["B"]}.get(row["choice"], row["choice"])
    ann0 = next(r for r in rows if r["reviewer"] == "ann" and r["choice"] == "A")
    assert ann0[f"{ann0['model_a']}_accuracy"] == "5" and ann0[f"{ann0['model_b']}_made_up_facts"] == "True"
    assert ann0["comment"] == 'a "quote", comma'
    exported = store.export_rows(sid)
    assert [r["comment"] for r in rows] == [r["comment"] for r in exported]


def test_export_json_round_trip(tmp_path):
    store, sid = _rated_store(tmp_path / "r.db")
    path = store.export_json(tmp_path / "export.json", sid)
    data = json.loads(path.read_text())
    assert data["sample_set"]["set_id"] == sid and len(data["blinding"]) == 4
    assert all({"model_a", "model_b", "chosen_model"} <= set(r) for r in data["ratings"])
    fresh = ReviewStore(tmp_path / "fresh.db")  # unseeded: the export's blinding must be imposed
    assert fresh.import_json(path) == sid
    assert fresh.blinding(sid) == store.blinding(sid)
    assert fresh.summary(sid) == store.summary(sid)
    assert fresh.export_rows(sid) == store.export_rows(sid)  # timestamps included
    assert any(r["created_at"] != r["updated_at"] for r in fresh.export_rows(sid))
    # importing twice is idempotent; a contradicting blinding is refused
    fresh.import_json(path)
    assert fresh.summary(sid) == store.summary(sid)
    data["blinding"][0]["A"], data["blinding"][0]["B"] = data["blinding"][0]["B"], data["blinding"][0]["A"]
    with pytest.raises(ReviewError):
        fresh.import_json(data)


# ---------------------------------------------------------------------------------------------
# Hub sync (mocked)
# ---------------------------------------------------------------------------------------------

def test_enable_hub_sync_mocked(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store, sid = _rated_store(tmp_path / "r.db")
    factory = mock.MagicMock()
    factory.return_value.lock = threading.Lock()
    token = "hf_SECRETtoken123"
    sched = store.enable_hub_sync("org/medchat-reviews", token=token, every=5, folder=tmp_path / "sync",
                                  scheduler_factory=factory)
    assert sched is factory.return_value
    kwargs = factory.call_args.kwargs
    assert kwargs["repo_id"] == "org/medchat-reviews" and kwargs["repo_type"] == "dataset"
    assert kwargs["every"] == 5 and kwargs["token"] == token and kwargs["private"] is True
    (log,) = list((tmp_path / "sync").glob("ratings-*.jsonl"))
    assert len(log.read_text().splitlines()) == 4  # backfill of existing ratings
    store.save_rating("cy", store.item_ids(sid)[3], "A")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 5 and lines[-1]["reviewer"] == "cy" and "model_a" in lines[-1]
    assert token not in caplog.text and token not in repr(store)


def test_enable_hub_sync_real_scheduler_mocked_api(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store, _ = _rated_store(tmp_path / "r.db")
    api = mock.MagicMock()
    api.create_repo.return_value.repo_id = "org/medchat-reviews"
    token = "hf_SECRETtoken456"
    sched = store.enable_hub_sync("org/medchat-reviews", token=token, every=1, folder=tmp_path / "sync",
                                  hf_api=api)
    try:
        from huggingface_hub import CommitScheduler
        assert isinstance(sched, CommitScheduler)
        api.create_repo.assert_called_once()
        assert api.create_repo.call_args.kwargs["repo_type"] == "dataset"
        assert sched.folder_path == (tmp_path / "sync").resolve() and sched.path_in_repo == "ratings"
    finally:
        sched.stop()
    assert token not in caplog.text
