"""Choose the app's generation defaults by measurement on held-out conversations.

For each candidate setting, base and base+adapter answer the same held-out patients (medchat.evaluate's code path,
model loaded once) and we compare the automatic answer checks: repetition, truncation, impersonation, boilerplate,
ROUGE-L and length. Each setting's samples.jsonl can be loaded in the review panel.

    python -m benchmarks.generation_sweep --data ../shared/data/healthcaremagic_sample_1000.jsonl \
        --adapter medchat/adapters/smollm2-medchat --limit 40 --out runs/sweep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# name: (temperature, top_p, repetition_penalty, no_repeat_ngram_size); temperature 0 = greedy
CANDIDATES = {
    "greedy": (0.0, 1.0, 1.0, 0),
    "greedy_rp1.15": (0.0, 1.0, 1.15, 0),
    "greedy_rp1.1_nr4": (0.0, 1.0, 1.1, 4),
    "t0.7_p0.9_rp1.1": (0.7, 0.9, 1.1, 0),
    "t0.5_p0.9_rp1.1_nr4": (0.5, 0.9, 1.1, 4),
}
COLUMNS = ("repetition_rate", "truncated_rate", "impersonation_rate", "boilerplate_rate", "rougeL", "length_words")


def main(argv=None):
    from medchat.evaluate import evaluate_loaded, evaluation_settings, load_items
    from medchat.modeling import DEFAULT_ADAPTER, describe, load_model_and_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--base", default=None)
    parser.add_argument("--adapter", default=DEFAULT_ADAPTER)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--eval_fraction", type=float, default=0.1)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=40)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    parser.add_argument("--out", default="runs/sweep")
    args = parser.parse_args(argv)

    items = load_items(args.data, args.limit, eval_fraction=args.eval_fraction)
    model, tokenizer = load_model_and_tokenizer(args.base, adapter=args.adapter)
    labels = describe(args.base, args.adapter)
    results = {}
    for name, (temperature, top_p, penalty, no_repeat) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        settings = evaluation_settings(args.max_new_tokens, temperature, top_p, penalty, no_repeat, seed=0)
        metrics = evaluate_loaded(model, tokenizer, items, settings, Path(args.out) / name, args.batch_size, labels)
        results[name] = metrics["models"]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "sweep.json").write_text(json.dumps(results, indent=2))
    print(f"\nheld-out n={len(items)}; each cell: base / fine-tuned")
    print("| setting | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS))
    for name, models in results.items():
        cells = [f"{models['base'][c]:.3g} / {models['finetuned'][c]:.3g}" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
