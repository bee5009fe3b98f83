"""Recipe dataclasses for `python -m train`, TRL style.

A recipe is a YAML file whose keys are fields of these dataclasses: `MedchatArguments` (model, LoRA, run),
`medchat.data.DataRecipe` (data) and TRL's `SFTConfig` (everything the trainer knows). `TrlParser` reads the YAML
given with `--config` and lets any field be overridden on the command line (`--max_steps 10 --dataset PATH`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from trl import SFTConfig

from medchat.modeling import LoraSettings
from medchat.offline_model import OFFLINE_BASE_MODEL


@dataclass
class MedchatArguments:
    base_model: str = field(
        default=OFFLINE_BASE_MODEL,
        metadata={"help": f"Hub id or local dir of the base model; {OFFLINE_BASE_MODEL} is the embedded default."},
    )
    adapter: str | None = field(
        default=None, metadata={"help": "Continue training this LoRA adapter (Hub id or dir) instead of a new one."}
    )
    load_in_4bit: bool | None = field(
        default=None, metadata={"help": "QLoRA: NF4 + double quant base. Default: on, except the 135M offline model."}
    )
    attn_implementation: str | None = field(default=None, metadata={"help": "e.g. sdpa, flash_attention_2"})
    # defaults from LoraSettings, the one place they are set
    lora_r: int = LoraSettings.r
    lora_alpha: int = LoraSettings.alpha
    lora_dropout: float = LoraSettings.dropout
    lora_target_modules: list[str] = field(default_factory=lambda: LoraSettings().target_modules)
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in output_dir."})
    final_eval_limit: int = field(
        default=50,
        metadata={"help": "Held-out items scored by medchat.evaluate after training for the model card; 0 = skip."},
    )
    final_eval_max_new_tokens: int = field(default=256, metadata={"help": "Reply length in the final evaluation."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub model repo as private."})
    # Speed/memory levers of a recipe (medchat.training.speed_levers; measured in benchmarks/README.md)
    checkpoint_layers: int | None = field(
        default=None,
        metadata={"help": "With gradient_checkpointing: recompute only the first N decoder layers (None = all). "
                  "Fewer recomputed layers are faster and hold more activations."},
    )
    compile_layers: bool = field(
        default=False,
        metadata={"help": "Compile each decoder layer with torch.compile (regional compilation) when training starts."},
    )
    fuse_lora: bool = field(
        default=False,
        metadata={"help": "q/k/v and gate/up read the same input: run their LoRA A matrices as one matmul each."},
    )
    gpu_memory_gib: float | None = field(
        default=None,
        metadata={"help": "GPU memory the recipe is made for (its measured peak stays under it); python -m train "
                  "warns when the GPU it sees has less."},
    )


@dataclass
class SFTConfigForHardware(SFTConfig):
    """TRL's SFTConfig, except that bf16 defaults to what the hardware has: TRL turns it on by default and the
    Trainer then refuses to start on a CPU, so the CPU recipes would need a GPU-only flag."""

    def __post_init__(self):
        if self.bf16 is None and not self.fp16:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        super().__post_init__()
