"""medchat Gradio app: wiring only (model from env, chat handler, UI, launch).

The same file runs on a CPU laptop, a dedicated GPU and a ZeroGPU Space:

    python app.py [--share] [--host H] [--port N] [--concurrency N] [--max_queue N]
    gradio app.py                      # reload mode; uses the module-level `demo`

Environment:
    MEDCHAT_BASE_MODEL          Hub id or local dir of the base model (unset: the base named by MEDCHAT_ADAPTER's
                                adapter_config.json, else the offline SmolLM2-135M-Instruct)
    MEDCHAT_ADAPTER             LoRA adapter (Hub id or dir); "" = none; unset = the shipped adapter
                                for the offline base, none otherwise
    MEDCHAT_LOAD_IN_4BIT        1/0; unset = the loader's choice (4-bit for real bases, off on ZeroGPU)
    MEDCHAT_MAX_INPUT_CHARS     longest accepted message (4000)
    MEDCHAT_MAX_CONTEXT_TOKENS  prompt + reply token budget (4096); older turns are dropped to fit
    MEDCHAT_SYSTEM_PROMPT       system prompt (default: the one the adapter was trained with)
    MEDCHAT_REVIEW_DB           SQLite file of the review tab (review.db; "" = no review tab)
    MEDCHAT_SAMPLES             samples.jsonl preloaded in the review tab (default eval/samples.jsonl, else
                                examples/review_samples.jsonl)
    MEDCHAT_CONCURRENCY, MEDCHAT_MAX_QUEUE   queue defaults (1, 32); the CLI flags override them
    MEDCHAT_FAST_DECODE         0 = plain model.generate (default on a GPU: static cache + CUDA graph, per call on ZeroGPU)
"""

from __future__ import annotations

# On a ZeroGPU Space `spaces` must be imported before torch initialises CUDA.
try:
    import spaces
except ImportError:  # not installed: laptops and dedicated GPUs run without it
    spaces = None

import argparse
import json
import logging
import os
from pathlib import Path

import gradio as gr
import torch

from medchat.data import DEFAULT_SYSTEM_PROMPT
from medchat.generation import GenerationSettings, build_messages, content_to_text, stream_reply
from medchat.modeling import DEFAULT_ADAPTER, base_model_of, describe, load_model_and_tokenizer
from medchat.offline_model import is_offline_default
from medchat.safety import InputError, finalize_reply, triage, validate_user_message
from medchat.serving import serving_generator
from medchat.ui import DEFAULT_CONCURRENCY, DEFAULT_MAX_QUEUE, build_app, configure_queue

logger = logging.getLogger("medchat.app")

ROOT = Path(__file__).resolve().parent
ERROR_REPLY = "Sorry — something went wrong while writing the reply. Please try again in a moment."
EMPTY_REPLY = "I could not produce an answer to that. Could you rephrase or add a little more detail?"


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1/0/true/false, not {value!r}")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


ON_ZERO_GPU = bool(spaces is not None and spaces.config.Config.zero_gpu)
BASE_MODEL = os.environ.get("MEDCHAT_BASE_MODEL", "").strip() or None
_adapter_env = os.environ.get("MEDCHAT_ADAPTER")
if _adapter_env is None:
    ADAPTER = DEFAULT_ADAPTER if is_offline_default(BASE_MODEL) else None
else:
    ADAPTER = _adapter_env.strip() or None
if BASE_MODEL is None and ADAPTER and ADAPTER != DEFAULT_ADAPTER:
    # One setting switches models: an adapter names the base it was trained on (adapter_config.json).
    BASE_MODEL = base_model_of(ADAPTER)
LOAD_IN_4BIT = _env_bool("MEDCHAT_LOAD_IN_4BIT")
if LOAD_IN_4BIT is None and ON_ZERO_GPU:
    LOAD_IN_4BIT = False  # ZeroGPU has room for bf16 weights; 4-bit quantization at import is not worth the risk
MAX_INPUT_CHARS = _env_int("MEDCHAT_MAX_INPUT_CHARS", 4000)
MAX_CONTEXT_TOKENS = _env_int("MEDCHAT_MAX_CONTEXT_TOKENS", 4096)
SYSTEM_PROMPT = os.environ.get("MEDCHAT_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT  # serving matches training
REVIEW_DB = os.environ.get("MEDCHAT_REVIEW_DB", "review.db").strip()
# The review tab's samples: yours (MEDCHAT_SAMPLES or eval/samples.jsonl), else the shipped example comparison
# (base vs shipped adapter on examples/sample_conversations.jsonl, which no training run has seen).
SAMPLES = os.environ.get("MEDCHAT_SAMPLES", "").strip() or next(
    (str(p) for p in (ROOT / "eval" / "samples.jsonl", ROOT / "examples" / "review_samples.jsonl") if p.is_file()), None
)
MAX_NEW_TOKENS_LIMIT = max(16, min(1024, MAX_CONTEXT_TOKENS // 2))
CONCURRENCY = _env_int("MEDCHAT_CONCURRENCY", DEFAULT_CONCURRENCY)
MAX_QUEUE = _env_int("MEDCHAT_MAX_QUEUE", DEFAULT_MAX_QUEUE)

# --------------------------------------------------------------------------- model (at import: ZeroGPU needs it)
DEVICE_MAP = "cuda" if (ON_ZERO_GPU or torch.cuda.is_available()) else None
logger.info("Loading base=%s adapter=%s 4bit=%s device_map=%s", BASE_MODEL or "offline default", ADAPTER, LOAD_IN_4BIT, DEVICE_MAP)
model, tokenizer = load_model_and_tokenizer(BASE_MODEL, adapter=ADAPTER, load_in_4bit=LOAD_IN_4BIT, device_map=DEVICE_MAP)
MODEL_LABEL, ADAPTER_LABEL = describe(BASE_MODEL, ADAPTER)
# What stream_reply generates with (medchat.serving.serving_generator): on a dedicated GPU, prefill and decode as CUDA
# graphs captured once (H200: 42 ms to the first token, 75.6 tok/s against 11 tok/s for 4-bit + LoRA generate); on
# ZeroGPU, where nothing stays on the GPU between calls, a decoder and one graph built inside each @spaces.GPU call
# (H200, bf16 + LoRA: 74 tok/s end to end for 256 tokens against 9.5 tok/s eager); on a CPU the model itself.
# MEDCHAT_FAST_DECODE=0 turns both off. benchmarks/README.md has the numbers.
GENERATOR = serving_generator(model, zero_gpu=ON_ZERO_GPU, max_cache_len=MAX_CONTEXT_TOKENS,
                              fast_decode=_env_bool("MEDCHAT_FAST_DECODE"))


# --------------------------------------------------------------------------- generation (runs on the GPU)
def _gpu_duration(message: str, history: list, max_new_tokens: float, temperature: float, top_p: float) -> int:
    """Seconds of ZeroGPU time to ask for: grows with the reply length, capped at 120."""
    return int(min(120, 10 + round(float(max_new_tokens) / 20)))


def _gpu(**kwargs):
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(**kwargs)  # a no-op off ZeroGPU


@_gpu(duration=_gpu_duration)
def generate_stream(message: str, history: list, max_new_tokens: float, temperature: float, top_p: float):
    """Plain str/list/float in, str chunks out: safe to run in ZeroGPU's worker process."""
    max_new = max(1, min(int(max_new_tokens), MAX_CONTEXT_TOKENS // 2))
    settings = GenerationSettings(
        max_new_tokens=max_new, temperature=float(temperature), top_p=float(top_p), do_sample=float(temperature) > 0
    )
    messages = build_messages(history, message, SYSTEM_PROMPT, tokenizer, MAX_CONTEXT_TOKENS, max_new)
    yield from stream_reply(GENERATOR, tokenizer, messages, settings)


def _plain_history(history) -> list[dict[str, str]]:
    out = []
    for item in history or []:
        if isinstance(item, dict) and item.get("role") in ("user", "assistant"):
            out.append({"role": item["role"], "content": content_to_text(item.get("content"))})
    return out


# --------------------------------------------------------------------------- chat handler
def chat(message, history, max_new_tokens=GenerationSettings.max_new_tokens,
         temperature=GenerationSettings.temperature, top_p=GenerationSettings.top_p):
    """Validate, triage, stream. Every chunk is a complete reply: guidance first, disclaimer last."""
    try:
        text = validate_user_message(content_to_text(message), max_chars=MAX_INPUT_CHARS)
    except InputError as exc:
        yield str(exc)
        return
    triage_result = triage(text)
    if triage_result.guidance:  # urgent guidance shows at once, before the model starts
        yield finalize_reply(text, "", triage_result)
    produced = False
    try:
        for chunk in generate_stream(text, _plain_history(history), float(max_new_tokens), float(temperature), float(top_p)):
            produced = True
            yield finalize_reply(text, chunk, triage_result)
    except Exception as exc:
        logger.exception("Generation failed")
        # gr.Error carries a message meant for users (e.g. ZeroGPU's "quota exceeded"); others stay private.
        notice = f"{ERROR_REPLY}\n\n{exc.message}" if isinstance(exc, gr.Error) and exc.message else ERROR_REPLY
        yield "\n\n".join(p for p in (triage_result.guidance, notice) if p)
        return
    if not produced:
        yield finalize_reply(text, EMPTY_REPLY, triage_result)


# --------------------------------------------------------------------------- UI
def load_examples(path: Path = ROOT / "examples" / "prompts.json") -> list[str]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("No example prompts at %s", path)
        return []
    return [i if isinstance(i, str) else str(i.get("text", "")) for i in items if i]


def _review_tab():
    if not REVIEW_DB:
        return None
    try:
        from medchat.review_store import ReviewStore
        from medchat.review_ui import ReviewAccess, build_review_tab

        store = ReviewStore(REVIEW_DB)
    except Exception:  # chat must work even if the review store cannot be opened
        logger.exception("Review tab disabled: cannot open %s", REVIEW_DB)
        return None
    return lambda: build_review_tab(store, SAMPLES, ReviewAccess.from_env())


demo = build_app(
    chat,
    model_label=MODEL_LABEL,
    adapter_label=ADAPTER_LABEL,
    examples=load_examples(),
    review_tab=_review_tab(),
    max_new_tokens_limit=MAX_NEW_TOKENS_LIMIT,
    concurrency_limit=CONCURRENCY,
    max_queue=MAX_QUEUE,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python app.py", description="Run the medchat Gradio app.")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--host", default=None, help="address to bind (default: Gradio's, 0.0.0.0 on Spaces)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860)")
    parser.add_argument("--concurrency", type=int, default=None, help="generations run at once (default 1)")
    parser.add_argument("--max_queue", type=int, default=None, help="requests allowed to wait (default 32)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("MEDCHAT_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.concurrency is not None or args.max_queue is not None:
        configure_queue(
            demo,
            concurrency_limit=args.concurrency if args.concurrency is not None else CONCURRENCY,
            max_queue=args.max_queue if args.max_queue is not None else MAX_QUEUE,
        )
    demo.launch(share=args.share, server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
