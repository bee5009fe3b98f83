"""medchat Gradio app: wiring only (settings -> model -> chat service -> UI -> launch).

The same file runs on a CPU laptop, a dedicated GPU and a ZeroGPU Space:

    python app.py [--share] [--host H] [--port N] [--concurrency N] [--max_queue N]
    gradio app.py                      # reload mode; uses the module-level `demo`

Settings come from MEDCHAT_* environment variables, listed in `medchat/settings.py`.
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

import torch

from medchat.chat import ChatService
from medchat.generation import GenerationSettings, TransformersBackend, stream_reply
from medchat.knowledge import default_retriever
from medchat.modeling import describe, load_model_and_tokenizer
from medchat.remote import backend_from_env
from medchat.review_ui import SampleSources
from medchat.safety import warm_up
from medchat.serving import serving_generator
from medchat.settings import AppSettings, public_label
from medchat.ui import build_app, configure_queue

logger = logging.getLogger("medchat.app")

ROOT = Path(__file__).resolve().parent
ON_ZERO_GPU = bool(spaces is not None and spaces.config.Config.zero_gpu)
HAS_GPU = ON_ZERO_GPU or torch.cuda.is_available()
settings = AppSettings.from_env(on_zero_gpu=ON_ZERO_GPU, has_gpu=HAS_GPU)

# --------------------------------------------------------------------------- model (at import: ZeroGPU needs it)
# An engine behind the app (MEDCHAT_BACKEND_URL: vLLM, SGLang, TGI, llama.cpp's server, transformers serve) replaces
# the in-process model: the app then loads no weights and streams over the OpenAI-compatible API (medchat.remote).
REMOTE = backend_from_env()
if REMOTE is None:
    DEVICE_MAP = "cuda" if HAS_GPU else None
    logger.info("Loading base=%s adapter=%s 4bit=%s device_map=%s", settings.base_model or "offline default",
                settings.adapter, settings.load_in_4bit, DEVICE_MAP)
    model, tokenizer = load_model_and_tokenizer(settings.base_model, adapter=settings.adapter,
                                                load_in_4bit=settings.load_in_4bit, device_map=DEVICE_MAP)
    _base_label, _adapter_label = describe(settings.base_model, settings.adapter)
    MODEL_LABEL = f"{public_label(_base_label)} + adapter {public_label(_adapter_label)}" if settings.adapter else (
        f"{public_label(_base_label)} (no adapter)")
    # What stream_reply generates with (medchat.serving.serving_generator): on a dedicated GPU prefill and decode run
    # as CUDA graphs captured once; on ZeroGPU a decoder and graph built and freed inside each call (nothing survives
    # a call there); on a CPU the model itself. MEDCHAT_FAST_DECODE=0 keeps plain generate.
    GENERATOR = serving_generator(model, zero_gpu=ON_ZERO_GPU, max_cache_len=settings.max_context_tokens,
                                  fast_decode=settings.fast_decode)


# --------------------------------------------------------------------------- generation (runs on the GPU)
def _gpu_duration(messages: list[dict[str, str]], generation: GenerationSettings) -> int:
    """Seconds of ZeroGPU time to ask for: grows with the reply length, capped at 120."""
    return int(min(120, 10 + round(float(generation.max_new_tokens) / 20)))


def _gpu(**kwargs):
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(**kwargs)  # a no-op off ZeroGPU


@_gpu(duration=_gpu_duration)
def generate_stream(messages: list[dict[str, str]], generation: GenerationSettings):
    """Plain messages and settings in, str chunks out: safe to run in ZeroGPU's worker process."""
    yield from stream_reply(GENERATOR, tokenizer, messages, generation)


backend = REMOTE or TransformersBackend(model, tokenizer, label=MODEL_LABEL, generator=GENERATOR,
                                        stream_fn=generate_stream)
# Trusted sources (MEDCHAT_RETRIEVAL: show / prompt / quote / off): the shipped MedQuAD index, loaded once here, not
# on the first message; "quote" also embeds the passages' sentences with the same MiniLM encoder per message.
retriever = default_retriever() if settings.retrieval != "off" else None
service = ChatService(backend, settings, retriever=retriever)
warm_up()  # triage's sentence encoder loads once at start (~4 s on a CPU), not on the first message


# --------------------------------------------------------------------------- UI
def load_examples(path: Path = ROOT / "examples" / "prompts.json") -> list[str]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("No example prompts at %s", path)
        return []
    return [i if isinstance(i, str) else str(i.get("text", "")) for i in items if i]


# Where the Review tab may read samples from, and how much (a visitor's upload is refused above this size).
REVIEW_SOURCES = SampleSources.from_env(settings.samples)


def _review_tab():
    if not settings.review_db:
        return None
    try:
        from medchat.review_store import ReviewStore
        from medchat.review_ui import ReviewAccess, build_review_tab

        store = ReviewStore(settings.review_db)
    except Exception:  # chat must work even if the review store cannot be opened
        logger.exception("Review tab disabled: cannot open the review database")
        return None
    return lambda: build_review_tab(store, settings.samples, ReviewAccess.from_env(), sources=REVIEW_SOURCES)


demo = build_app(
    service,
    examples=load_examples(),
    review_tab=_review_tab(),
    concurrency_limit=settings.concurrency,
    max_queue=settings.max_queue,
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
            concurrency_limit=args.concurrency if args.concurrency is not None else settings.concurrency,
            max_queue=args.max_queue if args.max_queue is not None else settings.max_queue,
        )
    demo.launch(share=args.share, server_name=args.host, server_port=args.port,
                max_file_size=REVIEW_SOURCES.max_bytes)  # Gradio refuses bigger uploads before they reach disk


if __name__ == "__main__":
    main()
