"""Review tab: access control, view logic (blinding never shown, ratings restored), summary text, wiring."""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pytest  # noqa: E402

from tests.conftest import free_port  # noqa: E402

from medchat.review_store import ReviewError, ReviewStore  # noqa: E402
from medchat.review_ui import (  # noqa: E402
    RATING_FIELDS,
    VIEW_FIELDS,
    AccessDenied,
    ReviewAccess,
    build_review_demo,
    build_review_tab,
    item_view,
    md_escape,
    navigate,
    save_action,
    summary_markdown,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "samples_small.jsonl"
# Gradio's own queue code trips pandas deprecation warnings; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


def profile(username: str) -> gr.OAuthProfile:
    return gr.OAuthProfile({"name": username.title(), "preferred_username": username,
                            "profile": f"https://huggingface.co/{username}", "picture": ""})


@pytest.fixture(autouse=True)
def _no_failed_code_delay(monkeypatch):
    monkeypatch.setattr("medchat.review_ui._FAILED_CODE_DELAY_S", 0)


@pytest.fixture()
def store(tmp_path):
    s = ReviewStore(tmp_path / "review.db", blinding_seed=21)
    s.load_samples_file(FIXTURE)
    return s


def test_access_from_env():
    open_ = ReviewAccess.from_env({})
    assert open_.is_open and open_.authorize(" Dr  Who ") == "Dr Who"
    with pytest.raises(ReviewError):
        open_.authorize("")
    code = ReviewAccess.from_env({"MEDCHAT_REVIEW_CODE": "s3cret"})
    assert code.requires_code and not code.requires_login
    assert "s3cret" not in repr(code) and "s3cret" not in code.describe()
    assert code.authorize("ann", "s3cret") == "ann"
    with pytest.raises(AccessDenied):
        code.authorize("ann", "wrong")
    hf = ReviewAccess.from_env({"MEDCHAT_REVIEWERS": "Alice, bob ,", "SPACE_ID": "org/space"})
    assert hf.reviewers == {"alice", "bob"} and hf.on_space
    assert hf.authorize("typed name ignored", None, profile("alice")) == "alice"
    with pytest.raises(AccessDenied, match="Sign in"):
        hf.authorize("alice", None, None)
    with pytest.raises(AccessDenied, match="not on the reviewer list"):
        hf.authorize("mallory", None, profile("mallory"))
    both = ReviewAccess.from_env({"MEDCHAT_REVIEWERS": "alice", "MEDCHAT_REVIEW_CODE": "c", "SPACE_ID": "x"})
    with pytest.raises(AccessDenied):
        both.authorize(None, "nope", profile("alice"))
    assert both.authorize(None, "c", profile("alice")) == "alice"
    # off a Space the allow-list cannot be checked: locked, never open
    local = ReviewAccess.from_env({"MEDCHAT_REVIEWERS": "alice"})
    assert not local.is_open and "locked" in local.describe()
    with pytest.raises(AccessDenied, match="only on a Space"):
        local.authorize("alice", None, profile("alice"))


def test_item_view_is_blinded_and_escaping_is_left_to_textboxes(store):
    view = item_view(store, store.current_set_id, "ann", 1)
    assert set(view) == set(VIEW_FIELDS)
    item = store.items()[1]
    mapping = store.blinding()[item["id"]]
    assert view["reply_a"] == item["replies"][mapping["A"]] and view["reply_b"] == item["replies"][mapping["B"]]
    assert "<script>" in view["patient"]  # shown verbatim in a read-only Textbox, never as HTML
    text = " ".join(str(v) for v in view.values())
    assert "finetuned" not in text and "base" not in text.replace("database", "")
    assert view["progress"].endswith("item 2 of 4 · 0 rated")
    assert view["choice"] is None and all(view[f] in (None, False) for f in RATING_FIELDS)


def test_save_then_revisit_restores_and_navigation(store):
    sid = store.current_set_id
    with pytest.raises(ReviewError, match="Choose"):
        save_action(store, sid, "ann", 0, None, {}, "")
    values = {f: (False if "harmful" in f or "made_up" in f else None) for f in RATING_FIELDS}
    values |= {"a_accuracy": 4, "b_safety": 2, "b_harmful": True}
    assert save_action(store, sid, "ann", 0, "B", values, "fine") == "Saved item 1."
    view = navigate(store, sid, "ann", 0, "next")
    assert view["index"] == 1 and view["choice"] is None and "1 rated" in view["progress"]
    back = navigate(store, sid, "ann", 1, "prev")
    assert back["index"] == 0 and back["choice"] == "B" and back["a_accuracy"] == 4
    assert back["b_harmful"] is True and back["comment"] == "fine" and "this item is saved" in back["progress"]
    assert navigate(store, sid, "ann", 3, "first_unrated")["index"] == 1
    assert navigate(store, sid, "ann", 3, "next")["status"] == "This is the last item."
    # resume: a returning reviewer lands on the first unrated item
    resume = navigate(store, sid, "ann", 0, "resume")
    assert resume["index"] == 1 and "Welcome back" in resume["status"]
    other = navigate(store, sid, "bob", 0, "resume")
    assert other["index"] == 0 and other["choice"] is None  # ratings never leak across reviewers


def test_summary_markdown(store):
    sid = store.current_set_id
    ids = store.item_ids(sid)
    for i in ids[:3]:
        store.save_rating("ann", i, "A" if store.blinding()[i]["A"] == "finetuned" else "B", scores_a={"accuracy": 5})
    store.save_rating("<b>x</b>", ids[0], "tie")
    md = summary_markdown(store.summary(sid), "s.jsonl")
    assert "**4 ratings** by 2 reviewers · 3 of 4 items rated" in md
    assert "win rate vs base: 0.88" in md and "Wilson" in md
    assert "<b>" not in md
    assert md_escape("<script>alert(1)</script> *x*") == r"&lt;script&gt;alert\(1\)&lt;/script&gt; \*x\*"


def test_tab_builds_in_each_access_mode(store, monkeypatch):
    for access in (ReviewAccess(), ReviewAccess(code="c")):
        with gr.Blocks() as demo:
            with gr.Tab("Review"):
                tab = build_review_tab(store, str(FIXTURE), access)
        assert tab.default_set_id == store.current_set_id and "login" not in tab.components
        assert tab.components["code"].visible is access.requires_code
        assert tab.components["reference"].interactive is False
        assert not demo.expects_oauth
    # on a Space with an allow-list: a LoginButton (OAuth routes are Gradio's business; stubbed here)
    monkeypatch.setattr("gradio.routes.attach_oauth", lambda app: None)
    monkeypatch.setattr("medchat.review_ui.oauth_available", lambda: True)
    with gr.Blocks() as demo:
        tab = build_review_tab(store, None, ReviewAccess(reviewers=frozenset({"alice"}), on_space=True))
    assert isinstance(tab.components["login"], gr.LoginButton) and demo.expects_oauth
    assert tab.components["reviewer"].interactive is False
    # a broken default samples file does not break the app
    with gr.Blocks():
        tab = build_review_tab(store, str(FIXTURE.parent / "missing.jsonl"), ReviewAccess())
    assert tab.default_set_id is None and "not found" in tab.load_message


def test_server_enforces_access_code(store):
    from gradio_client import Client

    demo = build_review_demo(store, str(FIXTURE), ReviewAccess(code="letmein"))
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        with pytest.raises(Exception, match="access code"):
            client.predict("ann", "wrong", api_name="/review_start")
        out = client.predict("ann", "letmein", api_name="/review_start")
        assert out[0] == "ann" and "item 1 of 4" in out[1]
        ratings = [None] * 8 + [False] * 4
        with pytest.raises(Exception, match="access code"):
            client.predict("wrong", "A", "", *ratings, api_name="/review_save")
        assert store.ratings() == []
        client.predict("letmein", "A", "ok", *ratings, api_name="/review_save")
        (saved,) = store.ratings()
        assert saved["reviewer"] == "ann" and saved["comment"] == "ok"
        with pytest.raises(Exception, match="access code"):
            client.predict("", api_name="/review_export_json")
    finally:
        demo.close()


def test_cli_main_builds_and_launches(tmp_path, monkeypatch):
    from medchat import review_ui

    launched = {}

    def fake_launch(self, **kwargs):
        launched.update(kwargs, blocks=self)

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.delenv("MEDCHAT_REVIEWERS", raising=False)
    monkeypatch.delenv("MEDCHAT_REVIEW_CODE", raising=False)
    review_ui.main(["--samples", str(FIXTURE), "--db", str(tmp_path / "cli.db"), "--port", "7999"])
    assert launched["server_port"] == 7999 and launched["server_name"] == "127.0.0.1"
    assert isinstance(launched["blocks"], gr.Blocks)
    assert ReviewStore(tmp_path / "cli.db").sample_sets()[0].n_items == 4


def test_error_toasts_are_escaped(store, tmp_path):
    from medchat.review_store import SampleValidationError
    from medchat.review_ui import _error

    bad = tmp_path / "<img src=x onerror=alert(1)>.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(SampleValidationError) as err:
        store.load_samples_file(bad)
    msg = _error(str(err.value)).message
    assert "<img" not in msg and "&lt;img" in msg and "line 1" in msg


def test_review_access_on_a_space_needs_sign_in_unless_the_operator_opts_out():
    space = ReviewAccess.from_env({"SPACE_ID": "org/medchat"})
    assert space.requires_login and not space.is_open and "sign in with Hugging Face" in space.describe()
    with pytest.raises(AccessDenied, match="Sign in"):
        space.authorize("ann", None, None)
    assert space.authorize("typed", None, profile("anyone")) == "anyone"  # any signed-in user, no allow-list
    assert ReviewAccess.from_env({"SPACE_ID": "org/medchat", "MEDCHAT_REVIEW_OPEN": "1"}).is_open
    code_only = ReviewAccess.from_env({"SPACE_ID": "org/medchat", "MEDCHAT_REVIEW_CODE": "c"})
    assert code_only.requires_code and not code_only.requires_login
    assert ReviewAccess.from_env({}).is_open  # local use stays open


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_review_load_reads_only_allowed_files_and_refuses_all_else_alike(tmp_path):
    """Issue 17 probes through the real API: `/dev/zero` grew the app by GBs, and the answers told which files
    exist. Now every path outside the allowed places gets one and the same answer, fast, without reading it."""
    import shutil
    import time

    from gradio_client import Client, handle_file

    from medchat.review_ui import SampleSources

    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "good.jsonl").write_text("".join(FIXTURE.read_text().splitlines(keepends=True)[:2]))
    (folder / "broken.jsonl").write_text("{not json}\n")
    outside = tmp_path / "outside.jsonl"
    shutil.copy(FIXTURE, outside)  # a valid samples file, but outside the folder
    (folder / "passwd.jsonl").symlink_to("/etc/passwd")
    (folder / "zero.jsonl").symlink_to("/dev/zero")
    (folder / "out.jsonl").symlink_to(outside)
    with open(folder / "huge.jsonl", "wb") as handle:  # sparse: 8 GB on paper, nothing on disk
        handle.truncate(8 * 2**30)
    default = tmp_path / "defaults" / "default.jsonl"
    default.parent.mkdir()
    shutil.copy(FIXTURE, default)
    sources = SampleSources(default_file=default, folder=folder, max_bytes=64 * 1024)
    big_upload = tmp_path / "big.jsonl"
    big_upload.write_bytes(b"x" * (sources.max_bytes + 1))

    store = ReviewStore(tmp_path / "review.db", blinding_seed=3)
    demo = build_review_demo(store, str(default), ReviewAccess(), sources)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        assert client.predict("good.jsonl", "", None, api_name="/review_load")[0]  # a set id
        assert client.predict("default.jsonl", "", None, api_name="/review_load")[0]  # the configured file
        with pytest.raises(Exception, match="broken.jsonl line 1: invalid JSON"):  # an allowed file: details help
            client.predict("broken.jsonl", "", None, api_name="/review_load")

        rss_before, started = _rss_mib(), time.monotonic()
        probes = ["/dev/zero", "/etc/passwd", "/etc/shadow", "/nonexistent.jsonl", str(outside), "../outside.jsonl",
                  "good.jsonl/../../outside.jsonl", "../../../../etc/passwd", "passwd.jsonl", "zero.jsonl",
                  "out.jsonl", "huge.jsonl", "missing.jsonl", ".", "", "a\x00b", str(folder), str(default.parent)]
        answers = set()
        for probe in probes:
            with pytest.raises(Exception) as refused:
                client.predict(probe, "", None, api_name="/review_load")
            answers.add(str(refused.value))
        with pytest.raises(Exception) as refused:
            client.predict(handle_file(str(big_upload)), "", None, api_name="/review_upload")
        answers.add(str(refused.value))
        elapsed, grown = time.monotonic() - started, _rss_mib() - rss_before
    finally:
        demo.close()
    assert len(answers) == 1, answers  # not one word about which files exist or what they hold
    (answer,) = answers
    assert sources.refusal in answer and "not found" not in answer and "JSON" not in answer
    assert elapsed < 30 and grown < 100, (elapsed, grown)
    assert {s.name for s in store.sample_sets()} == {"good.jsonl", "default.jsonl"}  # nothing else was loaded


def test_only_files_gradio_received_count_as_uploads(tmp_path):
    from gradio.utils import get_upload_folder

    from medchat.review_ui import SampleRefused, SampleSources

    sources = SampleSources()
    for path in ("/etc/passwd", "/dev/zero", str(tmp_path / "x.jsonl"), f"{get_upload_folder()}/../../etc/passwd"):
        with pytest.raises(SampleRefused):
            sources.resolve_upload(path)
    inside = Path(get_upload_folder()) / "abc" / "s.jsonl"
    assert sources.resolve_upload(str(inside)) == inside.resolve()
    with pytest.raises(SampleRefused):  # no folder configured: only the configured file loads by name
        SampleSources(default_file=FIXTURE).resolve("samples_small.jsonl/../x")
    assert SampleSources(default_file=FIXTURE).resolve("samples_small.jsonl") == FIXTURE.resolve()


def test_on_a_space_loading_needs_sign_in_first(store, monkeypatch):
    from gradio_client import Client

    monkeypatch.setattr("gradio.routes.attach_oauth", lambda app: None)  # OAuth routes are Gradio's business
    demo = build_review_demo(store, str(FIXTURE), ReviewAccess.from_env({"SPACE_ID": "org/medchat"}))
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        for probe in ("/dev/zero", "samples_small.jsonl"):
            with pytest.raises(Exception, match="Sign in with Hugging Face"):
                client.predict(probe, "", None, api_name="/review_load")
        with pytest.raises(Exception, match="Sign in with Hugging Face"):
            client.predict("ann", "", api_name="/review_start")
    finally:
        demo.close()
