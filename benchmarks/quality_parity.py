"""Quality parity of two training recipes at equal tokens, on the offline SmolLM2-135M-Instruct (CPU or GPU).

Both recipes train a fresh LoRA on the same real rows for one epoch (so the same tokens), and the held-out loss
(mean NLL over assistant tokens, one conversation at a time, no packing: the same function for both) is measured
at equal fractions of the epoch. Then the merge check: the trained adapters are put on the 4-bit NF4 base and
compared unmerged vs merged-and-requantized (`medchat.serving.merge_and_requantize`): held-out loss and logit drift.

    python benchmarks/quality_parity.py --train-rows 600 --eval-rows 100 --out benchmarks/results
    python benchmarks/quality_parity.py --train-rows 40 --eval-rows 8 --out /tmp/qp   # smoke
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    SEED_LORA, SEED_RECIPE, environment, load_rows, make_step_timer, markdown_table, prepare_for_training,
    read_recipe, sft_config, tokenized_dataset, save_markdown_and_json,
)

ROOT = Path(__file__).resolve().parents[1]


def recipes(default_yaml: Path) -> dict[str, tuple[dict, dict]]:
    """name -> (lora keys, SFTConfig keys)."""
    medchat, sft = read_recipe(default_yaml)
    lora = {**SEED_LORA, **{k: v for k, v in medchat.items() if k.startswith("lora_")}}
    return {"seed": (dict(SEED_LORA), dict(SEED_RECIPE)), f"default ({default_yaml.name})": (lora, sft)}


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

        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen = int(state.num_input_tokens_seen)
            while self.todo and seen >= self.todo[0] * total_tokens:
                frac = self.todo.pop(0)
                self.points.append({"fraction": frac, "tokens": seen, "step": state.global_step,
                                    "eval_loss": heldout_loss(model, eval_ds, device)})
                print(f"[quality]   {frac:.2f} of the tokens ({seen}) step {state.global_step}: "
                      f"eval loss {self.points[-1]['eval_loss']:.4f}", flush=True)

    return EvalAtTokens()


def train_one(name, lora, sft, base_dir, tokenizer, train_ds, eval_ds, device, out_dir, total_tokens,
              fractions=(0.5,), attn=None):
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    from medchat.chat_format import prepare_tokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32 if device.type == "cpu"
                                                 else torch.bfloat16).to(device)
    prepare_tokenizer(tokenizer, model)
    if attn:  # e.g. sdpa_varlen: per-document attention for packed rows (the same function, no [T, T] mask)
        from benchmarks.varlen_attention import register

        model.config._attn_implementation = register(check=False)
    model = prepare_for_training(model, lora, upcast_to_fp32=False)  # full-precision base: nothing to upcast
    sft = dict(sft)
    sft["num_train_epochs"] = 1
    args = sft_config(sft, output_dir=str(out_dir / "run"), max_steps=-1,
                      cuda=device.type == "cuda")
    args.num_train_epochs = 1
    timer = make_step_timer(0)
    evals = make_eval_callback(eval_ds, device, fractions, total_tokens)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                         callbacks=[timer, evals])
    t0 = time.time()
    result = trainer.train()
    final = heldout_loss(trainer.model, eval_ds, device)
    evals.points.append({"fraction": 1.0, "tokens": int(trainer.state.num_input_tokens_seen),
                         "step": trainer.state.global_step, "eval_loss": final})
    adapter_dir = out_dir / ("adapter-" + "".join(c if c.isalnum() else "-" for c in name)[:60])
    trainer.model.save_pretrained(adapter_dir)
    info = {
        "recipe": name, "lora": lora, "attn": attn or "sdpa", "sft": {k: v for k, v in sft.items()},
        "steps": trainer.state.global_step, "tokens_seen": int(trainer.state.num_input_tokens_seen),
        "train_loss": result.training_loss, "eval_loss": final, "curve": evals.points,
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
               "tok_step": info["tokens_seen"] / max(info["steps"], 1)}
        for p in info["curve"][:-1]:
            row[f"eval@{p['fraction']:.2f}"] = p["eval_loss"]
        mc = info.get("merge_check") or {}
        row["4bit_unmerged"] = mc.get("eval_loss_4bit_unmerged")
        row["4bit_merged"] = mc.get("eval_loss_4bit_merged")
        row["4bit_base"] = mc.get("eval_loss_4bit_base_only")
        rows.append(row)
    cols = [("recipe", "recipe"), ("steps", "optimizer steps"), ("tokens", "tokens"), ("tok_step", "tokens/step"),
            ("eval@0.50", "eval loss @50% tokens"), ("eval_loss", "eval loss @100% tokens"),
            ("4bit_unmerged", "4-bit + LoRA (unmerged)"), ("4bit_merged", "4-bit merged+requantized"),
            ("4bit_base", "4-bit base alone"), ("wall_s", "wall s")]
    md = ["# Quality parity at equal tokens: SmolLM2-135M-Instruct", "",
          f"{meta['date_utc']} UTC, {meta['device']}, torch {meta['torch']}, transformers {meta['transformers']}, "
          f"trl {meta['trl']}, peft {meta['peft']}. {meta['train_rows']} real training conversations "
          f"({meta['train_tokens']} tokens; every recipe sees them once, so the same tokens), {meta['eval_rows']} "
          f"held-out conversations (disjoint rows); eval loss = mean NLL per assistant token, each conversation "
          f"alone. Base model without adapter: {meta['eval_loss_base_model']:.4f}. Full-precision base for "
          f"training (the offline default); the merge check loads the base in NF4 (QLoRA serving) with the trained "
          f"adapter.", "", markdown_table(rows, cols), ""]
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
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--eval-rows", type=int, default=100)
    parser.add_argument("--fractions", default="0.5", help="extra eval points, fractions of the tokens")
    parser.add_argument("--rows", default=None, help="jsonl of HealthCareMagic rows (default: shared sample)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--tag", default="smollm2")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--default-attn", default=None, help="attention for the default recipe's packed rows, "
                        "e.g. sdpa_varlen (per-document; CPU SDPA with the [T, T] block mask needs GBs)")
    parser.add_argument("--merge-check", default="", help="comma list of recipes whose adapter gets the merge check")
    parser.add_argument("--merge-eval-rows", type=int, default=16)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--merge-only", default=None, metavar="ADAPTER_DIR",
                        help="only the merge check of this trained adapter (e.g. medchat/adapters/smollm2-medchat)")
    args = parser.parse_args(argv)
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
    from benchmarks.common import SHARED_ROWS

    all_rows = load_rows(args.rows or SHARED_ROWS)
    train_rows = all_rows[: args.train_rows]
    eval_rows = all_rows[len(all_rows) - args.eval_rows:]
    eval_ds = tokenized_dataset(tokenizer, eval_rows)
    if args.merge_only:
        sub = eval_ds.select(range(min(args.merge_eval_rows, len(eval_ds))))
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
    train_ds = tokenized_dataset(tokenizer, train_rows)
    total_tokens = sum(len(x) for x in train_ds["input_ids"])
    print(f"[quality] {len(train_rows)} train rows ({total_tokens} tokens), {len(eval_rows)} held-out rows, "
          f"device {device}", flush=True)
    env = environment()
    meta = {**env, "device": str(device) if device.type == "cpu" else env.get("gpu"), "model": "SmolLM2-135M-Instruct",
            "train_rows": len(train_rows), "eval_rows": len(eval_rows), "train_tokens": total_tokens}
    base_file = work / "base_eval.json"
    if base_file.is_file():
        meta["eval_loss_base_model"] = json.loads(base_file.read_text())["eval_loss"]
    else:
        from transformers import AutoModelForCausalLM

        m = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).to(device)
        meta["eval_loss_base_model"] = heldout_loss(m, eval_ds, device)
        base_file.write_text(json.dumps({"eval_loss": meta["eval_loss_base_model"]}))
        del m
    fractions = tuple(float(f) for f in args.fractions.split(",") if f)
    all_recipes = recipes(Path(args.default_recipe))
    wanted = [w for w in args.recipes.split(",") if w]
    merge_for = {w for w in args.merge_check.split(",") if w}
    for key, (name, (lora, sft)) in zip(("seed", "default"), all_recipes.items()):
        if key not in wanted:
            continue
        if key == "default" and args.name:
            name = args.name
        print(f"[quality] training: {name}: lora {lora} sft {sft}", flush=True)
        info = train_one(name, lora, sft, base_dir, copy.deepcopy(tokenizer), train_ds, eval_ds, device, work,
                         total_tokens, fractions, attn=args.default_attn if key == "default" else None)
        print(f"[quality] {name}: eval loss {info['eval_loss']:.4f} after {info['tokens_seen']} tokens, "
              f"{info['steps']} steps, {info['wall_s']} s", flush=True)
        info["meta"] = meta
        if key in merge_for:
            try:
                info["merge_check"] = merge_check(base_dir, info["adapter_dir"], tokenizer,
                                                  eval_ds.select(range(min(args.merge_eval_rows, len(eval_ds)))),
                                                  device)
                print(f"[quality] merge check {name}: {json.dumps(info['merge_check'])}", flush=True)
            except Exception as exc:  # noqa: BLE001 - report, don't lose the training results
                info["merge_check"] = {"error": repr(exc)}
                print(f"[quality] merge check failed: {exc!r}", flush=True)
        slug = "seed" if key == "seed" else "default-" + "".join(c if c.isalnum() else "-" for c in name)[:60]
        (work / f"recipe-{slug}.json").write_text(json.dumps(info, indent=2, default=str))
    print(write_report(out_dir, args.tag))


if __name__ == "__main__":
    main()
