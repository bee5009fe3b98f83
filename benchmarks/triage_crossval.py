"""Leave-one-writer-out cross-validation of triage: how it does on messages from a writer it has not learned from.

The written messages (`medchat/safety/data/written/*.jsonl`) come from five helper sessions, each blind to the rules.
For each writer, the learned signal (nearest exemplars and linear heads, both encoders) is rebuilt from every
exemplar except that writer's file, the combiner is fitted on the other writers' out-of-fold features only, and the
whole triage is scored on that file. `--no-combiner`: the hand-set bars instead of the combiner;
`--without-written`: none of the written messages learned and no combiner (the triage before round 10).

    python -m benchmarks.triage_crossval [--without-written | --no-combiner] [--set NAME=VALUE ...] [--sweep ...]

`--set engine.LINEAR_CRISIS_P=0.7` changes a threshold of medchat.safety.engine / learned / second_encoder for the
run (how the thresholds were chosen; README "Safety"). The models are fitted once per run; a run takes ~4 min here.
"""

from __future__ import annotations

import argparse
import importlib
import itertools

import numpy as np

from medchat.safety import combiner, learned, report


def crossval(models: dict[str, tuple], oof: dict | None = None) -> dict[str, dict]:
    """Score each writer's file with the triage that did not learn from it: its fold's learned signals and, given
    the out-of-fold features `oof`, a combiner fitted on the other writers' only (none: the hand-set bars)."""
    with_combiner = oof is not None
    results = {}
    for stem, (use_model, e5_model, ngram) in models.items():
        comb = None
        if with_combiner:
            others = [v for k, v in oof.items() if k != stem]
            comb = combiner.fit(np.concatenate([x for x, _ in others]), np.concatenate([y for _, y in others]), ngram)
        with combiner.signals(use_model, e5_model, comb):
            results[stem] = report.score_cases(report.load_cases(learned.WRITTEN_DIR / f"{stem}.jsonl"))
    return results


def summary_table(results: dict[str, dict]) -> str:
    lines = ["| writer | right level | crisis flagged | look-alike false alarms | all false alarms |",
             "|---|---:|---:|---:|---:|"]
    tot = dict.fromkeys(("right", "n", "crisis", "crisis_n", "look", "look_n", "fa", "calm"), 0)
    for name, s in results.items():
        vals = (s["flagged_right_level"], s["flagged_n"], s["crisis_caught"], s["crisis_n"], s["lookalike_alarms"],
                s["lookalike_n"], s["false_alarms"], s["calm_n"])
        for k, v in zip(tot, vals):
            tot[k] += v
        lines.append(f"| {name} | {vals[0]}/{vals[1]} | {vals[2]}/{vals[3]} | {vals[4]}/{vals[5]} | {vals[6]}/{vals[7]} |")
    t = tot
    lines.append(f"| **all** | {t['right']}/{t['n']} = {t['right'] / t['n']:.1%} | {t['crisis']}/{t['crisis_n']} = "
                 f"{t['crisis'] / t['crisis_n']:.1%} | {t['look']}/{t['look_n']} = {t['look'] / t['look_n']:.1%} | "
                 f"{t['fa']}/{t['calm']} = {t['fa'] / t['calm']:.1%} |")
    return "\n".join(lines)


def _override(ap, item: str) -> tuple:
    """(module, attribute, typed value) of `MODULE.NAME=VALUE` for a threshold of medchat.safety.MODULE."""
    name, value = item.split("=", 1)
    module, attr = name.rsplit(".", 1)
    mod = importlib.import_module(f"medchat.safety.{module}")
    if not hasattr(mod, attr):
        ap.error(f"medchat.safety.{module} has no {attr}")
    old = getattr(mod, attr)
    return mod, attr, value in ("1", "true", "True") if isinstance(old, bool) else type(old)(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.triage_crossval", description=__doc__.split("\n")[0])
    ap.add_argument("--without-written", action="store_true", help="learn none of the written messages (the baseline)")
    ap.add_argument("--no-combiner", action="store_true", help="the hand-set bars of engine.py, not the combiner")
    ap.add_argument("--writer", action="append", help="only this writer's file (stem, e.g. t1); repeatable")
    ap.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE",
                    help="override a threshold of medchat.safety.MODULE for this run")
    ap.add_argument("--sweep", action="append", default=[], metavar="MODULE.NAME=V1,V2,...",
                    help="score once per value (several --sweep: every combination); the models are fitted once")
    ap.add_argument("--misses", action="store_true", help="print every miss")
    args = ap.parse_args(argv)
    overrides = [_override(ap, item) for item in args.set]
    for mod, attr, value in overrides:
        setattr(mod, attr, value)
    models = combiner.fold_models(args.without_written, args.writer)
    # the layers' features do not depend on the combiner's bars: computed once for every swept value
    oof = None if args.without_written or args.no_combiner else combiner.out_of_fold(models, progress=lambda m: None)
    sweeps = [[_override(ap, f"{name}={v}") for v in values.split(",")]
              for name, values in (item.split("=", 1) for item in args.sweep)]
    for combo in itertools.product(*sweeps) if sweeps else [()]:
        for mod, attr, value in combo:
            setattr(mod, attr, value)
        results = crossval(models, oof)
        print(" ".join(f"{mod.__name__.rsplit('.', 1)[1]}.{attr}={value}" for mod, attr, value in overrides + list(combo))
              or "shipped thresholds")
        print(summary_table(results), flush=True)
        if args.misses:
            for name, s in results.items():
                for m in s["misses"]:
                    print(f"{name} [{m['expected']} -> {m['got']}] ({m['category']}/{m['language']}) {m['text'][:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
