"""The red-flag catalogue (data/catalogue/*.yaml, read by medchat/safety/catalogue.py) and the report CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from medchat.safety import report
from medchat.safety.catalogue import CatalogueError, catalogue, load_catalogue
from medchat.safety.texts import TIPS

# The presentations the issue asks the catalogue to cover (from public triage guidance).
REQUIRED = ["heart_attack", "stroke", "tia", "anaphylaxis", "sepsis", "meningitis", "infant_fever",
            "testicular_torsion", "ectopic_pregnancy", "reduced_fetal_movements", "pre_eclampsia",
            "obstetric_bleeding", "dka", "pulmonary_embolism", "gi_bleed", "head_injury", "paracetamol_overdose",
            "button_battery", "choking", "severe_bleeding", "suicidal_direct", "suicidal_indirect", "self_harm",
            "postpartum_crisis"]


def test_catalogue_covers_the_red_flags_with_sources_and_several_phrasings():
    by_id = {p.id: p for p in catalogue()}
    for pid in REQUIRED:
        p = by_id[pid]
        assert p.source.startswith("http") or "guidance" in p.source, p
        assert len(p.phrasings) >= 2, p.id
    flagged = [p for p in catalogue() if p.level in ("emergency", "crisis")]
    assert sum(len(p.phrasings) >= 4 for p in flagged) >= 20
    # look-alikes keep false alarms down: a good share of the exemplars are calm
    levels = Counter(p.level for p in catalogue() for _ in p.phrasings)
    assert levels["routine"] >= 150 and levels["emergency"] >= 200 and levels["crisis"] >= 60
    # other languages are there for the core presentations
    i18n = {p.id for p in catalogue() if p.file == "multilingual.yaml"}
    assert {"heart_attack_i18n", "stroke_i18n", "not_breathing_i18n", "severe_bleeding_i18n", "suicidal_i18n"} <= i18n


def test_phrasings_are_unique_and_tips_exist():
    texts = [t.lower() for p in catalogue() for t in p.phrasings]
    dupes = [t for t, n in Counter(texts).items() if n > 1]
    assert not dupes
    assert all(p.tip in TIPS for p in catalogue() if p.tip)


@pytest.mark.parametrize("content,message", [
    ("- id: x\n  level: emergency\n  label: x\n  source: s\n", r"entry 1 \(x\): missing field\(s\) phrasings"),
    ("- id: x\n  level: severe\n  label: x\n  source: s\n  phrasings: [a]\n", r"level 'severe' is not one of"),
    ("- id: x\n  level: emergency\n  label: x\n  source: s\n  tip: hug\n  phrasings: [a]\n", r"tip 'hug'"),
    ("- id: x\n  level: routine\n  label: x\n  source: s\n  phrasings:\n    - for a class: what is a stroke\n",
     r"phrasing 1 .*quote it"),
    ("- id: x\n  level: routine\n  label: [\n", r"not valid YAML"),
])
def test_bad_catalogue_files_say_where_and_what(tmp_path, content, message):
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message) as e:
        load_catalogue(tmp_path)
    assert "bad.yaml" in str(e.value)


def test_duplicate_ids_across_files_are_refused(tmp_path):
    entry = "- id: same\n  level: routine\n  label: x\n  source: s\n  phrasings: [a]\n"
    (tmp_path / "a.yaml").write_text(entry, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(entry.replace("[a]", "[b]"), encoding="utf-8")
    with pytest.raises(CatalogueError, match="already used in a.yaml"):
        load_catalogue(tmp_path)


def test_report_cli_prints_recall_per_category_and_language_misses_and_latency(tmp_path):
    cases = [
        {"text": "my dad's face has dropped on one side and he can't speak", "level": "emergency",
         "category": "stroke", "language": "en"},
        {"text": "tengo un dolor terrible en el pecho que va al brazo", "level": "emergency",
         "category": "heart_attack", "language": "es"},
        {"text": "I want to end my life tonight", "level": "crisis", "category": "suicide", "language": "en"},
        {"text": "what are the signs of a stroke? for my exam", "level": "routine", "category": "lookalike",
         "language": "en"},
        {"text": "I have a mild cold", "level": "emergency", "category": "mislabelled", "language": "en"},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in cases), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "medchat.safety", "--report", str(path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "emergency+crisis flagged (recall): 3/4" in text
    assert "false alarms on look-alikes: 0/1" in text
    assert "per category:" in text and "stroke" in text and "per language:" in text and "es " in text
    assert "latency per message (ms): median" in text
    assert "[emergency -> routine] (mislabelled/en) 'I have a mild cold'" in text  # every miss is listed


def test_report_default_file_is_in_the_package_and_bad_lines_are_named(tmp_path):
    assert report.DEFAULT_CASES.parent.name == "data" and "tests" not in report.DEFAULT_CASES.parts
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "level": "routine"}\n{"text": "x", "level": "panic"}\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "medchat.safety", "--report", str(bad)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "bad.jsonl:2" in out.stderr and "level" in out.stderr
