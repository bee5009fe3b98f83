"""Issue 14 training benchmark: every recipe in its own fresh process, as a user's run would be.

For each row (a recipe YAML of train/configs, optionally with keys overridden: one lever off at a time) the parent
starts `python -m benchmarks.bench_train --child ROW`, which builds the Meta-Llama-3-8B shape with random weights on
the GPU (NF4 + double quant through transformers' own bitsandbytes loader, `bench_speed.build_random_4bit_model`),
caps the process's GPU memory at the recipe's `gpu_memory_gib` (`torch.cuda.set_per_process_memory_fraction`), applies
the recipe's levers exactly as `python -m train` does (`medchat.training.speed_levers`: varlen attention, Liger,
partial checkpointing, TRL's activation offloading) and trains with TRL's SFTTrainer on real HealthCareMagic rows for
`--warmup` + `--steps` optimizer steps. Reported per row: median step time with min and max over the timed steps,
real (non-pad) tokens/s, tokens/step, peak allocated and reserved GiB, MFU (4 x matmul params x tokens/s over the
dense bf16 peak: LoRA on a frozen base needs no weight gradients of the base). The whole list runs `--runs` times
(the runs must agree within 10 %).

    python -m benchmarks.bench_train --out DIR --rows 8gb,24gb,default --runs 2
    python -m benchmarks.bench_train --out DIR --rows 8gb,8gb:use_liger_kernel=false,8gb:attn_implementation=sdpa
    python -m benchmarks.bench_train --peer unsloth ...     # also times Unsloth on the same model and rows
    python -m benchmarks.bench_train --tiny --steps 2 --warmup 1 --rows default --out /tmp/bt   # CPU smoke test

A row is `NAME[:key=value...]`: NAME is `8gb`, `24gb`, `default`, `seed` or a YAML path; `key=value` overrides a
recipe key (YAML value syntax: `false`, `none`, `16`), `cap=GiB` (or `cap=none`) the memory cap. A row named twice is
timed twice, each time in a fresh process (run 1, run 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RECIPES = {
    "8gb": ROOT / "train/configs/llama3-8b-qlora-8gb.yaml",
    "24gb": ROOT / "train/configs/llama3-8b-qlora-24gb.yaml",
    "default": ROOT / "train/configs/llama3-8b-qlora.yaml",
}
# Dense bf16 peak (vendor datasheet, no sparsity) used for MFU; the H200 measured 769-798 TFLOP/s on a large matmul.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "4090": 165.0, "3090": 71.0}


def log(msg: str) -> None:
    print(f"[bench_train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- rows


def parse_row(spec: str) -> dict:
    """`8gb:use_liger_kernel=false:cap=8` -> recipe path, overrides, memory cap (None: the recipe's gpu_memory_gib)."""
    import yaml

    name, *pairs = spec.split(":")
    overrides, cap = {}, "recipe"
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"row {spec!r}: {pair!r} is not key=value")
        parsed = yaml.safe_load(value)
        if key == "cap":
            cap = None if parsed in (None, "none") else float(parsed)
        else:
            overrides[key] = None if parsed == "none" else parsed
    path = None if name == "seed" else Path(RECIPES.get(name, name))
    if path is not None and not path.is_file():
        raise SystemExit(f"row {spec!r}: no recipe {path} (names: {', '.join(RECIPES)}, seed, or a YAML path)")
    return {"spec": spec, "name": name, "recipe": str(path) if path else None, "overrides": overrides, "cap": cap}


def row_recipe(row: dict) -> tuple[dict, dict, dict]:
    """(lora keys, medchat keys, SFTConfig keys) of a row, overrides applied."""
    from benchmarks.common import MEDCHAT_KEYS, SEED_LORA, SEED_RECIPE, read_recipe

    if row["recipe"] is None:
        medchat, sft = {}, dict(SEED_RECIPE)
        lora = dict(SEED_LORA)
    else:
        medchat, sft = read_recipe(Path(row["recipe"]))
        lora = {**SEED_LORA, **{k: v for k, v in medchat.items() if k.startswith("lora_")}}
    for key, value in row["overrides"].items():
        if key.startswith("lora_"):
            lora[key] = value
        elif key in MEDCHAT_KEYS:
            medchat[key] = value
        else:
            sft[key] = value
    return lora, medchat, sft


# --------------------------------------------------------------------------- the child: one row, one process


def run_child(row: dict, args) -> dict:
    import torch

    from benchmarks.bench_speed import LLAMA3_8B, TINY, build_random_4bit_model, matmul_params
    from benchmarks.common import (LLAMA3_TOKENIZER, environment, load_rows, make_step_timer, prepare_for_training,
                                   sft_config, tokenized_dataset)

    result = {"spec": row["spec"], "recipe": row["recipe"], "overrides": row["overrides"], "pid": os.getpid()}
    lora, medchat, sft = row_recipe(row)
    result.update(lora=lora, medchat=medchat, sft=sft)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    cap = medchat.get("gpu_memory_gib") if row["cap"] == "recipe" else row["cap"]
    result["mem_cap_gib"] = cap
    result["environment"] = environment()
    cfg = TINY if args.tiny else LLAMA3_8B

    from transformers import AutoTokenizer
    from trl import SFTTrainer

    from medchat.chat_format import prepare_tokenizer, training_chat_template
    from medchat.config import MedchatArguments
    from medchat.training import speed_levers

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA3_TOKENIZER))
    prepare_tokenizer(tokenizer)
    rows = load_rows(limit=args.data_rows)
    train_ds = tokenized_dataset(tokenizer, rows)
    steps = args.steps if row["recipe"] else max(args.steps // 2, 1)  # the seed is 8x slower per token
    sft_args = sft_config(sft, output_dir=str(Path(args.work) / f"row{os.getpid()}"),
                          max_steps=args.warmup + steps, cuda=cuda)
    levers = MedchatArguments(attn_implementation=medchat.get("attn_implementation"),
                              checkpoint_layers=medchat.get("checkpoint_layers"),
                              compile_layers=bool(medchat.get("compile_layers")),
                              fuse_lora=bool(medchat.get("fuse_lora")),
                              gpu_memory_gib=medchat.get("gpu_memory_gib"))
    callbacks = speed_levers(levers, sft_args)  # what python -m train applies; may turn levers off (logged)
    result["levers_applied"] = {"attn_implementation": levers.attn_implementation,
                                "use_liger_kernel": bool(sft_args.use_liger_kernel),
                                "activation_offloading": bool(sft_args.activation_offloading),
                                "gradient_checkpointing": bool(sft_args.gradient_checkpointing),
                                "checkpoint_layers": levers.checkpoint_layers,
                                "compile_layers": levers.compile_layers, "fuse_lora": levers.fuse_lora}
    t0 = time.perf_counter()
    model = build_random_4bit_model(cfg, device)
    prepare_tokenizer(tokenizer, model)
    if levers.attn_implementation:
        model.config._attn_implementation = levers.attn_implementation
    if cuda:
        torch.cuda.synchronize()
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        result["gpu_total_gib"] = total
        # The cap starts after the model is built: the benchmark draws a bf16 state dict of the whole model on the
        # GPU for bitsandbytes to quantize (16 GiB at once), where a real run loads checkpoint shards one by one.
        # From here on (LoRA, optimizer, every training step) the process can use no more than the card would have.
        torch.cuda.empty_cache()
        if cap:
            torch.cuda.set_per_process_memory_fraction(min(float(cap) / total, 1.0))
    result["model_build_s"] = time.perf_counter() - t0
    peft_model = prepare_for_training(model, lora, upcast_to_fp32=False)  # medchat's loader: no fp32 upcast
    tokenizer.chat_template = training_chat_template(tokenizer)
    timer = make_step_timer(args.warmup)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(model=peft_model, args=sft_args, train_dataset=train_ds, processing_class=tokenizer,
                         callbacks=[timer, *callbacks])
    t0 = time.perf_counter()
    trainer.train()
    result["train_wall_s"] = time.perf_counter() - t0
    result.update(timer.summary())
    result["recomputed_layers"] = next((c.recomputed for c in callbacks if hasattr(c, "recomputed")), None)
    if cuda:
        result["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / 2**30
        result["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        if peak:
            result["mfu"] = 4 * matmul_params(cfg) * result["tokens_per_s"] / (peak * 1e12)
    result["final_train_loss"] = next((r["train_loss"] for r in reversed(trainer.state.log_history)
                                       if "train_loss" in r), None)
    return result


def run_unsloth_child(args) -> dict:
    """The peer on the same model shape and rows: Unsloth's FastLanguageModel (4-bit, its own kernels, offloaded
    checkpointing), padding-free batches of `--peer-batch` rows. Unsloth loads from a directory, so the random
    model is saved first. Code path only here: Unsloth is not installed on this workplace's GPU machine."""
    import unsloth  # noqa: F401 - must be imported before transformers to patch it
    from unsloth import FastLanguageModel

    import torch
    from trl import SFTTrainer

    from benchmarks.bench_speed import LLAMA3_8B, TINY, build_random_4bit_model, matmul_params
    from benchmarks.common import (LLAMA3_TOKENIZER, environment, load_rows, make_step_timer, sft_config,
                                   tokenized_dataset)
    from medchat.chat_format import prepare_tokenizer, training_chat_template
    from medchat.modeling import LORA_TARGET_MODULES

    cfg = TINY if args.tiny else LLAMA3_8B
    result = {"spec": f"unsloth:bs={args.peer_batch}", "environment": environment(),
              "unsloth": getattr(unsloth, "__version__", None)}
    device = torch.device("cuda")
    folder = Path(args.work) / "unsloth-base"
    model = build_random_4bit_model(cfg, device, quantize=False)
    model.save_pretrained(folder)
    del model
    torch.cuda.empty_cache()
    model, _ = FastLanguageModel.from_pretrained(str(folder), max_seq_length=512, load_in_4bit=True,
                                                           dtype=torch.bfloat16)
    model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules=list(LORA_TARGET_MODULES),
                                             use_gradient_checkpointing="unsloth")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA3_TOKENIZER))
    prepare_tokenizer(tokenizer, model)
    train_ds = tokenized_dataset(tokenizer, load_rows(limit=args.data_rows))
    tokenizer.chat_template = training_chat_template(tokenizer)
    sft = {"per_device_train_batch_size": args.peer_batch, "gradient_accumulation_steps": 1, "max_length": 512,
           "padding_free": True, "learning_rate": 1.2e-3, "optim": "adamw_8bit", "bf16": True}
    timer = make_step_timer(args.warmup)
    torch.cuda.reset_peak_memory_stats()
    trainer = SFTTrainer(model=model, args=sft_config(sft, str(Path(args.work) / "unsloth"),
                                                      args.warmup + args.steps, cuda=True),
                         train_dataset=train_ds, processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    result.update(timer.summary())
    result["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / 2**30
    result["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    result["mfu"] = 4 * matmul_params(cfg) * result["tokens_per_s"] / (989e12)
    return result


# --------------------------------------------------------------------------- the parent: fresh processes, report


def child_command(spec: str, out_json: Path, args) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.bench_train", "--child", spec, "--child-out", str(out_json),
           "--warmup", str(args.warmup), "--steps", str(args.steps), "--data-rows", str(args.data_rows),
           "--work", args.work, "--peer-batch", str(args.peer_batch)]
    return cmd + (["--tiny"] if args.tiny else [])


def run_rows(args, specs: list[str], out_dir: Path, results: dict, report) -> None:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")  # what python -m train sets
    for _ in range(args.runs):
        for spec in specs:
            run = 1 + sum(r["spec"] == spec for r in results["rows"]) + sum(s.endswith(f": {spec}")
                                                                             for s in results["skipped"])
            if time.perf_counter() - started > args.time_budget:
                results["skipped"].append(f"run {run}: {spec}")
                log(f"skipping run {run} {spec}: time budget")
                continue
            record = {"run": run, "spec": spec}
            if spec.startswith("unsloth") and importlib.util.find_spec("unsloth") is None:
                record["error"] = "unsloth is not installed (pip install unsloth): peer not timed"
                results["rows"].append(record)
                continue
            out_json = out_dir / f".child-{run}-{len(results['rows'])}.json"
            log_path = out_dir / "bench_train_children.log"
            t0 = time.perf_counter()
            with open(log_path, "a") as child_log:
                child_log.write(f"\n===== run {run} {spec}\n")
                child_log.flush()
                try:
                    proc = subprocess.run(child_command(spec, out_json, args), stdout=child_log,
                                          stderr=subprocess.STDOUT, env=env, timeout=args.child_timeout, cwd=ROOT)
                    record["rc"] = proc.returncode
                except subprocess.TimeoutExpired:
                    record["rc"] = None
                    record["error"] = f"timed out after {args.child_timeout} s"
            record["process_wall_s"] = time.perf_counter() - t0
            if out_json.is_file():
                record.update(json.loads(out_json.read_text()))
                out_json.unlink()
            elif "error" not in record:
                record["error"] = f"child exited {record.get('rc')} (see {log_path.name})"
            results["rows"].append(record)
            log(f"run {run} {spec}: " + json.dumps({k: record.get(k) for k in (
                "s_per_step_median", "tokens_per_s", "tokens_per_step", "peak_reserved_gib", "mfu", "error")}))
            report(results)


def summarize(results: dict) -> dict:
    """Per row spec: both runs' medians and their spread; per lever row: the gain of the lever it turns off."""
    by_spec: dict[str, list[dict]] = {}
    for r in results["rows"]:
        if r.get("tokens_per_s"):
            by_spec.setdefault(r["spec"], []).append(r)
    repro = []
    for spec, rows in by_spec.items():
        med = [r["s_per_step_median"] for r in rows]
        tps = [r["tokens_per_s"] for r in rows]
        repro.append({"spec": spec, "runs": len(rows), "median_s_per_step": med, "tokens_per_s": tps,
                      "spread": (max(med) / min(med) - 1) if len(med) > 1 else None})
    levers = []
    for spec, rows in by_spec.items():
        base, _, change = spec.partition(":")
        if not change or base not in by_spec:
            continue
        with_lever = statistics.median(r["tokens_per_s"] for r in by_spec[base])
        without = statistics.median(r["tokens_per_s"] for r in rows)
        levers.append({"recipe": base, "change": change, "tokens_per_s_changed": without,
                       "tokens_per_s_recipe": with_lever, "recipe_vs_changed": with_lever / without - 1,
                       "reserved_gib_changed": statistics.median(r["peak_reserved_gib"] for r in rows
                                                                 if r.get("peak_reserved_gib") is not None)
                       if any(r.get("peak_reserved_gib") is not None for r in rows) else None,
                       "reserved_gib_recipe": statistics.median(r["peak_reserved_gib"] for r in by_spec[base]
                                                                if r.get("peak_reserved_gib") is not None)
                       if any(r.get("peak_reserved_gib") is not None for r in by_spec[base]) else None})
    failed = {r["spec"]: r.get("error") for r in results["rows"] if r.get("error")}
    return {"reproducibility": repro, "levers": levers, "failed": failed}


def write_report(results: dict, out_dir: Path, tag: str) -> str:
    from benchmarks.common import markdown_table, save_markdown_and_json

    results["summary"] = summarize(results)
    env = next((r["environment"] for r in results["rows"] if r.get("environment")), {})
    rows = []
    for r in results["rows"]:
        row = dict(r)
        if r.get("s_per_step_median") is not None:
            row["step"] = (f"{r['s_per_step_median']:.3f} ({r['s_per_step_min']:.3f}-{r['s_per_step_max']:.3f})")
        row["cap"] = f"{r['mem_cap_gib']:g}" if r.get("mem_cap_gib") else "none"
        row["fits"] = ("yes" if r.get("peak_reserved_gib") is not None and (not r.get("mem_cap_gib") or
                                                                           r["peak_reserved_gib"] <= r["mem_cap_gib"])
                       else ("OOM" if "OutOfMemory" in str(r.get("error", "")) else None))
        rows.append(row)
    lines = [
        f"# Training benchmark (issue 14): {env.get('gpu') or 'CPU'}", "",
        f"{env.get('date_utc')} UTC; torch {env.get('torch')} (CUDA {env.get('cuda')}), transformers "
        f"{env.get('transformers')}, peft {env.get('peft')}, trl {env.get('trl')}, bitsandbytes "
        f"{env.get('bitsandbytes')}, liger-kernel {env.get('liger_kernel')}, driver {env.get('driver')}.", "",
        f"Command: `{results['command']}`", "",
        f"Every row is a fresh process (`--child`): Llama-3-8B shape, random weights, NF4 + double quant, LoRA r16 on "
        f"the 7 projections, {results['args']['data_rows']} real HealthCareMagic rows, max length 512; "
        f"{results['args']['warmup']} warm-up then {results['args']['steps']} timed optimizer steps; memory capped "
        f"with `set_per_process_memory_fraction` at the recipe's `gpu_memory_gib` (cap column); real = non-pad "
        f"tokens; MFU = 4 x {results['matmul_params'] / 1e9:.2f}e9 x tok/s / 989 TFLOP/s (dense bf16 datasheet).", "",
        markdown_table(rows, [("run", "run"), ("spec", "row"), ("cap", "cap GiB"),
                              ("step", "s/step median (min-max)"), ("tokens_per_s", "real tok/s"),
                              ("tokens_per_step", "tok/step"), ("peak_alloc_gib", "peak alloc GiB"),
                              ("peak_reserved_gib", "peak reserved GiB"), ("fits", "fits cap"), ("mfu", "MFU"),
                              ("steps_timed", "timed steps"), ("error", "error")]), "",
    ]
    summary = results["summary"]
    if summary["reproducibility"]:
        lines += ["## Run to run", "", markdown_table(
            [{**r, "med": ", ".join(f"{m:.3f}" for m in r["median_s_per_step"]),
              "tps": ", ".join(f"{t:,.0f}" for t in r["tokens_per_s"]),
              "spread_pct": None if r["spread"] is None else f"{100 * r['spread']:.1f} %"}
             for r in summary["reproducibility"]],
            [("spec", "row"), ("med", "median s/step per run"), ("tps", "real tok/s per run"),
             ("spread_pct", "max/min - 1")]), ""]
    if summary["levers"]:
        lines += ["## Levers (the recipe vs the recipe with one change)", "", markdown_table(
            [{**r, "gain": f"{100 * r['recipe_vs_changed']:+.1f} %"} for r in summary["levers"]],
            [("recipe", "recipe"), ("change", "change"), ("tokens_per_s_recipe", "recipe tok/s"),
             ("tokens_per_s_changed", "changed tok/s"), ("gain", "recipe vs changed"),
             ("reserved_gib_recipe", "recipe reserved GiB"), ("reserved_gib_changed", "changed reserved GiB")]), ""]
    if summary["failed"]:
        lines += [f"- Failed or not fitting: {summary['failed']}"]
    if results["skipped"]:
        lines += [f"- Not run (time budget): {', '.join(results['skipped'])}"]
    lines.append("")
    return save_markdown_and_json(out_dir, f"train_{tag}", lines, results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="8gb,24gb,default", help="comma list of rows (see the module doc)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--data-rows", type=int, default=600)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--work", default="/tmp/medchat-bench-train")
    parser.add_argument("--time-budget", type=float, default=1e9, help="seconds; later rows are skipped")
    parser.add_argument("--child-timeout", type=float, default=420)
    parser.add_argument("--peer", choices=["unsloth"], default=None, help="also time the peer (when installed)")
    parser.add_argument("--peer-batch", type=int, default=16, help="rows per Unsloth batch (16 rows ~ 3.9k tokens)")
    parser.add_argument("--tiny", action="store_true", help="tiny Llama-3-shaped model (CPU smoke test)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        try:
            result = run_unsloth_child(args) if args.child.startswith("unsloth") else run_child(parse_row(args.child),
                                                                                                  args)
        except BaseException as exc:  # noqa: BLE001 - the parent records why, the run goes on
            traceback.print_exc()
            result = {"spec": args.child, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                      if str(exc) else type(exc).__name__}
        Path(args.child_out).write_text(json.dumps(result, default=str))
        return result

    from benchmarks.bench_speed import LLAMA3_8B, TINY, matmul_params

    specs = [s for s in args.rows.split(",") if s]
    for spec in specs:
        if not spec.startswith("unsloth"):
            parse_row(spec)  # a typo fails now, not after the first rows ran
    if args.peer == "unsloth":
        specs.append(f"unsloth:bs={args.peer_batch}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.tag or ("tiny-cpu" if args.tiny else "gpu")
    results = {"command": "python -m benchmarks.bench_train " + " ".join(argv if argv is not None else sys.argv[1:]),
               "args": vars(args), "matmul_params": matmul_params(TINY if args.tiny else LLAMA3_8B), "rows": [],
               "skipped": []}
    run_rows(args, specs, out_dir, results, lambda res: write_report(res, out_dir, tag))
    md = write_report(results, out_dir, tag)
    print(md, flush=True)
    return results


if __name__ == "__main__":
    main()
