"""Export a merged model: the LoRA adapter folded into its 16-bit base, ready for an inference engine.

    python -m medchat.export --adapter ID_OR_DIR --out DIR [--dtype bfloat16|float32] [--base_model ID_OR_DIR]
                             [--push_to_hub --hub_model_id you/medchat-llama3-8b-merged [--private]]

The base is loaded in bf16 (or fp32) on the CPU, never in 4-bit: peft's `merge_and_unload` adds B·A·alpha/r to
each 16-bit weight. Merging into a re-quantized NF4 base rounds that small delta away (it kept ~2 % of the shipped
adapter's effect, benchmarks/results/merge_check_smollm2-shipped-adapter.md), so that path is refused. Before
saving, the merged model's logits on a probe conversation are compared with base + unmerged adapter; the numbers go
into the model card. The folder holds safetensors, the tokenizer with the chat template, a generation config that
stops on the end-of-turn token and carries medchat's sampling defaults (vLLM and `transformers serve` read it), and
a model card naming the base and the adapter. Engines serve it like any Hub model (README, "Deploy").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from medchat.offline_model import OFFLINE_HUB_ID, is_offline_default

REFUSE_4BIT = (
    "Refusing to merge into a 4-bit base: re-quantizing the merged weights to NF4 rounds the LoRA delta away "
    "(it kept ~2 % of the shipped adapter's effect, benchmarks/results/merge_check_smollm2-shipped-adapter.md). "
    "Export merges into the 16-bit base (--dtype bfloat16, the default, or float32); serve the 4-bit base with the "
    "unmerged adapter instead (vLLM --enable-lora, or medchat in-process)."
)
# What a pushed export holds.
UPLOAD_PATTERNS = [
    "*.safetensors", "*.safetensors.index.json", "config.json", "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "README.md", "export_summary.json",
    "adapter_run_summary.json",
]
PROBE_MESSAGES = [
    {"role": "system", "content": "You are a careful doctor answering a patient online."},
    {"role": "user", "content": "I have had a dry cough and a mild fever for three days. What should I do?"},
    {"role": "assistant", "content": "A dry cough with a mild fever for a few days is most often a viral infection."},
]
# Largest accepted relative error ||merged - unmerged|| / ||unmerged - base|| of the probe's logits: the share of the
# adapter's effect the merge gets wrong. Measured on the shipped adapter: fp32 ~1e-5 (summation order only), bf16
# 0.048 (every merged weight rounded to 8 mantissa bits; top-1 agreement 0.98, KL 0.0015 against the adapter's 0.50);
# a merge into re-quantized NF4 gets ~0.98 wrong.
TOLERANCE = {"float32": 1e-3, "bfloat16": 0.1}


@dataclass
class ExportArguments:
    adapter: str = field(metadata={"help": "LoRA adapter to merge: Hub id or local directory"})
    out: str = field(metadata={"help": "output directory of the merged model (written atomically)"})
    base_model: str | None = field(default=None, metadata={"help": "base model (default: the adapter's base)"})
    dtype: str = field(default="bfloat16", metadata={"help": "bfloat16 or float32: the dtype of the merged weights"})
    load_in_4bit: bool = field(default=False, metadata={"help": "refused: merging into 4-bit loses the adapter"})
    push_to_hub: bool = field(default=False, metadata={"help": "upload the merged folder to --hub_model_id"})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push_to_hub, user/name"})
    private: bool = field(default=False, metadata={"help": "create the Hub repo private"})


def _dtype(name: str) -> torch.dtype:
    dtypes = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
    if name not in dtypes:
        raise SystemExit(f"--dtype must be bfloat16 or float32, not {name!r} (4-bit and 8-bit merges are refused)")
    return dtypes[name]


def load_for_merge(base_model: str | None, adapter: str, dtype: torch.dtype):
    """(PeftModel on a 16-bit CPU base, tokenizer). The adapter folder's tokenizer wins: it carries the chat
    template the adapter was trained with."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medchat.chat_format import prepare_tokenizer
    from medchat.modeling import resolve_base_model

    token = os.environ.get("HF_TOKEN") or None
    path = resolve_base_model(base_model)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map="cpu", token=token)
    quantization = getattr(model.config, "quantization_config", None)
    if quantization:
        method = quantization.get("quant_method") if isinstance(quantization, dict) else quantization.quant_method
        raise SystemExit(f"The base {base_model} is stored quantized ({method}). {REFUSE_4BIT}")
    adapter_has_tokenizer = Path(adapter).is_dir() and (Path(adapter) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter if adapter_has_tokenizer else path, token=token)
    prepare_tokenizer(tokenizer, model)
    model = PeftModel.from_pretrained(model, adapter, token=token)
    model.eval()
    return model, tokenizer


def probe_logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer.apply_chat_template(PROBE_MESSAGES, tokenize=True, return_dict=True, return_tensors="pt")
    with torch.inference_mode():
        return model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits[0].float()


def compare_logits(merged: torch.Tensor, unmerged: torch.Tensor, base: torch.Tensor) -> dict:
    """How closely the merged model reproduces base + unmerged adapter, next to how far the adapter moves the base."""
    log_merged, log_unmerged, log_base = (torch.log_softmax(x, -1) for x in (merged, unmerged, base))
    return {
        "relative_error": float((merged - unmerged).norm() / (unmerged - base).norm().clamp_min(1e-12)),
        "max_abs_diff": float((merged - unmerged).abs().max()),
        "mean_abs_diff": float((merged - unmerged).abs().mean()),
        "top1_agreement": float((merged.argmax(-1) == unmerged.argmax(-1)).float().mean()),
        "kl_to_unmerged": float((log_unmerged.exp() * (log_unmerged - log_merged)).sum(-1).mean()),
        "adapter_kl_to_base": float((log_unmerged.exp() * (log_unmerged - log_base)).sum(-1).mean()),
        "adapter_effect_max_abs": float((unmerged - base).abs().max()),
        "positions": int(merged.shape[0]),
    }


def set_serving_defaults(generation_config) -> None:
    """medchat's sampling defaults (GenerationSettings: chosen by benchmarks/generation_sweep.py) in the exported
    generation_config.json, so an engine that reads it samples like the app. The end-of-turn eos ids were set by
    prepare_tokenizer."""
    from medchat.generation import GenerationSettings

    defaults = GenerationSettings()
    generation_config.do_sample = True
    generation_config.temperature = defaults.temperature
    generation_config.top_p = defaults.top_p
    generation_config.repetition_penalty = defaults.repetition_penalty
    generation_config.max_new_tokens = defaults.max_new_tokens


def build_card(base_id: str, adapter: str, dtype: str, check: dict, hub_model_id: str | None):
    from huggingface_hub import ModelCard, ModelCardData

    from medchat.hub import MEDICAL_DISCLAIMER

    data = ModelCardData(
        base_model=base_id, library_name="transformers", pipeline_tag="text-generation", license="other",
        tags=["medical", "medchat", "lora", "merged", "text-generation-inference"],
    )
    name = hub_model_id or "this folder"
    adapter_name = adapter if not Path(adapter).exists() else Path(adapter).name
    content = f"""---
{data.to_yaml()}
---

# medchat merged model: {base_id} + {adapter_name}

The medchat LoRA adapter `{adapter_name}` merged into its base **`{base_id}`** with peft's `merge_and_unload`, in
{dtype} (the base was loaded in 16-bit or 32-bit, never 4-bit). A plain transformers checkpoint: serve it with
any engine (vLLM, SGLang, TGI, `transformers serve`) behind the medchat app's remote backend.

> ⚕️ {MEDICAL_DISCLAIMER.replace("This adapter", "This model")}

## Merge check

Logits on a probe conversation ({check["positions"]} positions), merged vs base + unmerged adapter: relative error
{check["relative_error"]:.3g} of the adapter's effect (tolerance {TOLERANCE[dtype]}), max |diff|
{check["max_abs_diff"]:.4g}, top-1 agreement {check["top1_agreement"]:.3f}, KL {check["kl_to_unmerged"]:.3g} (the
adapter's own KL to the base: {check["adapter_kl_to_base"]:.3g}).

## Serve

```bash
vllm serve {name} --served-model-name medchat --generation-config auto
MEDCHAT_BACKEND_URL=http://localhost:8000/v1 MEDCHAT_BACKEND_MODEL=medchat python app.py
```

`generation_config.json` stops on the chat template's end-of-turn token and carries medchat's sampling defaults.
The medical safety layer (triage guidance, disclaimer, output cleaning) lives in the medchat app, not in these
weights: serve it behind the app.
"""
    return ModelCard(content)


def export_merged(args: ExportArguments) -> Path:
    """Merge, check, save atomically, and push when asked. Returns the output directory."""
    from medchat.modeling import base_model_of
    from medchat.training import save_adapter_atomically

    if args.load_in_4bit:
        raise SystemExit(REFUSE_4BIT)
    if args.push_to_hub and not args.hub_model_id:
        raise SystemExit("--push_to_hub needs --hub_model_id user/name")
    dtype = _dtype(args.dtype)
    dtype_name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    base_model = args.base_model or base_model_of(args.adapter)
    base_id = OFFLINE_HUB_ID if is_offline_default(base_model) else base_model
    print(f"[medchat] merging {args.adapter} into {base_id} ({dtype_name}, CPU)", flush=True)

    model, tokenizer = load_for_merge(base_model, args.adapter, dtype)
    unmerged = probe_logits(model, tokenizer)
    with model.disable_adapter():
        base = probe_logits(model, tokenizer)
    merged_model = model.merge_and_unload()
    check = compare_logits(probe_logits(merged_model, tokenizer), unmerged, base)
    print(f"[medchat] merge check: relative error {check['relative_error']:.3g}, max |logit diff| "
          f"{check['max_abs_diff']:.4g}, top-1 agreement {check['top1_agreement']:.3f}", flush=True)
    if not check["relative_error"] <= TOLERANCE[dtype_name]:
        raise SystemExit(f"The merged model misses {check['relative_error']:.3g} of the adapter's effect on the probe "
                         f"(tolerance {TOLERANCE[dtype_name]} in {dtype_name}); nothing was written.")

    set_serving_defaults(merged_model.generation_config)
    merged_model.config.name_or_path = base_id
    out = save_adapter_atomically(merged_model, tokenizer, Path(args.out))
    summary = {"base_model": base_id, "adapter": args.adapter, "dtype": dtype_name, "merge_check": check,
               "tolerance": TOLERANCE[dtype_name]}
    (out / "export_summary.json").write_text(json.dumps(summary, indent=2))
    if Path(args.adapter, "run_summary.json").is_file():
        shutil.copyfile(Path(args.adapter, "run_summary.json"), out / "adapter_run_summary.json")
    build_card(base_id, args.adapter, dtype_name, check, args.hub_model_id).save(out / "README.md")
    if args.push_to_hub:
        print(f"[medchat] pushed to {push_merged(out, args.hub_model_id, private=args.private)}", flush=True)
    print(f"[medchat] merged model written to {out}", flush=True)
    return out


def push_merged(folder: Path, repo_id: str, private: bool = False, api=None) -> str:
    """Create the repo if needed and upload the merged folder (token: HF_TOKEN or `hf auth login`, never printed)."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                               allow_patterns=UPLOAD_PATTERNS, commit_message="Upload medchat merged model")
    return getattr(commit, "commit_url", None) or f"https://huggingface.co/{repo_id}"


def main(argv: list[str] | None = None) -> Path:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses(args=argv)
    return export_merged(args)


if __name__ == "__main__":
    main(sys.argv[1:])
