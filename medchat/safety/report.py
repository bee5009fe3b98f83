"""Labelled cases report: python -m medchat.safety --report [FILE].

Prints recall per level, per category and per language, emergency+crisis recall (any flag, and with the right
level), crisis recall, false alarms (all calm cases and look-alikes alone), every miss and the triage latency.
A labelled file is JSON lines with `text` and `level`; `category`, `language` and `note` are optional.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

from medchat.jsonl import json_objects
from medchat.safety.engine import reader, triage, warm_up
from medchat.safety.language import detect
from medchat.safety.texts import LEVELS

DEFAULT_CASES = Path(__file__).resolve().parent / "data" / "triage_cases.jsonl"
FLAGGED = ("emergency", "crisis")


def load_cases(path: str | Path) -> list[dict]:
    """JSON lines with at least `text` and a valid `level`; a bad line is reported with its number."""
    cases = []
    for i, c in json_objects(path):
        if not isinstance(c.get("text"), str) or c.get("level") not in LEVELS:
            raise ValueError(f"{path}:{i}: needs a 'text' string and a 'level' in {', '.join(LEVELS)}")
        cases.append(c)
    return cases


def _rate(hits: int, n: int) -> float:
    return hits / n if n else float("nan")


def score_cases(cases: list[dict]) -> dict:
    """Per-level / category / language recall, flagged recall, false alarms, latency and the misses."""
    warm_up()  # loading the model is not part of a message's latency
    rows, times = [], []
    for c in cases:
        t0 = time.perf_counter()
        t = triage(c["text"])
        times.append((time.perf_counter() - t0) * 1000)
        rows.append((c, t))
    per_level = {}
    for level in LEVELS:
        labelled = [(c, t) for c, t in rows if c["level"] == level]
        hits = sum(t.level == level for _, t in labelled)
        per_level[level] = {"n": len(labelled), "hits": hits, "recall": _rate(hits, len(labelled))}
    flagged = [(c, t) for c, t in rows if c["level"] in FLAGGED]
    calm = [(c, t) for c, t in rows if c["level"] not in FLAGGED]
    lookalikes = [(c, t) for c, t in calm if c.get("category") == "lookalike"]
    crisis = [(c, t) for c, t in rows if c["level"] == "crisis"]
    caught = sum(t.level in FLAGGED for _, t in flagged)
    right = sum(t.level == c["level"] for c, t in flagged)
    alarms = sum(t.level in FLAGGED for _, t in calm)
    groups: dict[str, dict[str, list]] = {"category": defaultdict(list), "language": defaultdict(list)}
    for c, t in rows:
        ok = t.level in FLAGGED if c["level"] in FLAGGED else t.level not in FLAGGED
        groups["category"][c.get("category") or c["level"]].append(ok)
        groups["language"][c.get("language") or t.language].append(ok)
    ms = sorted(times)
    return {
        "n": len(rows),
        "per_level": per_level,
        "flagged_recall": _rate(caught, len(flagged)),
        "flagged_caught": caught,
        "flagged_right_level": right,
        "flagged_right_recall": _rate(right, len(flagged)),
        "flagged_n": len(flagged),
        "crisis_caught": sum(t.level in FLAGGED for _, t in crisis),
        "crisis_right": sum(t.level == "crisis" or "988" in t.guidance for _, t in crisis),
        "crisis_n": len(crisis),
        "false_alarms": alarms,
        "calm_n": len(calm),
        "false_alarm_rate": _rate(alarms, len(calm)) if calm else 0.0,
        "lookalike_alarms": sum(t.level in FLAGGED for _, t in lookalikes),
        "lookalike_n": len(lookalikes),
        "accuracy": _rate(sum(t.level == c["level"] for c, t in rows), len(rows)),
        "groups": {g: {k: (sum(v), len(v)) for k, v in sorted(d.items())} for g, d in groups.items()},
        "latency_ms": {
            "median": statistics.median(ms) if ms else float("nan"),
            "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else float("nan"),
            "max": ms[-1] if ms else float("nan"),
        },
        "misses": [
            {"text": c["text"], "expected": c["level"], "got": t.level, "reason": t.reason, "note": c.get("note", ""),
             "category": c.get("category", ""), "language": c.get("language") or t.language}
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
        f"emergency+crisis with the right level: {s['flagged_right_level']}/{s['flagged_n']} = "
        f"{s['flagged_right_recall']:.3f}",
        f"crisis flagged: {s['crisis_caught']}/{s['crisis_n']}; shown the crisis lines: {s['crisis_right']}/{s['crisis_n']}",
        f"false alarms (urgent/routine flagged emergency/crisis): {s['false_alarms']}/{s['calm_n']} = "
        f"{s['false_alarm_rate']:.3f}",
        f"false alarms on look-alikes: {s['lookalike_alarms']}/{s['lookalike_n']}",
        f"overall accuracy (exact level): {s['accuracy']:.3f}",
        f"latency per message (ms): median {s['latency_ms']['median']:.1f}, p95 {s['latency_ms']['p95']:.1f}, "
        f"max {s['latency_ms']['max']:.1f}",
    ]
    for group, d in s["groups"].items():
        lines += ["", f"correct (flagged vs not) per {group}:"]
        lines += [f"  {k:<22} {h:>3}/{n:<3} {h / n:.3f}" for k, (h, n) in d.items()]
    lines += ["", f"misses ({len(s['misses'])}):"]
    for m in s["misses"]:
        tag = "/".join(x for x in (m["category"], m["language"]) if x)
        lines.append(f"  [{m['expected']} -> {m['got']}] ({tag}) {m['text']!r}  ({m['reason']})")
    return "\n".join(lines)


BUDGET_MS = 20  # issue 11: the learned signal may cost a message at most this on CPU
READERS = ("English", "USE's other languages", "only e5 reads", "no encoder (few words)")


def reader_name(text: str) -> str:
    """Which of READERS reads `text` (engine.reader, with English apart from USE's other languages)."""
    code = detect(text)
    read_by = reader(code, text)
    if not read_by:
        return READERS[3]
    return READERS[0] if code == "en" else READERS[1] if read_by == "use" else READERS[2]


def benchmark(cases: list[dict], repeats: int = 3) -> dict:
    """Per-message triage cost after warm-up: wall time (what a user waits; the first message's apart too, what the
    first user of a fresh app waits) and this process's CPU time (what the message costs this CPU, unaffected by
    other processes on a shared machine), median and p95 in ms; and per reader (which encoder reads the message:
    they cost very different amounts), each message's median over the passes."""
    t0 = time.perf_counter()
    loaded = warm_up()
    load_s = time.perf_counter() - t0
    wall, cpu = [[] for _ in cases], []
    for _ in range(repeats):
        for c, times in zip(cases, wall):
            w, p = time.perf_counter(), time.process_time()
            triage(c["text"])
            cpu.append((time.process_time() - p) * 1000)
            times.append((time.perf_counter() - w) * 1000)

    def stats(xs: list[float]) -> dict:
        xs = sorted(xs)
        return {"median": statistics.median(xs), "p95": xs[min(len(xs) - 1, int(0.95 * len(xs)))], "max": xs[-1]}

    by_reader: dict[str, list[float]] = defaultdict(list)
    for c, times in zip(cases, wall):
        by_reader[reader_name(c["text"])].append(statistics.median(times))
    readers = {name: {"messages": len(ms), "median": statistics.median(ms), "over_budget": sum(m > BUDGET_MS for m in ms)}
               for name in READERS if (ms := by_reader.get(name))}
    return {"messages": len(cpu), "learned_signal": loaded, "load_s": load_s,
            "first_ms": wall[0][0] if cases else 0.0, "wall_ms": stats([t for times in wall for t in times]),
            "cpu_ms": stats(cpu), "readers": readers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medchat.safety", description=__doc__.split("\n")[0])
    ap.add_argument("--report", nargs="?", const=str(DEFAULT_CASES), metavar="FILE",
                    help=f"score triage on labelled jsonl cases (default {DEFAULT_CASES})")
    ap.add_argument("--triage", metavar="TEXT", help="triage one message and print the result")
    ap.add_argument("--benchmark", nargs="?", const=str(DEFAULT_CASES), metavar="FILE",
                    help="time triage per message on the texts of FILE (3 passes after warm-up)")
    args = ap.parse_args(argv)
    if args.benchmark is not None:
        try:
            cases = load_cases(args.benchmark)
        except (OSError, ValueError) as e:
            ap.error(str(e))
        b = benchmark(cases)
        print(f"triage latency on {args.benchmark}: {b['messages']} messages, learned signal "
              f"{'loaded' if b['learned_signal'] else 'UNAVAILABLE (rules only)'} in {b['load_s']:.1f} s; "
              f"first message after that {b['first_ms']:.1f} ms")
        for kind in ("wall_ms", "cpu_ms"):
            d = b[kind]
            print(f"  {kind[:-3]:<4} median {d['median']:.1f} ms, p95 {d['p95']:.1f} ms, max {d['max']:.1f} ms")
        print("  by reader, each message's median wall time over the passes:")
        for name, d in b["readers"].items():
            print(f"    {name:<24} {d['messages']:>4} messages, median {d['median']:.1f} ms, "
                  f"{d['over_budget']} over {BUDGET_MS} ms")
        return 0
    if args.triage is not None:
        t = triage(args.triage)
        print(f"{t.level} ({t.decided_by}, language {t.language}): {t.reason}\n\n{t.guidance}".rstrip())
        return 0
    if args.report is None:
        ap.print_help()
        return 2
    try:
        cases = load_cases(args.report)
    except (OSError, ValueError) as e:
        ap.error(str(e))
    print(format_report(args.report, score_cases(cases)))
    return 0
