"""Labelled cases report: python -m medchat.safety --report FILE."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medchat.safety.rule_engine import triage
from medchat.safety.texts import LEVELS

# -----------------------------------------------------------------------------------------------
# Labelled cases report: python -m medchat.safety --report [FILE]

DEFAULT_CASES = Path(__file__).resolve().parent / "data" / "triage_cases.jsonl"
FLAGGED = ("emergency", "crisis")


def load_cases(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_cases(cases: list[dict]) -> dict:
    """Per-level recall, emergency+crisis recall, false alarms, accuracy and the misses."""
    rows = [(c, triage(c["text"])) for c in cases]
    per_level = {}
    for level in LEVELS:
        labelled = [(c, t) for c, t in rows if c["level"] == level]
        hits = sum(t.level == level for _, t in labelled)
        per_level[level] = {"n": len(labelled), "hits": hits, "recall": hits / len(labelled) if labelled else float("nan")}
    flagged = [(c, t) for c, t in rows if c["level"] in FLAGGED]
    calm = [(c, t) for c, t in rows if c["level"] not in FLAGGED]
    caught = sum(t.level in FLAGGED for _, t in flagged)
    alarms = sum(t.level in FLAGGED for _, t in calm)
    correct = sum(t.level == c["level"] for c, t in rows)
    return {
        "n": len(rows),
        "per_level": per_level,
        "flagged_recall": caught / len(flagged) if flagged else float("nan"),
        "flagged_caught": caught,
        "flagged_n": len(flagged),
        "false_alarms": alarms,
        "calm_n": len(calm),
        "false_alarm_rate": alarms / len(calm) if calm else 0.0,
        "accuracy": correct / len(rows) if rows else float("nan"),
        "misses": [
            {"text": c["text"], "expected": c["level"], "got": t.level, "reason": t.reason, "note": c.get("note", "")}
            for c, t in rows if t.level != c["level"]
        ],
    }


def format_report(path: str | Path, s: dict) -> str:
    lines = [f"triage report: {path} ({s['n']} cases)", "", f"{'level':<10} {'n':>4} {'recall':>7}"]
    for level, d in s["per_level"].items():
        lines.append(f"{level:<10} {d['n']:>4} {d['recall']:>7.3f}")
    lines += [
        "",
        f"emergency+crisis flagged (recall): {s['flagged_caught']}/{s['flagged_n']} = {s['flagged_recall']:.3f}",
        f"false alarms (urgent/routine flagged emergency/crisis): {s['false_alarms']}/{s['calm_n']} = "
        f"{s['false_alarm_rate']:.3f}",
        f"overall accuracy (exact level): {s['accuracy']:.3f}",
        "",
        f"misses ({len(s['misses'])}):",
    ]
    for m in s["misses"]:
        lines.append(f"  [{m['expected']} -> {m['got']}] {m['text']!r}  ({m['reason']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medchat.safety", description=__doc__.split("\n")[0])
    ap.add_argument("--report", nargs="?", const=str(DEFAULT_CASES), metavar="FILE",
                    help=f"score triage on labelled jsonl cases (default {DEFAULT_CASES})")
    ap.add_argument("--triage", metavar="TEXT", help="triage one message and print the result")
    args = ap.parse_args(argv)
    if args.triage is not None:
        t = triage(args.triage)
        print(f"{t.level}: {t.reason}\n\n{t.guidance}".rstrip())
        return 0
    if args.report is None:
        ap.print_help()
        return 2
    print(format_report(args.report, score_cases(load_cases(args.report))))
    return 0


