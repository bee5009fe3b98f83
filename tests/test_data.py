"""medchat.data on the small fixtures in tests/fixtures/data_* (rows written for these tests)."""

import json
import random
from pathlib import Path

import pytest

from medchat import data as data_mod
from medchat.boilerplate import impersonation_findings
from medchat.data import (
    COLUMNS,
    DEFAULT_SYSTEM_PROMPT,
    DataRecipe,
    DataValidationError,
    build_splits,
    normalize_patient_text,
    rewrite_medquad_question,
    trim_answer,
)

FIX = Path(__file__).parent / "fixtures"
QUIET = dict(log=lambda *a, **k: None)


def recipe(**kw) -> DataRecipe:
    kw.setdefault("min_reply_words", 10)
    return DataRecipe(**kw)


def all_rows(splits):
    return list(splits.train) + list(splits.eval)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --------------------------------------------------------------------------------------
# Loading and column mapping
# --------------------------------------------------------------------------------------
def test_jsonl_dialogue_columns_and_shape():
    s = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=0.3), **QUIET)
    rows = all_rows(s)
    assert s.train.column_names == list(COLUMNS) and s.eval.column_names == list(COLUMNS)
    assert len(rows) == s.report["train_rows"] + s.report["eval_rows"] == 8
    for r in rows:
        roles = [m["role"] for m in r["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert r["messages"][0]["content"] == DEFAULT_SYSTEM_PROMPT
        assert r["messages"][-1]["content"] == r["reference"]
        assert r["patient"] in r["messages"][1]["content"]
        assert r["source"] == "data_dialogues"
        assert "url" not in r  # extra column ignored
        assert impersonation_findings(r["reference"]) == []
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)


def test_description_prepended_only_when_it_adds_something():
    s = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=0.0), **QUIET)
    by_patient = {r["patient"][:20]: r for r in s.train}
    ibu = by_patient["I am 20 weeks pregna"]
    assert ibu["messages"][1]["content"].startswith("Is it safe to take ibuprofen during pregnancy?\n\nI am 20 weeks")
    # "Sore throat and fever" is already the start of the patient text
    sore = by_patient["Sore throat and feve"]
    assert sore["messages"][1]["content"] == sore["patient"]
    assert sore["description"] == "Sore throat and fever"
    s2 = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=0.0, use_description=False), **QUIET)
    assert all(r["messages"][1]["content"] == r["patient"] for r in s2.train)


def test_csv_case_insensitive_columns_extra_ignored():
    s = build_splits(str(FIX / "data_dialogues.csv"), recipe(eval_fraction=0.0), **QUIET)
    assert s.report["rows_read"] == 3 and s.report["format"] == "dialogue"
    assert len(s.train) == 3
    mole = next(r for r in s.train if "mole" in r["patient"])
    assert "Farah Khan" not in mole["reference"] and "melanoma" in mole["reference"]
    child = next(r for r in s.train if "4 year old" in r["patient"])
    assert child["description"] == "" and child["messages"][1]["content"] == child["patient"]


def test_parquet_without_description():
    s = build_splits(str(FIX / "data_dialogues.parquet"), recipe(eval_fraction=0.0), **QUIET)
    assert len(s.train) == 2
    assert all(r["description"] == "" for r in s.train)


def test_jsonl_gz_and_json_list(tmp_path):
    import gzip

    src = (FIX / "data_dialogues.jsonl").read_text()
    gz = tmp_path / "rows.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(src)
    js = tmp_path / "rows.json"
    js.write_text(json.dumps([json.loads(line) for line in src.splitlines()]))
    a = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(), **QUIET)
    for path in (gz, js):
        b = build_splits(str(path), recipe(), **QUIET)
        assert list(b.train["id"]) == list(a.train["id"]) and list(b.eval["id"]) == list(a.eval["id"])


def test_messages_format_drops_data_system_and_cleans_every_turn():
    s = build_splits(str(FIX / "data_messages.jsonl"), recipe(eval_fraction=0.0, system_prompt="SYS"), **QUIET)
    rows = {r["patient"][:12]: r for r in s.train}
    heart = rows["I have had h"]
    assert heart["messages"][0] == {"role": "system", "content": "SYS"}
    assert all(m["content"] != "You are a site bot." for m in heart["messages"])
    assert heart["reference"].startswith("Heartburn after meals")  # "Thanks for your query." cut
    assert not heart["reference"].endswith("Take care.")
    multi = rows["Mine is 110 "]
    assert [m["role"] for m in multi["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert multi["patient"].startswith("Mine is 110")  # the turn the reference answers


def test_empty_system_prompt_means_no_system_message():
    s = build_splits(str(FIX / "data_messages.jsonl"), recipe(eval_fraction=0.0, system_prompt=""), **QUIET)
    assert all(r["messages"][0]["role"] == "user" for r in s.train)


def test_hub_id_uses_load_dataset(monkeypatch):
    import datasets

    calls = {}
    rows = [json.loads(line) for line in (FIX / "data_dialogues.jsonl").read_text().splitlines()]

    def fake_load_dataset(name, split=None, **kw):
        calls["args"] = (name, split)
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    s = build_splits(None, recipe(dataset="someone/medical-dialogues", dataset_split="train", max_rows=5), **QUIET)
    assert calls["args"] == ("someone/medical-dialogues", "train")
    assert s.report["rows_read"] == 5
    assert s.report["source"] == "someone/medical-dialogues (split train)"
    assert {r["source"] for r in all_rows(s)} == {"someone/medical-dialogues"}


def test_missing_local_file_is_clear():
    with pytest.raises(FileNotFoundError, match="no_such.jsonl"):
        build_splits("no_such.jsonl", recipe(), **QUIET)


def test_no_supported_columns(tmp_path):
    p = write_jsonl(tmp_path / "weird.jsonl", [{"title": "a", "body": "b"}])
    with pytest.raises(DataValidationError, match=r"weird\.jsonl.*no supported columns.*body, title"):
        build_splits(str(p), recipe(), **QUIET)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fixture_lines, row, field, problem",
    [
        ([0, 1], 2, "Doctor", "missing"),
        ([0, 2], 2, "Patient", "empty"),
        ([0, 4], 2, "Doctor", "expected text, got int"),
        ([0, 5], 2, None, "invalid JSON"),
    ],
)
def test_validation_errors_name_file_row_field(tmp_path, fixture_lines, row, field, problem):
    lines = (FIX / "data_bad_rows.jsonl").read_text().splitlines()
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines[i] for i in fixture_lines) + "\n")
    with pytest.raises(DataValidationError) as exc:
        build_splits(str(p), recipe(), **QUIET)
    e = exc.value
    assert e.row == row and e.field == field
    msg = str(e)
    assert str(p) in msg and f"row {row}" in msg and problem in msg and "--skip_bad_rows" in msg
    if field:
        assert f"field '{field}'" in msg


def test_row_numbers_are_file_lines_with_blank_lines():
    with pytest.raises(DataValidationError) as exc:
        build_splits(str(FIX / "data_bad_rows.jsonl"), recipe(), **QUIET)
    assert exc.value.row == 2  # first bad row
    # the non-string Doctor is on line 5 (line 4 is blank)
    lines = (FIX / "data_bad_rows.jsonl").read_text().splitlines()
    assert lines[3] == "" and '"Doctor": 12345' in lines[4]


def test_skip_bad_rows_counts_reasons_and_keeps_the_rest():
    s = build_splits(str(FIX / "data_bad_rows.jsonl"), recipe(skip_bad_rows=True, eval_fraction=0.0), **QUIET)
    rep = s.report
    assert rep["rows_read"] == 6  # blank line not a row
    assert rep["bad_rows_skipped"] == 4
    assert rep["bad_row_reasons"] == {
        "field 'Doctor': missing": 1,
        "field 'Patient': empty": 1,
        "field 'Doctor': expected text, got int": 1,
        "invalid JSON (Expecting ',' delimiter)": 1,
    }
    assert len(s.train) == 2 and rep["kept"] == 2


def test_every_bad_row_is_reported_at_once_with_its_number_and_field():
    with pytest.raises(DataValidationError) as exc:
        build_splits(str(FIX / "data_bad_rows.jsonl"), recipe(), **QUIET)
    lines = str(exc.value).splitlines()
    assert lines[0].endswith("data_bad_rows.jsonl: 4 bad rows:")
    assert lines[1:5] == ["  field 'Doctor': missing: row 2", "  field 'Patient': empty: row 3",
                          "  field 'Doctor': expected text, got int: row 5",
                          "  invalid JSON (Expecting ',' delimiter): row 6"]
    assert "--skip_bad_rows" in lines[5]
    assert [e.row for e in exc.value.errors] == [2, 3, 5, 6]


def test_skip_report_lists_the_row_numbers(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="medchat.data"):
        s = build_splits(str(FIX / "data_bad_rows.jsonl"), recipe(skip_bad_rows=True, eval_fraction=0.0))
    assert s.report["bad_row_numbers"] == {
        "field 'Doctor': missing": [2], "field 'Patient': empty": [3],
        "field 'Doctor': expected text, got int": [5], "invalid JSON (Expecting ',' delimiter)": [6]}
    assert "skipped 4 bad rows: field 'Doctor': missing: rows 2;" in caplog.text


def test_wrong_columns_do_not_suggest_skipping(tmp_path):
    p = write_jsonl(tmp_path / "cols.jsonl", [{"question_text": "a", "reply": "b"}] * 3)
    with pytest.raises(DataValidationError) as exc:
        build_splits(str(p), recipe(skip_bad_rows=True), **QUIET)
    assert "no supported columns" in str(exc.value) and "skip" not in str(exc.value)
    assert exc.value.fixable_by_skipping is False


def test_python_m_train_exits_2_with_the_data_message_and_no_traceback(tmp_path, capsys):
    from train.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(Path(__file__).parents[1] / "train/configs/smoke.yaml"), "--dataset",
              str(FIX / "data_bad_rows.jsonl"), "--output_dir", str(tmp_path / "run")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "4 bad rows" in err and "row 6" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "adapter").exists()


@pytest.mark.parametrize(
    "line, row, field, problem",
    [(1, 2, "messages[1].role", "unknown role 'doctor'"), (2, 2, "messages", "must end with an assistant turn")],
)
def test_messages_validation(tmp_path, line, row, field, problem):
    # each error on its own file: the good first row, then the bad one
    lines = (FIX / "data_bad_messages.jsonl").read_text().splitlines()
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join([lines[0], lines[line]]) + "\n")
    with pytest.raises(DataValidationError) as exc:
        build_splits(str(p), recipe(), **QUIET)
    assert exc.value.row == row and exc.value.field == field and problem in str(exc.value)


def test_messages_skip_bad_rows():
    s = build_splits(str(FIX / "data_bad_messages.jsonl"), recipe(skip_bad_rows=True, eval_fraction=0), **QUIET)
    assert s.report["bad_rows_skipped"] == 2 and len(s.train) == 1


def test_csv_row_numbers(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("Patient,Doctor\nI have a cough for two days and a mild fever,Rest and drink fluids.\n,Some reply\n")
    with pytest.raises(DataValidationError, match=r"x\.csv: 1 bad row:\n  field 'Patient': missing or empty.*: row 2"):
        build_splits(str(p), recipe(), **QUIET)


# --------------------------------------------------------------------------------------
# Cleaning and report
# --------------------------------------------------------------------------------------
def test_cleaning_rules_and_report_counts():
    # dosing sentences are the subject of tests/test_dosing.py; here the boilerplate rules alone
    s = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=0.3, strip_dosing=False), **QUIET)
    rep = s.report
    assert rep["rows_read"] == 12
    assert rep["dropped"] == {
        "empty_after_cleaning": 0,
        "mostly_boilerplate": 2,  # knee reply, "one beer is fine"
        "impersonation": 0,
        "too_short": 0,
        "truncated": 1,  # "... such as"
        "duplicate": 1,
    }
    assert rep["duplicates"] == 1
    assert rep["kept"] == 8 == rep["train_rows"] + rep["eval_rows"]
    assert rep["rows_read"] == rep["bad_rows_skipped"] + rep["kept"] + sum(rep["dropped"].values())
    removed = rep["boilerplate_removed"]
    for rule in ("greeting", "site_welcome", "thanks_opener", "query_review", "closer", "signature", "signoff",
                 "contact_ad"):
        assert removed.get(rule, 0) >= 1, rule
    refs = " ".join(r["reference"] for r in all_rows(s))
    for gone in ("HealthcareMagic", "HCM", "Regards", "Dr.", "Hope I have answered", "revert", "link below"):
        assert gone not in refs
    # medical content survives
    for kept in ("allergic contact dermatitis", "Paracetamol 500 mg", "levothyroxine", "call emergency services",
                 "dawn phenomenon"):
        assert kept in refs


def test_too_short_and_truncated_switches(tmp_path):
    rows = [
        {"Patient": "Can I take paracetamol with ibuprofen for a fever?", "Doctor": "Yes, you can alternate them."},
        {"Patient": "My child has had a cough for a week, what should I do?",
         "Doctor": "A cough for a week in a child is usually viral. Give fluids and honey if over one year, and see"
                   " a doctor if the breathing is fast or the fever is high, or if"},
    ]
    p = write_jsonl(tmp_path / "t.jsonl", rows)
    s = build_splits(str(p), recipe(min_reply_words=10), **QUIET)
    assert s.report["dropped"]["too_short"] == 1 and s.report["dropped"]["truncated"] == 1
    s = build_splits(str(p), recipe(min_reply_words=0, drop_truncated=False, eval_fraction=0), **QUIET)
    assert len(s.train) == 2


def test_clean_boilerplate_off_keeps_reply_verbatim(tmp_path):
    reply = "Hi, welcome to HCM. Rest the ankle and use ice for two days, then start gentle walking. Regards, Dr. X"
    p = write_jsonl(tmp_path / "r.jsonl", [{"Patient": "I twisted my ankle yesterday.", "Doctor": reply}])
    s = build_splits(str(p), recipe(clean_boilerplate=False, eval_fraction=0), **QUIET)
    assert s.train[0]["reference"] == reply
    assert s.report["boilerplate_removed"] == {}


def test_impersonation_left_after_cleaning_is_dropped(tmp_path):
    reply = ("Rest the ankle and use ice for two days. Dr. Kumar at the city hospital treats such sprains with a "
             "brace for three weeks, then physiotherapy.")
    p = write_jsonl(tmp_path / "i.jsonl", [{"Patient": "I twisted my ankle yesterday.", "Doctor": reply}])
    s = build_splits(str(p), recipe(), **QUIET)
    assert s.report["dropped"]["impersonation"] == 1 and s.report["kept"] == 0


# --------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------
def _many_rows(n=120):
    rng = random.Random(0)
    rows = []
    for i in range(n):
        q = f"I have had a {rng.choice(['dry', 'wet', 'barking'])} cough for {i} days and mild fever."
        rows.append({"Patient": q, "Doctor": f"A cough for {i} days with mild fever is usually viral. Drink fluids, "
                                              f"rest, and see a doctor if you get short of breath or it lasts."})
        if i % 10 == 0:  # near-identical duplicate patient text (case, punctuation, spacing), other reply
            rows.append({"Patient": q.upper().replace(",", "").replace(".", "!!") + "  ",
                         "Doctor": f"Cough for {i} days: fluids, honey and rest; see a doctor if breathing is hard."})
    return rows


def test_split_is_leak_free_and_order_independent(tmp_path):
    rows = _many_rows()
    a = write_jsonl(tmp_path / "a.jsonl", rows)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    b = write_jsonl(tmp_path / "b.jsonl", shuffled)
    sa = build_splits(str(a), recipe(eval_fraction=0.2), **QUIET)
    sb = build_splits(str(b), recipe(eval_fraction=0.2), **QUIET)
    train_keys = {normalize_patient_text(p) for p in sa.train["patient"]}
    eval_keys = {normalize_patient_text(p) for p in sa.eval["patient"]}
    assert train_keys and eval_keys and not (train_keys & eval_keys)
    assert 0.1 < len(sa.eval) / (len(sa.train) + len(sa.eval)) < 0.3
    # same rows, same order, same ids regardless of the input order
    assert list(sa.train["id"]) == list(sb.train["id"]) and list(sa.eval["id"]) == list(sb.eval["id"])
    assert list(sa.train["reference"]) == list(sb.train["reference"])
    # the near-duplicates (12 pairs) share a side and an id prefix
    assert sum("-" in i for i in list(sa.train["id"]) + list(sa.eval["id"])) == 24
    # another seed gives another split
    sc = build_splits(str(a), recipe(eval_fraction=0.2, split_seed=7), **QUIET)
    assert set(sc.eval["id"]) != set(sa.eval["id"])


def test_eval_max_rows_returns_rest_to_train(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", _many_rows())
    full = build_splits(str(p), recipe(eval_fraction=0.3), **QUIET)
    capped = build_splits(str(p), recipe(eval_fraction=0.3, eval_max_rows=10), **QUIET)
    assert len(capped.eval) <= 10 and len(capped.eval) >= 9  # never splits a patient group
    assert len(capped.train) + len(capped.eval) == len(full.train) + len(full.eval)
    assert capped.report["eval_capped_to_train"] == len(full.eval) - len(capped.eval)
    assert set(capped.eval["id"]) <= set(full.eval["id"])
    tk = {normalize_patient_text(x) for x in capped.train["patient"]}
    assert not tk & {normalize_patient_text(x) for x in capped.eval["patient"]}


# --------------------------------------------------------------------------------------
# MedQuAD and mixing
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, expected_any",
    [
        ("What is (are) Gout ?", ["Can you explain what Gout is?", "What is Gout? I'd like to understand it.",
                                  "Could you tell me what Gout is?"]),
        ("What are the symptoms of Lyme disease ?", ["Lyme disease"]),
        ("Is Huntington disease inherited ?", ["inherited", "passed down"]),
        ("How many people are affected by celiac disease ?", ["celiac disease"]),
        ("Who is at risk for Anemia? ?", ["risk of Anemia"]),
        ("what research (or clinical trials) is being done for Asthma ?", ["Asthma"]),
    ],
)
def test_rewrite_medquad_question(question, expected_any):
    out = rewrite_medquad_question(question, "k")
    assert any(e in out for e in expected_any), out
    assert "(are)" not in out and " ?" not in out and out.endswith("?")
    assert rewrite_medquad_question(question, "k") == out  # deterministic


def test_rewrite_keeps_free_questions():
    assert rewrite_medquad_question("how is botulism diagnosed ?") == "How is botulism diagnosed?"


def test_trim_answer_at_paragraph_or_sentence_end():
    text = "First paragraph has five words.\n\nSecond paragraph is here too. It has two sentences.\nKey Points"
    assert trim_answer(text, 8) == "First paragraph has five words."
    assert trim_answer(text, 100) == text
    long = " ".join(f"Sentence number {i} is here." for i in range(50))
    cut = trim_answer(long, 20)
    assert cut.endswith(".") and len(cut.split()) <= 20


def test_medquad_source_rewritten_and_leading_question_removed():
    s = build_splits(str(FIX / "data_medquad.jsonl"), recipe(eval_fraction=0.0), **QUIET)
    assert s.report["format"] == "qa"
    rows = {r["source"]: r for r in s.train}
    assert rows["data_medquad/MedlinePlus"]["patient"] in (
        "Can you explain what Gout is?", "What is Gout? I'd like to understand it.", "Could you tell me what Gout is?")
    alport = rows["data_medquad/GARD"]["reference"]
    assert alport.startswith("There is no cure for Alport syndrome")  # "How might ... be treated?" removed


def test_mix_goes_to_train_only_with_weight(tmp_path):
    main = write_jsonl(tmp_path / "main.jsonl", _many_rows(40))
    s = build_splits(str(main), recipe(eval_fraction=0.2, mix_dataset=str(FIX / "data_medquad.jsonl"),
                                       mix_weight=0.05, mix_max_answer_words=40), **QUIET)
    mix_train = [r for r in s.train if r["source"].startswith("data_medquad")]
    assert not [r for r in s.eval if r["source"].startswith("data_medquad")]
    main_train = len(s.train) - len(mix_train)
    assert len(mix_train) == s.report["mix_rows"] == round(0.05 / 0.95 * main_train)
    assert s.report["mix"]["used"] == len(mix_train) and s.report["mix"]["format"] == "qa"
    for r in mix_train:
        assert len(r["reference"].split()) <= 40 and r["reference"].endswith(".")
    # a bigger weight than the source can supply uses what there is
    s2 = build_splits(str(main), recipe(eval_fraction=0.2, mix_dataset=str(FIX / "data_medquad.jsonl"),
                                        mix_weight=0.5), **QUIET)
    assert s2.report["mix_rows"] == 4
    # deterministic
    s3 = build_splits(str(main), recipe(eval_fraction=0.2, mix_dataset=str(FIX / "data_medquad.jsonl"),
                                        mix_weight=0.05, mix_max_answer_words=40), **QUIET)
    assert list(s3.train["id"]) == list(s.train["id"])


def test_recipe_argument_checks():
    with pytest.raises(ValueError, match="mix_dataset"):
        build_splits(str(FIX / "data_dialogues.jsonl"), recipe(mix_weight=0.2), **QUIET)
    with pytest.raises(ValueError, match="eval_fraction"):
        build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=1.5), **QUIET)


def test_eval_fraction_one_scores_every_row_of_a_never_trained_file():
    s = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(eval_fraction=1.0), **QUIET)
    assert len(s.train) == 0 and len(s.eval) == s.report["kept"] > 0


def test_max_rows_reads_first_rows():
    s = build_splits(str(FIX / "data_dialogues.jsonl"), recipe(max_rows=3), **QUIET)
    assert s.report["rows_read"] == 3


def test_recipe_fits_trl_parser_next_to_sftconfig(tmp_path):
    from trl import SFTConfig, TrlParser

    parser = TrlParser((DataRecipe, SFTConfig))
    recipe_, cfg = parser.parse_args_and_config(
        ["--output_dir", str(tmp_path), "--dataset", "x.jsonl", "--mix_weight", "0.2", "--skip_bad_rows", "true",
         "--eval_max_rows", "50", "--report_to", "none", "--bf16", "false", "--use_cpu", "true"]
    )
    assert recipe_.dataset == "x.jsonl" and recipe_.mix_weight == 0.2 and recipe_.skip_bad_rows is True
    assert recipe_.eval_max_rows == 50 and recipe_.mix_dataset is None


def test_progress_log_called(tmp_path):
    lines = []
    build_splits(str(FIX / "data_dialogues.jsonl"), recipe(), log=lines.append)
    assert any("read 12" in line and "train" in line for line in lines)


def test_module_docstring_lists_every_drop_rule():
    for rule in data_mod.DROP_RULES:
        assert rule in data_mod.__doc__
