"""`python -m medchat.evaluate`: score a fine-tuned adapter against its base on held-out conversations.

For each conversation, under the base and under base+adapter:
- reference_nll: mean negative log-likelihood per token of the reference doctor reply (teacher forcing; the scored
  tokens are exactly the reply's tokens and its end-of-turn token, found with the same assistant mask as training);
- a generated reply (batched, seeded, greedy by default), its ROUGE-L F1 against the reference, its length, and the
  automatic answer checks of `medchat.answer_checks` on the final app text (disclaimer and triage guidance added by
  `medchat.safety` exactly as the app does).
Writes DIR/metrics.json, DIR/samples.jsonl (read by the review panel), DIR/report.md and PNG plots. The same code
feeds the CLI, the model card and the panel, so the numbers agree everywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import logging
import math
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from medchat.chat_format import encode_with_assistant_mask

logger = logging.getLogger(__name__)


def reference_nll(model, tokenizer, conversations: list[list[dict]], batch_size: int = 4) -> list[dict]:
    """Per conversation: mean NLL over the assistant (reply) tokens, and how many tokens were scored."""
    encoded = [encode_with_assistant_mask(tokenizer, messages) for messages in conversations]
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        scored = torch.zeros((len(chunk), width), dtype=torch.bool)
        for row, (ids, mask) in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            scored[row, : len(ids)] = torch.tensor(mask, dtype=torch.bool)
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        # Token t is predicted from position t-1. Gather on the device: only [B, T] values come back, not the
        # [B, T, vocab] log-probabilities.
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = input_ids[:, 1:].to(device)
        token_nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu()
        target_scored = scored[:, 1:]
        for row in range(len(chunk)):
            values = token_nll[row][target_scored[row]]
            results.append({"nll": values.mean().item(), "tokens": int(values.numel())})
    return results


@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


def _mean(values) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else float("nan")


def score_model(model, tokenizer, items: list[dict], settings, batch_size: int, label: str) -> list[dict]:
    """NLL, generated reply, ROUGE-L, length and answer checks for one model over all items."""
    from medchat.answer_checks import check_answer
    from medchat.generation import generate_replies
    from medchat.safety import clean_model_output, finalize_reply, triage

    conversations = [item["messages"] for item in items]
    nll = reference_nll(model, tokenizer, conversations, batch_size=batch_size)
    # retrieval "quote": an item with a grounded answer is answered by it, as in the app; the model writes the rest
    prompts = [[m for m in item["messages"] if m["role"] != "assistant"] for item in items if not item.get("grounded")]
    generated = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=f"generating ({label})", unit="batch"):
        generated += generate_replies(model, tokenizer, prompts[start : start + batch_size], settings, batch_size)
    generated = iter(generated)
    rows = []
    for item, nll_row in zip(items, nll):
        triage_result = triage(item["user_text"])
        if item.get("grounded"):
            from medchat.chat import grounded_layout, reply_text

            text = item["grounded"]["plain"]
            final = reply_text(grounded_layout(0, triage_result, item["grounded"]["markdown"]))
        else:
            text = clean_model_output(next(generated), tokenizer.all_special_tokens)
            final = finalize_reply(item["user_text"], text, triage_result)
        rows.append({
            "reference_nll": nll_row["nll"],
            "reference_tokens": nll_row["tokens"],
            "rougeL": rouge_l(text, item["reference"]),
            "length_words": len(text.split()),
            "reply": text,
            "final": final,
            "triage_level": triage_result.level,
            "checks": check_answer(item["user_text"], text, final),
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    from medchat.answer_checks import summarize_checks

    nll = _mean(r["reference_nll"] for r in rows)
    summary = {
        "reference_nll": nll,
        "reference_perplexity": math.exp(nll) if not math.isnan(nll) else nll,
        "rougeL": _mean(r["rougeL"] for r in rows),
        "length_words": _mean(r["length_words"] for r in rows),
    }
    summary.update(summarize_checks([r["checks"] for r in rows]))
    return summary


def held_out_recipe(data: str, adapter_recipe: dict | None = None, **overrides):
    """The `DataRecipe` that rebuilds training's held-out split of `data`.

    From the adapter's recipe (`medchat.hub.load_recipe`): every data field (fraction, cap, row limit, seed, system
    prompt, cleaning), minus the mix source (it only ever feeds train). `overrides` (e.g. from CLI flags) win where
    not None: `eval_fraction`, `eval_max_rows` (<= 0: no cap), `split_seed`, `system_prompt`. With
    `eval_fraction=1.0` given for data the adapter never saw, the recipe's cap and row limit do not apply (every row
    is held out) unless given too. Without a recipe: today's defaults (`eval_fraction` 0.1, no cap).
    """
    from medchat.data import DataRecipe

    names = {f.name for f in dataclasses.fields(DataRecipe)}
    recipe = DataRecipe(**{k: v for k, v in (adapter_recipe or {}).items() if k in names})
    recipe.dataset, recipe.mix_dataset, recipe.mix_weight = str(data), None, 0.0
    if overrides.get("eval_fraction") == 1:
        recipe.eval_max_rows = recipe.max_rows = None
    for key, value in overrides.items():
        if value is not None:
            setattr(recipe, key, value)
    if recipe.eval_max_rows is not None and recipe.eval_max_rows <= 0:
        recipe.eval_max_rows = None
    return recipe


def load_items(data, limit: int | None, system_prompt: str | None = None, eval_fraction: float | None = None,
               adapter_recipe: dict | None = None, **split_overrides) -> list[dict]:
    """Held-out conversations from a Dataset of `medchat.data` rows, or from a file or Hub id: its held-out split as
    training drew it (`held_out_recipe`), or every row with eval_fraction=1 (data never trained on)."""
    from medchat.data import build_splits

    if isinstance(data, (str, Path)):
        recipe = held_out_recipe(str(data), adapter_recipe, eval_fraction=eval_fraction, system_prompt=system_prompt,
                                 **split_overrides)
        splits = build_splits(str(data), recipe)
        data = splits.eval
        if not len(data):
            raise SystemExit(
                f"No held-out conversations in {recipe.dataset} (eval_fraction {recipe.eval_fraction}, eval_max_rows "
                f"{recipe.eval_max_rows}, split_seed {recipe.split_seed}). For data the adapter was never trained on, "
                "pass --eval_fraction 1.0 to score every row.")
    rows = list(data)[: limit or None]
    items = []
    for row in rows:
        user_text = next(m["content"] for m in row["messages"] if m["role"] == "user")
        items.append({**row, "user_text": user_text})
    return items


def split_fingerprint(items: list[dict]) -> str:
    """Same fingerprint as `medchat.data` reports for the held-out split (`eval_ids_sha256`)."""
    return hashlib.sha256("\n".join(sorted(item["id"] for item in items)).encode()).hexdigest()


def evaluate_loaded(model, tokenizer, items: list[dict], settings, out, batch_size: int = 8,
                    labels: tuple[str, str] = ("base", "base+adapter"), split: dict | None = None) -> dict:
    """Score base (adapter switched off) and fine-tuned (adapter on) on `items`; write the report into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One load: the base is the same weights with the adapter switched off.
    with model.disable_adapter():
        base_rows = score_model(model, tokenizer, items, settings, batch_size, "base")
    tuned_rows = score_model(model, tokenizer, items, settings, batch_size, "finetuned")
    metrics = {
        "n": len(items),
        "models": {"base": summarize(base_rows), "finetuned": summarize(tuned_rows)},
        "base_model": labels[0],
        "adapter": labels[1],
        "generation": asdict(settings),
    }
    if split:
        metrics["split"] = split
    base_nll, tuned_nll = metrics["models"]["base"]["reference_nll"], metrics["models"]["finetuned"]["reference_nll"]
    metrics["reference_nll_reduction"] = (base_nll - tuned_nll) / base_nll
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))

    with (out / "samples.jsonl").open("w") as handle:
        for item, base, tuned in zip(items, base_rows, tuned_rows):
            handle.write(json.dumps({
                "id": item["id"], "description": item.get("description", ""),
                "patient": item.get("patient") or item["user_text"], "user_text": item["user_text"],
                "reference": item["reference"],
                "triage": tuned["triage_level"],
                "replies": {"base": base["final"], "finetuned": tuned["final"]},
                "metrics": {name: {k: row[k] for k in ("reference_nll", "rougeL", "length_words", "checks")}
                            for name, row in (("base", base), ("finetuned", tuned))},
            }) + "\n")
    plot_report(base_rows, tuned_rows, out)
    (out / "report.md").write_text(render_report(metrics))
    return metrics


def evaluation_settings(max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                        repetition_penalty: float | None = None, no_repeat_ngram_size: int | None = None,
                        seed: int = 0):
    """Greedy and seeded by default, with the app's repetition controls (what users get, minus sampling)."""
    from medchat.generation import GenerationSettings

    app = GenerationSettings()
    return GenerationSettings(
        max_new_tokens=max_new_tokens, do_sample=temperature > 0, temperature=temperature or 1.0, top_p=top_p,
        repetition_penalty=app.repetition_penalty if repetition_penalty is None else repetition_penalty,
        no_repeat_ngram_size=app.no_repeat_ngram_size if no_repeat_ngram_size is None else no_repeat_ngram_size,
        seed=seed,
    )


def evaluate(data, base_model=None, adapter=None, out="eval", limit: int | None = 50, load_in_4bit=None,
             system_prompt: str | None = None, batch_size: int = 8, eval_fraction: float | None = None,
             settings=None, eval_max_rows: int | None = None, split_seed: int | None = None,
             retrieval: bool | str = False) -> dict:
    """Load base+adapter once and evaluate held-out items from `data` (see `load_items`). For a file or Hub id the
    split is the one the adapter's recipe.yaml describes, where it has one; the arguments given override it. With
    `retrieval` "prompt" (or True), each prompt carries the trusted passages retrieved for it, as the app gives them
    (`medchat.knowledge`); with "quote", items with a trusted passage are answered by the grounded answer (quoted
    trusted sentences, `medchat.knowledge.grounded`) under both models, as the app answers them."""
    from medchat.hub import load_recipe
    from medchat.modeling import DEFAULT_ADAPTER, describe, load_model_and_tokenizer

    adapter = adapter or DEFAULT_ADAPTER
    if not adapter:
        raise SystemExit("No adapter to evaluate: pass --adapter (Hub id or dir); no shipped adapter was found.")
    adapter_recipe = load_recipe(adapter) if isinstance(data, (str, Path)) or data is None else None
    if data is None:
        if not adapter_recipe or not adapter_recipe.get("dataset"):
            raise SystemExit("--data is required: the adapter has no recipe.yaml naming its dataset.")
        data = adapter_recipe["dataset"]
    if adapter_recipe is None and isinstance(data, (str, Path)):
        logger.warning("%s has no recipe.yaml: held-out split from the defaults (eval_fraction %s), which may "
                       "include rows it was trained on", adapter, eval_fraction or 0.1)
    items = load_items(data, None, system_prompt, eval_fraction, adapter_recipe, eval_max_rows=eval_max_rows,
                       split_seed=split_seed)
    split = {"rows": len(items), "eval_ids_sha256": split_fingerprint(items), "from_recipe": adapter_recipe is not None}
    trained = _training_split_fingerprint(adapter)
    if trained:
        split["same_as_training"] = trained == split["eval_ids_sha256"]
        if not split["same_as_training"]:
            logger.warning("the held-out split differs from the one training reported (other data or overrides)")
    items = items[: limit or None]
    if not items:
        raise SystemExit("No held-out conversations to evaluate. For data the adapter was never trained on, "
                         "pass --eval_fraction 1.0 to score every row.")
    retrieval = {True: "prompt", False: "off", None: "off"}.get(retrieval, retrieval)
    if retrieval == "prompt":
        from medchat.knowledge import add_retrieval_context

        items = add_retrieval_context(items)
    elif retrieval == "quote":
        from medchat.knowledge import add_grounded_answers

        items = add_grounded_answers(items)
        logger.info("retrieval quote: %d of %d items get a grounded answer", sum(bool(i.get("grounded")) for i in items),
                    len(items))
    elif retrieval != "off":
        raise SystemExit(f"--retrieval {retrieval!r}: use off, prompt or quote.")
    model, tokenizer = load_model_and_tokenizer(base_model, adapter=adapter, load_in_4bit=load_in_4bit)
    settings = settings or evaluation_settings()
    return evaluate_loaded(model, tokenizer, items, settings, out, batch_size, describe(base_model, adapter),
                           split=split)


def _training_split_fingerprint(adapter: str) -> str | None:
    """`eval_ids_sha256` of the split training held out, from a local adapter's run_summary.json."""
    summary = Path(adapter) / "run_summary.json"
    if not summary.is_file():
        return None
    return (json.loads(summary.read_text()).get("data") or {}).get("eval_ids_sha256")


def refinalize_samples(path_in, path_out) -> dict:
    """Re-apply the current safety layer to a samples.jsonl without generating again: each reply's model text
    (code-added guidance and disclaimer removed) goes through `finalize_reply` and the answer checks anew. Used when
    the safety layer changes, so reviewers judge exactly what the app would now show for the same model output."""
    from medchat.answer_checks import check_answer, summarize_checks
    from medchat.safety.saved_replies import strip_app_additions
    from medchat.safety import finalize_reply, triage

    rows = [json.loads(line) for line in Path(path_in).read_text().splitlines() if line.strip()]
    checks = {"base": [], "finetuned": []}
    with Path(path_out).open("w") as handle:
        for row in rows:
            user_text = row.get("user_text") or "\n\n".join(t for t in (row.get("description"), row["patient"]) if t)
            triage_result = triage(user_text)
            for name, final in row["replies"].items():
                text = strip_app_additions(final)
                row["replies"][name] = finalize_reply(user_text, text, triage_result)
                result = check_answer(user_text, text, row["replies"][name])
                row.setdefault("metrics", {}).setdefault(name, {})["checks"] = result
                checks[name].append(result)
            row["triage"] = triage_result.level
            handle.write(json.dumps(row) + "\n")
    return {name: summarize_checks(values) for name, values in checks.items()}


def plot_report(base_rows: list[dict], tuned_rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.plot([r["reference_nll"] for r in base_rows], "o", label="base", alpha=0.7)
    ax.plot([r["reference_nll"] for r in tuned_rows], "o", label="fine-tuned", alpha=0.7)
    ax.set_xlabel("held-out item")
    ax.set_ylabel("reference reply NLL / token")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "nll_per_item.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.hist([[r["length_words"] for r in base_rows], [r["length_words"] for r in tuned_rows]],
            bins=20, label=["base", "fine-tuned"])
    ax.set_xlabel("reply length (words)")
    ax.set_ylabel("replies")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "reply_lengths.png")
    plt.close(fig)


def render_report(metrics: dict) -> str:
    from medchat.hub import metrics_table

    return (
        f"# medchat evaluation\n\nBase: {metrics['base_model']} · adapter: {metrics['adapter']} · "
        f"n = {metrics['n']} held-out conversations · generation: {metrics['generation']}\n\n"
        f"{metrics_table(metrics)}\n\nReference-reply NLL reduction: "
        f"{metrics['reference_nll_reduction'] * 100:.1f} %\n\n![NLL per item](nll_per_item.png)\n"
        "![Reply lengths](reply_lengths.png)\n"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="jsonl/json/csv/parquet file or Hub dataset id (default: the dataset of the "
                        "adapter's recipe.yaml)")
    parser.add_argument("--refinalize", metavar="SAMPLES", help="re-apply the current safety layer to an existing "
                        "samples.jsonl (no generation) and write OUT/samples.jsonl")
    parser.add_argument("--limit", type=int, default=50)
    split = parser.add_argument_group(
        "held-out split", "default: as the adapter's recipe.yaml says (the split training held out); without one, "
        "eval_fraction 0.1 and no cap")
    split.add_argument("--eval_fraction", type=float, default=None,
                       help="held-out fraction (1.0 = every row, for data never trained on)")
    split.add_argument("--eval_max_rows", type=int, default=None, help="cap on held-out rows (0 = no cap)")
    split.add_argument("--split_seed", type=int, default=None, help="seed of the split hash")
    split.add_argument("--system_prompt", default=None, help="system prompt of every conversation")
    parser.add_argument("--base", default=None, help="base model (default: the offline SmolLM2)")
    parser.add_argument("--adapter", default=None, help="adapter (default: the shipped adapter)")
    parser.add_argument("--out", default="eval")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--repetition_penalty", type=float, default=None, help="default: the app's")
    parser.add_argument("--no_repeat_ngram_size", type=int, default=None, help="default: the app's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load_in_4bit", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--retrieval", nargs="?", const="prompt", default="off", choices=["off", "prompt", "quote"],
                        help="trusted passages as the app uses them (medchat.knowledge): 'prompt' (the flag alone) puts "
                        "them in each prompt; 'quote' answers with quoted trusted sentences where a passage is found")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="[%(name)s] %(message)s")
    logging.getLogger("medchat").setLevel(logging.INFO)
    if args.refinalize:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        rates = refinalize_samples(args.refinalize, Path(args.out) / "samples.jsonl")
        print(json.dumps(rates, indent=2))
        return rates
    from medchat.data import DataValidationError

    settings = evaluation_settings(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty,
                                   args.no_repeat_ngram_size, args.seed)
    try:
        metrics = evaluate(
            args.data, base_model=args.base, adapter=args.adapter, out=args.out, limit=args.limit,
            batch_size=args.batch_size, eval_fraction=args.eval_fraction, eval_max_rows=args.eval_max_rows,
            split_seed=args.split_seed, system_prompt=args.system_prompt, settings=settings,
            load_in_4bit={"auto": None, "true": True, "false": False}[args.load_in_4bit], retrieval=args.retrieval,
        )
    except DataValidationError as exc:  # the user's data: the message says what to fix
        sys.stderr.write(f"python -m medchat.evaluate: {exc}\n")
        raise SystemExit(2) from None
    print(render_report(metrics))
    return metrics


if __name__ == "__main__":
    main()
