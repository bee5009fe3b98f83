"""QLoRA supervised fine-tuning with TRL's SFTTrainer, and the files a finished run leaves behind.

`python -m train --config RECIPE.yaml` parses the recipe and calls `run_training`. TRL does the training loop,
evaluation, checkpoints and progress bars; this module chooses the model, the data and the chat format, and writes
the run's artifacts: the adapter (atomically), `run_summary.json`, `loss_curve.png`, the evaluation report and the
model card, and pushes them to the Hub when asked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from medchat.chat_format import encode_with_assistant_mask, training_chat_template
from medchat.config import MedchatArguments
from medchat.modeling import LoraSettings, fsdp_launch, load_model_and_tokenizer
from medchat.offline_model import OFFLINE_HUB_ID, is_offline_default

ADAPTER_DIRNAME = "adapter"
# Extra TrainerCallbacks (tests use it to simulate a crash mid-run).
EXTRA_CALLBACKS: list = []


def peak_memory_gib() -> dict:
    peak = {"cpu_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}
    if torch.cuda.is_available():
        peak["gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return peak


def library_versions() -> dict:
    import datasets
    import peft
    import transformers
    import trl

    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                "peft": peft.__version__, "trl": trl.__version__, "datasets": datasets.__version__}
    try:
        import bitsandbytes

        versions["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        versions["gpu"] = torch.cuda.get_device_name()
    return versions


def loss_history(log_history: list[dict]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    train = [(row["step"], row["loss"]) for row in log_history if "loss" in row]
    evals = [(row["step"], row["eval_loss"]) for row in log_history if "eval_loss" in row]
    return train, evals


def plot_loss_curve(log_history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = loss_history(log_history)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train loss", color="#4C72B0")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", color="#DD8452")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("medchat fine-tuning")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_adapter_atomically(model, tokenizer, target: Path, state_dict: dict | None = None) -> Path:
    """Write into a temporary sibling, then swap it in. A crash mid-save leaves the previous adapter (or
    `adapter.old` during the instant of the swap), never a half-written one. `state_dict`: weights gathered from
    FSDP shards (the model itself then holds only this process's shard)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, **({"state_dict": state_dict} if state_dict is not None else {}))
        tokenizer.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)
    return target


def check_assistant_masks(tokenizer, dataset, rows: int = 8) -> None:
    """Fail before training, not after hours of zero loss, if the template marks no assistant tokens."""
    for row in dataset.select(range(min(rows, len(dataset)))):
        encode_with_assistant_mask(tokenizer, row["messages"])


def run_training(args: MedchatArguments, recipe, training_args) -> Path:
    """Train, then write the adapter and its artifacts into `output_dir/adapter`. Returns that directory."""
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTTrainer

    from accelerate import PartialState

    from medchat.data import build_splits

    started = time.time()
    # One process per device under `accelerate launch` (a single process otherwise): each holds its own 4-bit copy on
    # its own GPU and only the main process writes files or pushes (train/configs/accelerate/, README "Several GPUs").
    state = PartialState(cpu=bool(training_args.use_cpu))
    set_seed(training_args.seed)
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # We push once at the end with our own model card; the Trainer would push every checkpoint with its own.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    if push_to_hub and not training_args.hub_model_id:
        raise SystemExit("--push_to_hub needs --hub_model_id user/name")

    splits = build_splits(recipe.dataset, recipe)
    print(f"[medchat] data: {len(splits.train)} train / {len(splits.eval)} eval conversations", flush=True)

    lora = LoraSettings(args.lora_r, args.lora_alpha, args.lora_dropout, list(args.lora_target_modules))
    model, tokenizer = load_model_and_tokenizer(
        args.base_model,
        adapter=args.adapter,
        load_in_4bit=args.load_in_4bit,
        lora=lora,
        for_training=True,
        attn_implementation=args.attn_implementation,
        # FSDP places (and shards) the weights itself; data-parallel pins each process's copy to its local GPU.
        device_map={"": state.local_process_index} if torch.cuda.is_available() and not fsdp_launch() else None,
    )
    if training_args.assistant_only_loss:
        # Renders byte-identical text to the stock template, plus generation markers for the loss mask.
        tokenizer.chat_template = training_chat_template(tokenizer)
        check_assistant_masks(tokenizer, splits.train)
    if training_args.include_num_input_tokens_seen in ("no", False, None):
        training_args.include_num_input_tokens_seen = "non_padding"

    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=splits.train.select_columns(["messages"]),
        eval_dataset=splits.eval.select_columns(["messages"]) if len(splits.eval) else None,
        processing_class=tokenizer,
        callbacks=list(EXTRA_CALLBACKS),
    )
    resume_from = None
    if args.resume:
        resume_from = get_last_checkpoint(str(output_dir))
        print(f"[medchat] resuming from {resume_from}" if resume_from else "[medchat] no checkpoint: fresh start")
    train_result = trainer.train(resume_from_checkpoint=resume_from)
    eval_metrics = trainer.evaluate() if len(splits.eval) else {}

    # FSDP: every process holds a shard of the adapter; gathering is a collective, so all of them take part.
    state_dict = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
    adapter_dir = output_dir / ADAPTER_DIRNAME
    if not state.is_main_process:  # the main process writes the adapter, summary, plot, report and card, and pushes
        return adapter_dir
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.config.use_cache = True  # generation after training runs with the KV cache
    adapter_dir = save_adapter_atomically(model, tokenizer, adapter_dir, state_dict=state_dict)
    if is_offline_default(args.base_model):
        # Name the public base, not this machine's cache path (after saving: peft would look the id up online).
        config_path = adapter_dir / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = OFFLINE_HUB_ID
        config_path.write_text(json.dumps(config, indent=2))

    log_history = trainer.state.log_history
    train_losses, eval_losses = loss_history(log_history)
    summary = {
        "base_model": args.base_model,
        "dataset": recipe.dataset,
        "steps": trainer.state.global_step,
        "processes": state.num_processes,  # tokens_seen is gathered over all of them
        "epochs": trainer.state.epoch,
        "tokens_seen": int(trainer.state.num_input_tokens_seen),
        "train_loss": train_result.training_loss,
        "eval_loss": eval_metrics.get("eval_loss"),
        "eval_perplexity": math.exp(eval_metrics["eval_loss"]) if "eval_loss" in eval_metrics else None,
        "train_losses": train_losses,
        "eval_losses": eval_losses,
        "wall_time_s": round(time.time() - started, 1),
        "train_runtime_s": train_result.metrics.get("train_runtime"),
        "peak_memory": peak_memory_gib(),
        "versions": library_versions(),
        "lora": dataclasses.asdict(lora),
        "training": {k: getattr(training_args, k) for k in (
            "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_length", "packing", "padding_free", "assistant_only_loss",
            "gradient_checkpointing", "optim", "lr_scheduler_type", "seed")},
        "data": splits.report,
        "resumed_from": resume_from,
    }
    summary_json = json.dumps(summary, indent=2, default=str)
    plot_loss_curve(log_history, adapter_dir / "loss_curve.png")
    shutil.copyfile(adapter_dir / "loss_curve.png", output_dir / "loss_curve.png")
    for folder in (output_dir, adapter_dir):
        (folder / "run_summary.json").write_text(summary_json)

    metrics = None
    if args.final_eval_limit > 0 and len(splits.eval):
        from medchat.evaluate import evaluate, evaluation_settings

        del trainer
        metrics = evaluate(
            splits.eval, base_model=args.base_model, adapter=str(adapter_dir), out=adapter_dir / "eval",
            limit=args.final_eval_limit, load_in_4bit=args.load_in_4bit, system_prompt=recipe.system_prompt,
            # generation is launch-bound for small models: big batches are almost free on a GPU
            batch_size=32 if torch.cuda.is_available() else 8,
            settings=evaluation_settings(max_new_tokens=args.final_eval_max_new_tokens),
        )

    from medchat.hub import build_model_card, push_adapter

    card = build_model_card(summary=summary, metrics=metrics, hub_model_id=training_args.hub_model_id)
    card.save(adapter_dir / "README.md")
    if push_to_hub:
        url = push_adapter(adapter_dir, training_args.hub_model_id, private=args.hub_private)
        print(f"[medchat] pushed to {url}")
    print(f"[medchat] adapter written to {adapter_dir}", flush=True)
    return adapter_dir
