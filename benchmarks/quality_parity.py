"""Quality parity of two training recipes at equal tokens, on the offline SmolLM2-135M-Instruct (CPU or GPU).

Both recipes train a fresh LoRA on the same real rows for one epoch (so the same tokens), and the held-out loss
(mean NLL over assistant tokens, one conversation at a time, no packing: the same function for both) is measured
at equal fractions of the epoch. Then the merge check: the trained adapters are put on the 4-bit NF4 base and
compared unmerged vs merged-and-requantized (`medchat.serving.merge_and_requantize`): held-out loss and logit drift.
Optionally MedQuAD question-answer pairs are shuffled into the training rows (--mix-rows; held-out rows stay
HealthCareMagic) and the default recipe also runs at other learning rates (--lr-variants).

    python -m benchmarks.quality_parity --train-rows 600 --eval-rows 100 --out benchmarks/results
    python -m benchmarks.quality_parity --train-rows 40 --eval-rows 8 --out /tmp/qp   # smoke
    python -m benchmarks.quality_parity --train-rows 800 --eval-rows 200 --fractions 0.25,0.5,0.75 \
        --mix-rows ../shared/data/medquad_answered.jsonl.gz --mix-count 800 --lr-variants 4e-4,6e-4 --tag smollm2-mix
"""

from __future__ import annotations

import argparse
import copy
import gc
import gzip
import json
import random
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from benchmarks.common import (  # noqa: E402
    SEED_LORA, SEED_RECIPE, SHARED_ROWS, environment, load_rows, make_step_timer, markdown_table,
    prepare_for_training, read_recipe, sft_config, tokenized_dataset, save_markdown_and_json,
)


def recipes(default_yaml: Path, default_name: str | None = None, lr_variants=()) -> dict[str, tuple[str, dict, dict]]:
    """key -> (name, lora keys, SFTConfig keys): "seed", "default" and "default-lr<value>" per extra learning rate."""
    medchat, sft = read_recipe(default_yaml)
    lora = {**SEED_LORA, **{k: v for k, v in medchat.items() if k.startswith("lora_")}}
    out = {"seed": ("seed", dict(SEED_LORA), dict(SEED_RECIPE)),
           "default": (default_name or f"default ({default_yaml.name})", lora, sft)}
    for lr in lr_variants:  # the default recipe with only the learning rate changed
        name = f"{default_name}, lr {lr}" if default_name else f"default lr {lr} ({default_yaml.name})"
        out[f"default-lr{lr}"] = (name, dict(lora), {**sft, "learning_rate": float(lr)})
    return out


def slugify(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)[:60]


def load_mix_rows(path: Path, count: int | None) -> list[dict]:
    """The first `count` (all if None) MedQuAD pairs of the file with a question and an answer, as rows in the
    HealthCareMagic columns without a Description."""
    rows = []
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
        for line in f:
            if count is not None and len(rows) == count:
                break
            obj = json.loads(line) if line.strip() else {}
            question, answer = (obj.get("question") or "").strip(), (obj.get("answer") or "").strip()
            if question and answer:
                rows.append({"Description": "", "Patient": question, "Doctor": answer})
    if count is not None and len(rows) < count:
        raise SystemExit(f"{path}: only {len(rows)} rows with a question and an answer, --mix-count {count}")
    return rows


@torch.no_grad()
def heldout_loss(model, dataset, device) -> float:
    """Mean NLL per assistant token over the held-out conversations (each alone, no padding, no packing)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for row in dataset:
        ids = torch.tensor([row["input_ids"]], device=device)
        mask = torch.tensor([row["assistant_masks"]], device=device)
        logits = model(input_ids=ids).logits[:, :-1].float()
        target = ids[:, 1:]
        keep = mask[:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
        total += float(nll)
        count += int(keep.sum())
    if was_training:
        model.train()
    return total / max(count, 1)


def make_eval_callback(eval_ds, device, fractions, total_tokens):
    from transformers import TrainerCallback

    class EvalAtTokens(TrainerCallback):
        def __init__(self):
            self.points = []
            self.todo = sorted(fractions)
            self.seconds = 0.0  # spent in these evals, which are not training time

        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen = int(state.num_input_tokens_seen)
            while self.todo and seen >= self.todo[0] * total_tokens:
                frac = self.todo.pop(0)
                if self.points and self.points[-1]["step"] == state.global_step:  # big steps: same weights
                    loss = self.points[-1]["eval_loss"]
                else:
                    t0 = time.perf_counter()
                    loss = heldout_loss(model, eval_ds, device)
                    self.seconds += time.perf_counter() - t0
                self.points.append({"fraction": frac, "tokens": seen, "step": state.global_step, "eval_loss": loss})
                print(f"[quality]   {frac:.2f} of the tokens ({seen}) step {state.global_step}: "
                      f"eval loss {self.points[-1]['eval_loss']:.4f}", flush=True)

    return EvalAtTokens()


def train_one(name, lora, sft, base_dir, tokenizer, train_ds, eval_ds, device, out_dir, fractions=(0.5,), attn=None):
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    from medchat.chat_format import prepare_tokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32 if device.type == "cpu"
                                                 else torch.bfloat16).to(device)
    prepare_tokenizer(tokenizer, model)
    if attn:  # e.g. sdpa_varlen: per-document attention for packed rows (the same function, no [T, T] mask)
        from medchat.varlen_attention import register

        model.config._attn_implementation = register(check=False)
    model = prepare_for_training(model, lora, upcast_to_fp32=False)  # full-precision base: nothing to upcast
    sft = dict(sft)
    sft["num_train_epochs"] = 1
    args = sft_config(sft, output_dir=str(out_dir / "run"), max_steps=-1,
                      cuda=device.type == "cuda")
    # The tokens of the epoch after TRL's truncation to max_length (long MedQuAD answers lose their tail), so that
    # the eval fractions are fractions of what the recipe actually sees.
    total_tokens = sum(min(len(ids), args.max_length or len(ids)) for ids in train_ds["input_ids"])
    timer = make_step_timer(0)
    evals = make_eval_callback(eval_ds, device, fractions, total_tokens)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                         callbacks=[timer, evals])
    t0 = time.time()
    result = trainer.train()
    train_s = time.time() - t0 - evals.seconds
    final = heldout_loss(trainer.model, eval_ds, device)
    evals.points.append({"fraction": 1.0, "tokens": int(trainer.state.num_input_tokens_seen),
                         "step": trainer.state.global_step, "eval_loss": final})
    adapter_dir = out_dir / ("adapter-" + slugify(name))
    trainer.model.save_pretrained(adapter_dir)
    info = {
        "recipe": name, "lora": lora, "attn": attn or "sdpa", "sft": sft,
        "steps": trainer.state.global_step, "tokens_seen": int(trainer.state.num_input_tokens_seen),
        "epoch_tokens": total_tokens, "train_loss": result.training_loss, "eval_loss": final, "curve": evals.points,
        "train_s": round(train_s, 1), "train_tok_s": int(trainer.state.num_input_tokens_seen) / max(train_s, 1e-9),
        "wall_s": round(time.time() - t0, 1), "adapter_dir": str(adapter_dir),
    }
    del trainer, model
    gc.collect()
    return info


@torch.no_grad()
def merge_check(base_dir, adapter_dir, tokenizer, eval_ds, device) -> dict:
    """Held-out loss of: 4-bit base alone, 4-bit base + unmerged adapter, merged-and-requantized; logit drift."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from medchat.modeling import quantization_config
    from medchat.serving import logit_drift, merge_and_requantize

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, quantization_config=quantization_config(dtype),
                                                 device_map={"": device.index or 0} if device.type == "cuda" else "cpu")
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    sample = [torch.tensor([r["input_ids"]], device=device) for r in eval_ds.select(range(min(16, len(eval_ds))))]
    out = {"eval_loss_4bit_unmerged": heldout_loss(model, eval_ds, device)}
    ref = [model(input_ids=x).logits for x in sample]
    with model.disable_adapter():
        out["eval_loss_4bit_base_only"] = heldout_loss(model, eval_ds, device)
        base = [model(input_ids=x).logits for x in sample]
    merged = merge_and_requantize(model)
    out["eval_loss_4bit_merged"] = heldout_loss(merged, eval_ds, device)
    got = [merged(input_ids=x).logits for x in sample]
    cat = lambda xs: torch.cat([x[0] for x in xs])  # noqa: E731
    out["drift_merged_vs_unmerged"] = logit_drift(cat(ref), cat(got))
    out["adapter_effect_base_vs_unmerged"] = logit_drift(cat(ref), cat(base))
    eff, drift = out["adapter_effect_base_vs_unmerged"]["rel_l2"], out["drift_merged_vs_unmerged"]["rel_l2"]
    out["adapter_effect_kept_estimate"] = 1 - drift / eff if eff else None
    return out


def write_report(out_dir: Path, tag: str) -> str:
    """Collect the per-recipe results of `.work-<tag>/*.json` into quality_parity_<tag>.{json,md}."""
    work = out_dir / f".work-{tag}"
    runs = [json.loads(p.read_text()) for p in sorted(work.glob("recipe-*.json"))]
    runs.sort(key=lambda r: (r["recipe"] != "seed", r["recipe"]))
    if not runs:
        return ""
    meta = runs[0]["meta"]
    results = {"meta": meta, "recipes": runs}
    rows = []
    for info in runs:
        row = {"recipe": info["recipe"], "steps": info["steps"], "tokens": info["tokens_seen"],
               "eval_loss": info["eval_loss"], "train_loss": info["train_loss"], "wall_s": info["wall_s"],
               "tok_step": info["tokens_seen"] / max(info["steps"], 1), "train_tok_s": info.get("train_tok_s")}
        for p in info["curve"][:-1]:
            row[f"eval@{p['fraction']}"] = p["eval_loss"]
        mc = info.get("merge_check") or {}
        row["4bit_unmerged"] = mc.get("eval_loss_4bit_unmerged")
        row["4bit_merged"] = mc.get("eval_loss_4bit_merged")
        row["4bit_base"] = mc.get("eval_loss_4bit_base_only")
        rows.append(row)
    fractions = sorted({p["fraction"] for info in runs for p in info["curve"][:-1]})
    cols = [("recipe", "recipe"), ("steps", "optimizer steps"), ("tokens", "tokens"), ("tok_step", "tokens/step"),
            *((f"eval@{f}", f"eval loss @{f * 100:g}% tokens") for f in fractions),
            ("eval_loss", "eval loss @100% tokens"),
            ("4bit_unmerged", "4-bit + LoRA (unmerged)"), ("4bit_merged", "4-bit merged+requantized"),
            ("4bit_base", "4-bit base alone"), ("train_tok_s", "train tokens/s"), ("wall_s", "wall s")]
    mix = (f"{meta['hcm_train_rows']} HealthCareMagic + {meta['mix_rows']} MedQuAD pairs from {meta['mix_source']}, "
           f"shuffled together; " if meta.get("mix_rows") else "")
    md = ["# Quality parity at equal tokens: SmolLM2-135M-Instruct", "",
          f"{meta['date_utc']} UTC, {meta['device']}, torch {meta['torch']}, transformers {meta['transformers']}, "
          f"trl {meta['trl']}, peft {meta['peft']}. {meta['train_rows']} real training conversations "
          f"({mix}{meta['train_tokens']} tokens before truncation to max_length; every recipe sees them once, so the "
          f"same tokens), {meta['eval_rows']} "
          f"held-out HealthCareMagic conversations (disjoint rows); eval loss = mean NLL per assistant token, each "
          f"conversation alone. Base model without adapter: {meta['eval_loss_base_model']:.4f}. Full-precision base "
          f"for training (the offline default); the merge check loads the base in NF4 (QLoRA serving) with the "
          f"trained adapter. Train tokens/s: tokens seen over the training wall time without the evals.", "",
          markdown_table(rows, cols), ""]
    # Recipe jsons of earlier runs with other data stay in the work folder; their numbers are not comparable.
    # (Older jsons have no mix keys: absent, 0 and None all mean no mix.)
    data_keys = ("train_rows", "eval_rows", "train_tokens", "mix_rows", "mix_source")
    odd = [r["recipe"] for r in runs if any((r["meta"].get(k) or None) != (meta.get(k) or None) for k in data_keys)]
    if odd:
        md.append(f"**Not comparable:** {', '.join(odd)} trained on other rows than {runs[0]['recipe']} "
                  f"(older results in {work}?).")
        md.append("")
    for info in runs:
        mc = info.get("merge_check")
        if mc and "drift_merged_vs_unmerged" in mc:
            d, e = mc["drift_merged_vs_unmerged"], mc["adapter_effect_base_vs_unmerged"]
            md.append(f"- merge check ({info['recipe']}): logits of merged+requantized vs unmerged: rel L2 "
                      f"{d['rel_l2']:.4f}, KL {d['kl_mean']:.4f}, top-1 agree {d['top1_agree']:.3f}; adapter effect "
                      f"(base alone vs unmerged): rel L2 {e['rel_l2']:.4f}, KL {e['kl_mean']:.4f}; share of the "
                      f"adapter's effect kept by the merge ~ {mc['adapter_effect_kept_estimate'] or 0:.2f}")
    md.append("")
    return save_markdown_and_json(out_dir, f"quality_parity_{tag}", md, results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default-recipe", default=str(ROOT / "train/configs/llama3-8b-qlora.yaml"))
    parser.add_argument("--recipes", default="seed,default", help="comma list: seed, default")
    parser.add_argument("--name", default=None, help="label of the default recipe's run (default: yaml name)")
    parser.add_argument("--lr-variants", default="", help="comma list of learning rates, e.g. 4e-4,6e-4: the default "
                        "recipe also runs with each (only the learning rate changed)")
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--eval-rows", type=int, default=100)
    parser.add_argument("--fractions", default="0.5", help="extra eval points, fractions of the tokens, e.g. "
                        "0.25,0.5,0.75")
    parser.add_argument("--rows", default=None, help="jsonl of HealthCareMagic rows (default: shared sample)")
    parser.add_argument("--mix-rows", default=None, metavar="PATH", help="MedQuAD jsonl(.gz) (question, answer): "
                        "extra training conversations, shuffled into the HealthCareMagic ones")
    parser.add_argument("--mix-count", type=int, default=None, help="the first N usable rows of --mix-rows "
                        "(default: all)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--tag", default="smollm2")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--default-attn", default=None, help="attention for the default recipe's packed rows, "
                        "e.g. sdpa_varlen (per-document; CPU SDPA with the [T, T] block mask needs GBs)")
    parser.add_argument("--merge-check", default="", help="comma list of recipes whose adapter gets the merge check "
                        "(seed, default, default-lr<value>)")
    parser.add_argument("--merge-eval-rows", type=int, default=16)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--merge-only", default=None, metavar="ADAPTER_DIR",
                        help="only the merge check of this trained adapter (e.g. medchat/adapters/smollm2-medchat)")
    args = parser.parse_args(argv)
    if args.mix_count is not None and (not args.mix_rows or args.mix_count < 1):
        parser.error("--mix-count needs --mix-rows and N >= 1")
    fractions = tuple(float(f) for f in args.fractions.split(",") if f)
    if not all(0 < f < 1 for f in fractions):
        parser.error("--fractions must lie in (0, 1): the end of the epoch is always evaluated")
    wanted = [w for w in args.recipes.split(",") if w]
    if set(wanted) - {"seed", "default"}:
        parser.error(f"--recipes: unknown {sorted(set(wanted) - {'seed', 'default'})}, use seed, default")
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    work = out_dir / f".work-{args.tag}"
    work.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        print(write_report(out_dir, args.tag))
        return

    from transformers import AutoTokenizer

    from medchat.chat_format import prepare_tokenizer
    from medchat.offline_model import ensure_offline_model

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base_dir = ensure_offline_model()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    prepare_tokenizer(tokenizer)
    # Held-out rows come from the end of the 1,000-row sample, training rows from its start: disjoint.
    all_rows = load_rows(args.rows or SHARED_ROWS)
    train_rows = all_rows[: args.train_rows]
    eval_rows = all_rows[len(all_rows) - args.eval_rows:]
    eval_ds = tokenized_dataset(tokenizer, eval_rows)
    merge_ds = eval_ds.select(range(min(args.merge_eval_rows, len(eval_ds))))  # the merge check's rows
    if args.merge_only:
        sub = merge_ds
        t0 = time.time()
        result = {"adapter": args.merge_only, "eval_rows": len(sub), "device": str(device), **environment(),
                  **merge_check(base_dir, args.merge_only, tokenizer, sub, device)}
        result["wall_s"] = round(time.time() - t0, 1)
        (out_dir / f"merge_check_{args.tag}.json").write_text(json.dumps(result, indent=2, default=str))
        d, e = result["drift_merged_vs_unmerged"], result["adapter_effect_base_vs_unmerged"]
        md = [f"# Merge check: {args.merge_only} on SmolLM2-135M-Instruct in NF4 ({result['date_utc']} UTC, {device})",
              "", f"{len(sub)} conversations from the end of the 1,000-row sample (the adapter may have seen them in "
              "training: this measures the merge, not generalization). Eval = mean NLL per assistant token.", "",
              "| model | eval loss |", "|---|---:|",
              f"| 4-bit base + adapter, unmerged | {result['eval_loss_4bit_unmerged']:.4f} |",
              f"| 4-bit merged + requantized (`medchat.serving.merge_and_requantize`) | "
              f"{result['eval_loss_4bit_merged']:.4f} |",
              f"| 4-bit base alone | {result['eval_loss_4bit_base_only']:.4f} |", "",
              f"Logits, merged vs unmerged: rel L2 {d['rel_l2']:.4f}, KL {d['kl_mean']:.4f}, top-1 agreement "
              f"{d['top1_agree']:.3f}. Adapter effect (base alone vs unmerged): rel L2 {e['rel_l2']:.4f}, KL "
              f"{e['kl_mean']:.4f}, top-1 agreement {e['top1_agree']:.3f}. Share of the adapter's effect kept by "
              f"the merge ~ {result['adapter_effect_kept_estimate'] or 0:.2f}.", ""]
        (out_dir / f"merge_check_{args.tag}.md").write_text("\n".join(md))
        print("\n".join(md))
        return
    if args.train_rows + args.eval_rows > len(all_rows):
        parser.error(f"--train-rows + --eval-rows exceed the {len(all_rows)} rows: training and held-out would overlap")
    hcm_train_rows = len(train_rows)
    mix_rows = load_mix_rows(Path(args.mix_rows), args.mix_count) if args.mix_rows else []
    if mix_rows:  # spread over the epoch, in the same order for every recipe
        train_rows = train_rows + mix_rows
        random.Random(0).shuffle(train_rows)
    held_out = {(r["Description"], r["Patient"], r["Doctor"]) for r in eval_rows}
    assert not any((r["Description"], r["Patient"], r["Doctor"]) in held_out for r in train_rows), \
        "a held-out row is among the training rows"
    train_ds = tokenized_dataset(tokenizer, train_rows)
    total_tokens = sum(len(x) for x in train_ds["input_ids"])
    print(f"[quality] {len(train_rows)} train rows ({hcm_train_rows} HealthCareMagic + {len(mix_rows)} MedQuAD, "
          f"{total_tokens} tokens before truncation), {len(eval_rows)} held-out rows, device {device}", flush=True)
    env = environment()
    meta = {**env, "device": str(device) if device.type == "cpu" else env.get("gpu"), "model": "SmolLM2-135M-Instruct",
            "train_rows": len(train_rows), "hcm_train_rows": hcm_train_rows, "mix_rows": len(mix_rows),
            "mix_source": Path(args.mix_rows).name if mix_rows else None, "eval_rows": len(eval_rows),
            "train_tokens": total_tokens}
    # The base model's loss depends only on the held-out rows: cached per work folder for the same rows.
    base_file = work / "base_eval.json"
    base_key = {"rows": str(args.rows or SHARED_ROWS), "eval_rows": len(eval_rows)}
    cached = json.loads(base_file.read_text()) if base_file.is_file() else {}
    if all(cached.get(k) == v for k, v in base_key.items()):
        meta["eval_loss_base_model"] = cached["eval_loss"]
    else:
        from transformers import AutoModelForCausalLM

        m = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).to(device)
        meta["eval_loss_base_model"] = heldout_loss(m, eval_ds, device)
        base_file.write_text(json.dumps({**base_key, "eval_loss": meta["eval_loss_base_model"]}))
        del m
    lr_variants = [v.strip() for v in args.lr_variants.split(",") if v.strip()]
    all_recipes = recipes(Path(args.default_recipe), args.name, lr_variants)
    # The lr variants run whatever --recipes says, so they can train in a process of their own into the same tag.
    todo = {k: v for k, v in all_recipes.items() if k in wanted or k.startswith("default-lr")}
    names = [slugify(name) for name, _, _ in todo.values()]
    if len(set(names)) != len(names):
        parser.error(f"two runs would share a results file ({names}): use other --lr-variants or a shorter --name")
    merge_for = {w for w in args.merge_check.split(",") if w}
    for key, (name, lora, sft) in todo.items():
        print(f"[quality] training: {name}: lora {lora} sft {sft}", flush=True)
        info = train_one(name, lora, sft, base_dir, copy.deepcopy(tokenizer), train_ds, eval_ds, device, work,
                         fractions, attn=args.default_attn if key != "seed" else None)
        print(f"[quality] {name}: eval loss {info['eval_loss']:.4f} after {info['tokens_seen']} tokens, "
              f"{info['steps']} steps, {info['wall_s']} s, {info['train_tok_s']:.0f} train tokens/s", flush=True)
        info["meta"] = meta
        if key in merge_for:
            try:
                info["merge_check"] = merge_check(base_dir, info["adapter_dir"], tokenizer, merge_ds, device)
                print(f"[quality] merge check {name}: {json.dumps(info['merge_check'])}", flush=True)
            except Exception as exc:  # noqa: BLE001 - report, don't lose the training results
                info["merge_check"] = {"error": repr(exc)}
                print(f"[quality] merge check failed: {exc!r}", flush=True)
        slug = "seed" if key == "seed" else "default-" + slugify(name)
        (work / f"recipe-{slug}.json").write_text(json.dumps(info, indent=2, default=str))
    print(write_report(out_dir, args.tag))


if __name__ == "__main__":
    main()
