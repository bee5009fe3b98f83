"""QLoRA supervised fine-tuning with TRL's SFTTrainer, and the files a finished run leaves behind.

`python -m train --config RECIPE.yaml` parses the recipe and calls `run_training`. TRL does the training loop,
evaluation, checkpoints and progress bars; this module chooses the model, the data and the chat format, and writes
the run's artifacts: the adapter with its resolved recipe `recipe.yaml` (atomically), `run_summary.json`,
`loss_curve.png`, the evaluation report and the model card, and pushes them to the Hub when asked.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib.util
import json
import logging
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from trl import SFTTrainer

from medchat.chat_format import encode_with_assistant_mask, training_chat_template
from medchat.config import MedchatArguments
from medchat.hub import RECIPE_FILENAME
from medchat.modeling import LoraSettings, fsdp_launch, load_model_and_tokenizer
from medchat.offline_model import OFFLINE_HUB_ID, is_offline_default

logger = logging.getLogger(__name__)

ADAPTER_DIRNAME = "adapter"
RECIPES_DIR = Path(__file__).resolve().parents[1] / "train" / "configs"
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


def save_adapter_atomically(model, tokenizer, target: Path, extra_files: dict[str, str] | None = None,
                            state_dict: dict | None = None) -> Path:
    """Write into a temporary sibling, then swap it in. A crash mid-save leaves the previous adapter (or
    `adapter.old` during the instant of the swap), never a half-written one. `extra_files` (name -> text, e.g. the
    recipe) are written into the same temporary folder, so they arrive with the weights or not at all. `state_dict`:
    weights gathered from FSDP shards (the model itself then holds only this process's shard)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-tmp-", dir=target.parent))
    try:
        # mkdtemp makes it 0700; give it the mode of any folder mkdir makes (0755 under umask 022), as its files
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        model.save_pretrained(tmp, **({"state_dict": state_dict} if state_dict is not None else {}))
        tokenizer.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
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


# Never written into recipe.yaml: it is uploaded with the adapter and shown in its model card.
SECRET_FIELDS = frozenset({"hub_token"})
# How this run was launched, not what made the adapter (a rerun from recipe.yaml must not resume or push).
# include_num_input_tokens_seen: run_training sets it itself (and its "non_padding" does not parse back as a flag).
RUN_ONLY_FIELDS = frozenset({"resume", "push_to_hub", "hub_private", "include_num_input_tokens_seen"})
# SFTConfig fields always written, default or not: the optimisation a reader looks for first.
KEY_TRAINING_FIELDS = (
    "output_dir", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "optim", "max_length",
    "packing", "padding_free", "assistant_only_loss", "gradient_checkpointing", "bf16", "fp16", "seed",
)


def _plain(value):
    """A YAML-safe value (enums by value, dataclasses as mappings)."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def resolved_recipe(args: MedchatArguments, recipe, training_args) -> dict:
    """The recipe this run resolved to, as one flat mapping of `MedchatArguments`, `DataRecipe` and `SFTConfig`
    fields: the very format `python -m train --config` reads, so `recipe.yaml` trains the adapter again. Every
    medchat and data field; of TRL's SFTConfig the key optimisation fields and every field that differs from its
    default (after the run resolved it: bf16 from the hardware, token counting). No secrets."""
    fields: dict = {}
    for obj in (args, recipe):
        for f in dataclasses.fields(obj):
            fields[f.name] = _plain(getattr(obj, f.name))
    for f in dataclasses.fields(training_args):
        if not f.init or f.name in fields:
            continue
        value = _plain(getattr(training_args, f.name))
        default = _field_default(f)
        if f.name in KEY_TRAINING_FIELDS or (default is dataclasses.MISSING or value != _plain(default)):
            fields[f.name] = value
    return {k: v for k, v in fields.items() if k not in SECRET_FIELDS and k not in RUN_ONLY_FIELDS}


def recipe_yaml(recipe_fields: dict) -> str:
    import yaml

    header = ("# The resolved recipe of this adapter, written by `python -m train` with the weights. Train it again:\n"
              "#   python -m train --config recipe.yaml\n"
              "# `python -m medchat.evaluate --adapter DIR` rebuilds its held-out split from these fields.\n")
    return header + yaml.safe_dump(recipe_fields, sort_keys=False, allow_unicode=True, width=118)


class MedchatSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer without its model card: at every checkpoint it wrote `output_dir/README.md` saying
    "fine-tuned version of [None]" (a base given as a local path). medchat writes the adapter's card itself
    (`medchat.hub.build_model_card`), next to the weights."""

    def create_model_card(self, *args, **kwargs) -> None:
        return None


def check_assistant_masks(tokenizer, dataset, rows: int = 8) -> None:
    """Fail before training, not after hours of zero loss, if the template marks no assistant tokens."""
    for row in dataset.select(range(min(rows, len(dataset)))):
        encode_with_assistant_mask(tokenizer, row["messages"])


# --------------------------------------------------------------------------- speed levers of a recipe


def checkpoint_only_first_layers(model, n: int) -> int:
    """Keep activation recomputation (gradient checkpointing) on the first `n` decoder layers only; returns how many
    layers recompute. The other layers keep their activations: faster, more memory (the 24 GiB recipe)."""
    layers = decoder_layers(model)
    for index, layer in enumerate(layers):
        layer.gradient_checkpointing = bool(layer.gradient_checkpointing) and index < n
    return sum(bool(layer.gradient_checkpointing) for layer in layers)


class CheckpointFirstLayers(TrainerCallback):
    """`checkpoint_layers: N` of a recipe. The Trainer turns checkpointing on for every layer when training starts,
    so the choice is applied after that (and again at each step: an idempotent flag per layer)."""

    def __init__(self, n: int):
        self.n = int(n)
        self.recomputed: int | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.recomputed = checkpoint_only_first_layers(model, self.n)
        print(f"[medchat] gradient checkpointing on {self.recomputed} decoder layers (checkpoint_layers={self.n})",
              flush=True)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        checkpoint_only_first_layers(model, self.n)


def decoder_layers(model) -> list:
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


class SharedInputLoRA:
    """`fuse_lora: true`: peft LoRA layers that read the same input (q/k/v, gate/up) compute `x @ A^T` as one matmul
    over their A matrices stacked, then each its own B; the base projections are untouched. Falls back to peft's own
    forward whenever that would differ (adapter disabled or merged, several adapters, dropout). Hand-written because
    peft runs each projection's adapter alone: measured on an H200 (benchmarks/README.md), +5.0 % tokens/s on the
    default recipe's 16-bin steps and -7.0 % on the 24 GiB recipe's checkpointed 8-bin ones, so it is opt-in."""

    GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))

    def __init__(self, members: list):
        self.members = members
        self.x = self.parts = None
        for index, member in enumerate(members):
            member.forward = functools.partial(self.forward, index)

    @classmethod
    def install(cls, model) -> int:
        from peft.tuners.lora import LoraLayer  # plain and 4-bit (bitsandbytes) projections alike

        groups = 0
        for module in model.modules():
            for names in cls.GROUPS:
                members = [getattr(module, name, None) for name in names]
                if all(isinstance(m, LoraLayer) and isinstance(m, torch.nn.Module) for m in members):
                    cls(members)
                    groups += 1
        return groups

    def _plain(self, member) -> bool:
        if member.disable_adapters or member.merged or len(member.active_adapters) != 1:
            return True
        name = member.active_adapters[0]
        return not isinstance(member.lora_dropout[name], torch.nn.Identity) or name not in member.lora_A

    def forward(self, index: int, x, *args, **kwargs):
        member = self.members[index]
        if any(self._plain(m) for m in self.members):
            return type(member).forward(member, x, *args, **kwargs)
        name = member.active_adapters[0]
        if index == 0 or self.x is not x:
            stacked = torch.cat([m.lora_A[name].weight for m in self.members])
            self.parts = torch.nn.functional.linear(x.to(stacked.dtype), stacked).split(
                [m.r[name] for m in self.members], dim=-1)
            self.x = x
        result = member.base_layer(x, *args, **kwargs)
        lora = member.lora_B[name](self.parts[index]) * member.scaling[name]
        if index == len(self.members) - 1:
            self.x = self.parts = None  # no reference to the layer's input outlives the group
        return result + lora.to(result.dtype)


class ApplyLayerLevers(TrainerCallback):
    """`compile_layers` / `fuse_lora` of a recipe, applied to the model the Trainer trains (after peft wrapped it)."""

    def __init__(self, compile_layers: bool, fuse_lora: bool):
        self.compile_layers, self.fuse_lora = bool(compile_layers), bool(fuse_lora)
        self.applied: dict = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.fuse_lora:
            self.applied["fused_lora_groups"] = SharedInputLoRA.install(model)
        if self.compile_layers:
            layers = decoder_layers(model)
            for layer in layers:
                layer.compile()
            self.applied["compiled_layers"] = len(layers)
        print(f"[medchat] layer levers: {self.applied}", flush=True)


def recipe_memory(path: Path) -> float | None:
    """`gpu_memory_gib` of a recipe YAML (None if it declares none)."""
    import yaml

    value = (yaml.safe_load(Path(path).read_text()) or {}).get("gpu_memory_gib")
    return float(value) if value is not None else None


MEMORY_TOLERANCE = 0.95


def memory_fit_warning(need_gib: float | None, have_gib: float | None, recipes_dir: Path = RECIPES_DIR) -> str | None:
    """The warning `python -m train` prints when the recipe is made for more GPU memory than the GPU has, naming the
    recipes that fit; None when it fits or either number is unknown."""
    # Cards sold as "24 GB" report 23.6-24.0 GiB to torch: a recipe for 24 GiB is meant for them.
    if need_gib is None or have_gib is None or have_gib >= MEMORY_TOLERANCE * need_gib:
        return None
    fitting = sorted(
        ((gib, path.name) for path in Path(recipes_dir).glob("*.yaml")
         if (gib := recipe_memory(path)) is not None and MEMORY_TOLERANCE * gib <= have_gib),
        reverse=True,
    )
    advice = (f" Recipes that fit: {', '.join(f'{name} ({gib:g} GiB)' for gib, name in fitting)}."
              if fitting else " No recipe in train/configs fits: lower per_device_train_batch_size and raise "
              "gradient_accumulation_steps, or turn on gradient_checkpointing and activation_offloading.")
    return (f"this recipe is made for {need_gib:g} GiB of GPU memory and this GPU has {have_gib:.1f} GiB: it will "
            f"likely run out of memory.{advice}")


def gpu_memory_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2**30


def speed_levers(args: MedchatArguments, training_args) -> list:
    """Apply a recipe's speed levers to this machine before the model loads: warn when the recipe will not fit the
    GPU, register the varlen attention it names, drop levers this machine cannot run (saying so), and return the
    TrainerCallbacks the levers need."""
    warning = memory_fit_warning(args.gpu_memory_gib, gpu_memory_gib())
    if warning:
        print(f"[medchat] WARNING: {warning}", file=sys.stderr, flush=True)
    if args.attn_implementation == "sdpa_varlen":
        from medchat.varlen_attention import register

        register()
    cuda = torch.cuda.is_available()
    if getattr(training_args, "use_liger_kernel", False) and (not cuda or importlib.util.find_spec("liger_kernel") is None):
        print("[medchat] use_liger_kernel needs a CUDA GPU and `pip install liger-kernel`: training without it "
              "(slower, more memory)", file=sys.stderr, flush=True)
        training_args.use_liger_kernel = False
    if getattr(training_args, "activation_offloading", False) and not cuda:
        print("[medchat] activation_offloading needs a CUDA GPU: off", file=sys.stderr, flush=True)
        training_args.activation_offloading = False
    callbacks = []
    if args.checkpoint_layers is not None and training_args.gradient_checkpointing:
        callbacks.append(CheckpointFirstLayers(args.checkpoint_layers))
    if args.compile_layers or args.fuse_lora:
        callbacks.append(ApplyLayerLevers(args.compile_layers, args.fuse_lora))
    return callbacks


def run_training(args: MedchatArguments, recipe, training_args) -> Path:
    """Train, then write the adapter and its artifacts into `output_dir/adapter`. Returns that directory."""
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

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
    logger.info("data: %d train / %d eval conversations", len(splits.train), len(splits.eval))

    lever_callbacks = speed_levers(args, training_args)
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

    trainer = MedchatSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=splits.train.select_columns(["messages"]),
        eval_dataset=splits.eval.select_columns(["messages"]) if len(splits.eval) else None,
        processing_class=tokenizer,
        callbacks=lever_callbacks + list(EXTRA_CALLBACKS),
    )
    resume_from = None
    if args.resume:
        resume_from = get_last_checkpoint(str(output_dir))
        logger.info("resuming from %s", resume_from or "nothing: no checkpoint, fresh start")
    train_result = trainer.train(resume_from_checkpoint=resume_from)
    eval_metrics = trainer.evaluate() if len(splits.eval) else {}

    # FSDP: every process holds a shard of the adapter; gathering is a collective, so all of them take part.
    state_dict = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
    adapter_dir = output_dir / ADAPTER_DIRNAME
    if not state.is_main_process:  # the main process writes the adapter, summary, plot, report and card, and pushes
        return adapter_dir
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.config.use_cache = True  # generation after training runs with the KV cache
    recipe_text = recipe_yaml(resolved_recipe(args, recipe, training_args))
    adapter_dir = save_adapter_atomically(model, tokenizer, adapter_dir, extra_files={RECIPE_FILENAME: recipe_text},
                                          state_dict=state_dict)
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
            "gradient_checkpointing", "activation_offloading", "use_liger_kernel", "optim", "lr_scheduler_type",
            "seed")},
        "checkpoint_layers": args.checkpoint_layers,
        "attn_implementation": args.attn_implementation,
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

    card = build_model_card(summary=summary, metrics=metrics, hub_model_id=training_args.hub_model_id,
                            recipe=recipe_text)
    card.save(adapter_dir / "README.md")
    if push_to_hub:
        url = push_adapter(adapter_dir, training_args.hub_model_id, private=args.hub_private)
        logger.info("pushed to %s", url)
    logger.info("adapter written to %s", adapter_dir)
    return adapter_dir
