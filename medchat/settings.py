"""The app's settings, parsed once from the environment: `AppSettings.from_env()`.

Every MEDCHAT_* variable the app reads is a field here, typed, with its default; a bad value stops the app at start
with one message that names the variable, the value and what is accepted. `app.py` reads nothing else.

    MEDCHAT_BASE_MODEL          Hub id or local dir of the base model (unset: the base named by MEDCHAT_ADAPTER's
                                adapter_config.json, else the offline SmolLM2-135M-Instruct)
    MEDCHAT_ADAPTER             LoRA adapter (Hub id or dir); "" = none; unset = the shipped adapter for the
                                offline base, none otherwise
    MEDCHAT_LOAD_IN_4BIT        1/0; unset = the loader's choice (4-bit for real bases, off on ZeroGPU)
    MEDCHAT_MAX_INPUT_CHARS     longest accepted message (4000)
    MEDCHAT_MAX_CONTEXT_TOKENS  prompt + reply token budget (4096); older turns are dropped to fit
    MEDCHAT_MAX_HISTORY_TOKENS  tokens of earlier turns sent with a message (unset: 768 on a CPU, no cap on a GPU)
    MEDCHAT_SYSTEM_PROMPT       system prompt (unset: the adapter's recipe.yaml `system_prompt`, else the default)
    MEDCHAT_REVIEW_DB           SQLite file of the review tab (review.db; "" = no review tab)
    MEDCHAT_SAMPLES             samples.jsonl preloaded in the review tab (default eval/samples.jsonl, else
                                examples/review_samples.jsonl)
    MEDCHAT_CONCURRENCY, MEDCHAT_MAX_QUEUE   queue defaults (1, 32); the CLI flags override them
    MEDCHAT_FAST_DECODE         0 = plain model.generate on a dedicated GPU (default: static cache + CUDA graph)
    MEDCHAT_RETRIEVAL           trusted NIH passages retrieved for each message: `quote` (default) = a grounded
                                answer: when a passage is found the reply quotes its most relevant sentences
                                verbatim, attributed, instead of the model's text (medchat/knowledge/grounded.py);
                                `show` = the model answers and the passages are listed under the reply as further
                                reading; `prompt` (or 1) = also put in the model's prompt and shown as its Sources;
                                `off` (or 0) = none. Why `quote`: in a blind review of the 40 lay questions (README,
                                Trusted sources) it won 0.92 of comparisons against the shipped adapter's own reply,
                                made-up facts 2.5 % against 87.5 %, harmful 2.5 % against 32.5 %; passages in the
                                135M model's prompt had lost (win 0.35)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
# History on a CPU: every earlier turn is prefilled again on each message while other users wait in the queue.
# Measured with SmolLM2-135M + the shipped adapter, 2 shared CPU cores (load ~5), 64-token greedy reply: a full
# 4096-token budget (3,573 prompt tokens) took 85.6 s to the first token and 203 s in all; capped at 768 history
# tokens (618 prompt tokens) 30.2 s and 105 s. The cap keeps the newest two or three turns.
CPU_HISTORY_TOKENS = 768
DEFAULT_CONCURRENCY = 1  # one generation at a time per replica: a GPU (or CPU) serves one stream well
DEFAULT_MAX_QUEUE = 32


class SettingsError(ValueError):
    """A MEDCHAT_* variable with a value the app cannot use; the message says which and what to set."""


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={value!r}: use 1/0 (or true/false, yes/no, on/off), or leave it unset.")


RETRIEVAL_MODES = ("show", "prompt", "quote", "off")


def _retrieval_mode(env: Mapping[str, str]) -> str:
    value = env.get("MEDCHAT_RETRIEVAL", "").strip().lower()
    aliases = {"": "quote", "1": "prompt", "true": "prompt", "yes": "prompt", "on": "prompt",
               "0": "off", "false": "off", "no": "off"}
    mode = aliases.get(value, value)
    if mode not in RETRIEVAL_MODES:
        raise SettingsError(f"MEDCHAT_RETRIEVAL={value!r}: use quote (the default), show, prompt (or 1) or off (or 0).")
    return mode


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 1) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: must be a whole number (e.g. {default or minimum}).") from None
    if number < minimum:
        raise SettingsError(f"{name}={number}: must be at least {minimum}.")
    return number


def adapter_system_prompt(adapter: str | None) -> str | None:
    """The system prompt the adapter was trained with: `system_prompt` in its recipe.yaml (top level or one section
    down, e.g. `data: {system_prompt: ...}`), read by `medchat.hub.load_recipe` from a local folder or the adapter's
    Hub repo; None when there is none."""
    if not adapter:
        return None
    from medchat.hub import load_recipe

    try:
        recipe = load_recipe(adapter)
    except Exception as exc:
        if Path(adapter).is_dir():  # the operator's own folder: say what is wrong with its recipe
            raise SettingsError(f"recipe.yaml of the adapter cannot be read: {exc}") from None
        # a Hub id offline, private or gone: the default prompt is used
        logger.info("No recipe.yaml for adapter %s (%s); using the default system prompt", adapter, type(exc).__name__)
        return None
    candidates = [recipe] + [v for v in recipe.values() if isinstance(v, dict)] if recipe else []
    for section in candidates:
        prompt = section.get("system_prompt")
        if isinstance(prompt, str) and prompt.strip():
            return prompt
    return None


@dataclass(frozen=True)
class AppSettings:
    base_model: str | None = None  # None = the offline default
    adapter: str | None = None
    load_in_4bit: bool | None = None
    max_input_chars: int = 4000
    max_context_tokens: int = 4096
    max_history_tokens: int | None = None  # None = whatever the context budget leaves
    system_prompt: str = ""
    review_db: str = "review.db"
    samples: str | None = None
    concurrency: int = 1
    max_queue: int = 32
    fast_decode: bool = True
    retrieval: str = "quote"  # RETRIEVAL_MODES: a grounded answer quoting trusted sources; "show" lists them under
    # the model's reply; "prompt" also puts them in the model's prompt; "off"
    on_zero_gpu: bool = False

    @property
    def max_new_tokens_limit(self) -> int:
        """Longest reply a visitor may ask for: half the context, at most 1024."""
        return max(16, min(1024, self.max_context_tokens // 2))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, on_zero_gpu: bool = False, has_gpu: bool = False) -> AppSettings:
        from medchat.data import DEFAULT_SYSTEM_PROMPT
        from medchat.modeling import DEFAULT_ADAPTER, base_model_of
        from medchat.offline_model import is_offline_default

        env = os.environ if env is None else env
        base_model = env.get("MEDCHAT_BASE_MODEL", "").strip() or None
        if "MEDCHAT_ADAPTER" not in env:
            adapter = DEFAULT_ADAPTER if is_offline_default(base_model) else None
        else:
            adapter = env["MEDCHAT_ADAPTER"].strip() or None
        if base_model is None and adapter and adapter != DEFAULT_ADAPTER:
            # One setting switches models: an adapter names the base it was trained on (adapter_config.json).
            base_model = base_model_of(adapter)
        load_in_4bit = _bool(env, "MEDCHAT_LOAD_IN_4BIT")
        if load_in_4bit is None and on_zero_gpu:
            load_in_4bit = False  # ZeroGPU has room for bf16 weights; 4-bit quantization at import is not worth the risk
        max_context = _int(env, "MEDCHAT_MAX_CONTEXT_TOKENS", 4096, minimum=64)
        max_history = _int(env, "MEDCHAT_MAX_HISTORY_TOKENS", None if (has_gpu or on_zero_gpu) else CPU_HISTORY_TOKENS, 0)
        # The review tab's samples: yours (MEDCHAT_SAMPLES or eval/samples.jsonl), else the shipped example comparison
        # (base vs shipped adapter on examples/sample_conversations.jsonl, which no training run has seen).
        samples = env.get("MEDCHAT_SAMPLES", "").strip() or next(
            (str(p) for p in (ROOT / "eval" / "samples.jsonl", ROOT / "examples" / "review_samples.jsonl") if p.is_file()),
            None,
        )
        return cls(
            base_model=base_model,
            adapter=adapter,
            load_in_4bit=load_in_4bit,
            max_input_chars=_int(env, "MEDCHAT_MAX_INPUT_CHARS", 4000),
            max_context_tokens=max_context,
            max_history_tokens=max_history,
            # serving matches training: the prompt the adapter was trained with
            system_prompt=env.get("MEDCHAT_SYSTEM_PROMPT") or adapter_system_prompt(adapter) or DEFAULT_SYSTEM_PROMPT,
            review_db=env.get("MEDCHAT_REVIEW_DB", "review.db").strip(),
            samples=samples,
            concurrency=_int(env, "MEDCHAT_CONCURRENCY", DEFAULT_CONCURRENCY),
            max_queue=_int(env, "MEDCHAT_MAX_QUEUE", DEFAULT_MAX_QUEUE),
            fast_decode=_bool(env, "MEDCHAT_FAST_DECODE") is not False,
            retrieval=_retrieval_mode(env),
            on_zero_gpu=on_zero_gpu,
        )


def public_label(name: str | None, none: str = "none") -> str:
    """A model or adapter name fit to show visitors: a Hub id as it is, a local folder by its last part only (a
    server path tells visitors how the server is laid out)."""
    if not name:
        return none
    path = Path(name)
    if path.is_absolute() or name.startswith((".", "~")) or path.exists():
        return f"{path.name or 'local'} (local)"
    return name
