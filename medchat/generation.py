"""Model text: prompts in the model's chat template, streamed and batched generation, the in-process backend.

This layer knows nothing of safety or Gradio: plain ``{"role", "content"}`` messages in, the model's text out.

* :class:`GenerationSettings` — the sampling a caller asks for, as a transformers ``GenerationConfig``.
* :func:`stream_reply` — ``model.generate`` in a thread with a ``TextIteratorStreamer``; yields the cumulative
  reply; errors reach the caller; closing the iterator stops the generation.
* :func:`generate_replies` — batched generation (the tokenizer pads on the left) for evaluation.
* :class:`TransformersBackend` — the chat service's ``ReplyBackend`` (``medchat.chat``) for a model in this process.

The model's own chat template is always used (``apply_chat_template`` with ``add_generation_prompt=True``); the
templated prompt is never tokenized again with special tokens, so there is no double BOS.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from medchat.chat_format import END_OF_TURN_TOKENS as CHAT_END_OF_TURN_TOKENS
from medchat.chat_format import vocab_id

logger = logging.getLogger(__name__)

# Every token that ends a reply: the chat formats' end-of-turn tokens plus Llama 3's end of text.
END_OF_TURN_TOKENS = (*CHAT_END_OF_TURN_TOKENS, "<|end_of_text|>")


@dataclass
class GenerationSettings:
    max_new_tokens: int = 384
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    # Small models loop ("take a hair test ... take a hair test"); forbidding a repeated n-gram stops it outright.
    no_repeat_ngram_size: int = 0
    do_sample: bool = True
    seed: int | None = None

    @property
    def sampling(self) -> bool:
        return bool(self.do_sample) and float(self.temperature) > 0

    def generation_config(self, base: GenerationConfig | None = None, **ids: Any) -> GenerationConfig:
        """These settings over ``base`` (the model's own config: eos, pad, bos stay), greedy when sampling is off or
        the temperature is 0; ``ids`` sets token ids (``eos_token_id=...``, ``pad_token_id=...``)."""
        config = copy.deepcopy(base) if base is not None else GenerationConfig()
        values: dict[str, Any] = {
            "max_new_tokens": int(self.max_new_tokens),
            "do_sample": self.sampling,
            "repetition_penalty": float(self.repetition_penalty),
            "no_repeat_ngram_size": int(self.no_repeat_ngram_size) or None,
            **ids,
        }
        if self.sampling:
            values.update(temperature=float(self.temperature), top_p=float(self.top_p))
        else:  # a model's sampling defaults would make transformers warn that they are ignored
            values.update(temperature=None, top_p=None, top_k=None)
        config.update(**values)
        return config


# --------------------------------------------------------------------------- prompt building


def _template_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True)
    if hasattr(out, "keys"):
        out = out["input_ids"]
    if isinstance(out, torch.Tensor):
        out = out.tolist()
    if out and isinstance(out[0], list):
        out = out[0]
    return list(out)


def count_prompt_tokens(tokenizer, messages: list[dict[str, str]]) -> int:
    """Number of prompt tokens of ``messages`` rendered with the generation prompt."""
    return len(_template_ids(tokenizer, messages))


# --------------------------------------------------------------------------- generation helpers


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [int(v) for v in value if v is not None]
    return [int(value)]


def eos_token_ids(model, tokenizer) -> list[int]:
    """Every id that ends a reply: the model's generation config eos ids, the tokenizer's eos
    and the end-of-turn tokens (``<|eot_id|>``, ``<|im_end|>``...) present in the vocabulary."""
    ids: list[int] = []
    gen_config = getattr(model, "generation_config", None)
    ids += _as_list(getattr(gen_config, "eos_token_id", None))
    ids += _as_list(getattr(tokenizer, "eos_token_id", None))
    ids += [i for i in (vocab_id(tokenizer, t) for t in END_OF_TURN_TOKENS) if i is not None]
    return list(dict.fromkeys(ids))


def _pad_token_id(model, tokenizer, eos_ids: list[int]) -> int | None:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    pad = getattr(getattr(model, "generation_config", None), "pad_token_id", None)
    if pad is not None:
        return int(pad)
    return eos_ids[0] if eos_ids else None


def model_device(model) -> torch.device:
    device = getattr(model, "device", None)
    if device is not None:
        return torch.device(device)
    return next(model.parameters()).device


def _special_strings(tokenizer) -> tuple[str, ...]:
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    specials.update(t for t in END_OF_TURN_TOKENS if vocab_id(tokenizer, t) is not None)
    return tuple(sorted((s for s in specials if s), key=len, reverse=True))


def _clean(text: str, specials: tuple[str, ...]) -> str:
    for s in specials:
        if s in text:
            text = text.replace(s, "")
    return text.strip()


def prompt_inputs(tokenizer, messages: list[dict[str, str]]) -> dict[str, torch.Tensor]:
    """``input_ids``/``attention_mask`` (batch of one) of the templated prompt."""
    ids = _template_ids(tokenizer, messages)
    input_ids = torch.tensor([ids], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


class _StopOnEvent(StoppingCriteria):
    """Stops generation when the consumer went away (stop button, closed stream)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _GenerationThreads:
    """Long-lived threads that run `generate` for streamed replies: an idle one is reused, a new one starts only
    when every one is busy (one per concurrent reply). Measured on an H200 (benchmarks/README.md): a fresh thread's
    first eager 4-bit + LoRA generate of 64 tokens took 6.9 s against 3.8 s in a reused thread. A thread is back in
    the idle list before its job reports done, so the next reply of a sequential user always finds it (a
    ThreadPoolExecutor may start a new thread in that gap)."""

    def __init__(self):
        self._idle: list[_GenerationThread] = []
        self._lock = threading.Lock()

    def submit(self, job) -> threading.Event:
        """Run `job()` (it must not raise) on an idle thread; the event is set when it returned."""
        with self._lock:
            thread = self._idle.pop() if self._idle else _GenerationThread(self)
        done = threading.Event()
        thread.jobs.put((job, done))
        return done

    def release(self, thread: _GenerationThread) -> None:
        with self._lock:
            self._idle.append(thread)

    def __len__(self) -> int:
        with self._lock:
            return len(self._idle)


class _GenerationThread(threading.Thread):
    def __init__(self, pool: _GenerationThreads):
        super().__init__(name="medchat-generate", daemon=True)
        self.pool = pool
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            job, done = self.jobs.get()
            try:
                job()
            finally:
                self.pool.release(self)
                done.set()


GENERATION_THREADS = _GenerationThreads()


def stream_reply(
    model,
    tokenizer,
    messages: list[dict[str, str]],
    settings: GenerationSettings | None = None,
    *,
    poll_seconds: float = 1.0,
) -> Iterator[str]:
    """Generate a reply to ``messages`` in a background thread and yield the cumulative
    cleaned reply text each time it grows. An exception raised by ``model.generate`` is
    re-raised to the consumer. Closing the iterator early stops the generation."""
    settings = settings or GenerationSettings()
    inputs = {k: v.to(model_device(model)) for k, v in prompt_inputs(tokenizer, messages).items()}
    eos_ids = eos_token_ids(model, tokenizer)
    specials = _special_strings(tokenizer)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=poll_seconds)
    stop = threading.Event()
    errors: list[BaseException] = []
    config = settings.generation_config(
        getattr(model, "generation_config", None), eos_token_id=eos_ids or None,
        pad_token_id=_pad_token_id(model, tokenizer, eos_ids),
    )
    kwargs = dict(
        **inputs,
        generation_config=config,
        streamer=streamer,
        stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop)]),
    )

    def run() -> None:
        try:
            if settings.seed is not None:
                torch.manual_seed(int(settings.seed))
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as exc:  # handed over to the consumer
            errors.append(exc)
            try:
                streamer.end()
            except Exception:
                streamer.text_queue.put(streamer.stop_signal)

    done = GENERATION_THREADS.submit(run)
    text, last = "", None
    try:
        while True:
            try:
                chunk = next(streamer)
            except StopIteration:
                break
            except queue.Empty:
                if not done.is_set():
                    continue
                break
            text += chunk
            cleaned = _clean(text, specials)
            if cleaned and cleaned != last:
                last = cleaned
                yield cleaned
    finally:
        stop.set()
        done.wait(timeout=30)
    if errors:
        raise errors[0]


def generate_replies(
    model,
    tokenizer,
    list_of_messages: Sequence[list[dict[str, str]]],
    settings: GenerationSettings | None = None,
    batch_size: int = 8,
) -> list[str]:
    """Replies to many conversations, batched (the tokenizer pads on the left; prompts sorted by length to limit
    padding, results returned in input order). Greedy when ``settings.do_sample`` is False; seeded with
    ``settings.seed`` when given."""
    settings = settings or GenerationSettings()
    if not list_of_messages:
        return []
    device = model_device(model)
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = _pad_token_id(model, tokenizer, eos_ids)
    if pad_id is None:
        raise ValueError("The tokenizer has neither a pad nor an eos token")
    if tokenizer.pad_token_id is None:  # the tokenizer pads with the id generate pads with
        tokenizer = copy.copy(tokenizer)
        tokenizer.pad_token_id = pad_id
    specials = _special_strings(tokenizer)
    prompts = [_template_ids(tokenizer, list(m)) for m in list_of_messages]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    replies: list[str] = [""] * len(prompts)
    if settings.seed is not None:
        torch.manual_seed(int(settings.seed))
    eos_set = set(eos_ids)
    config = settings.generation_config(getattr(model, "generation_config", None), eos_token_id=eos_ids or None,
                                        pad_token_id=pad_id)
    step = max(int(batch_size), 1)
    for start in range(0, len(order), step):
        idx = order[start : start + step]
        batch = tokenizer.pad({"input_ids": [prompts[i] for i in idx]}, padding=True, padding_side="left",
                              return_tensors="pt")
        width = batch["input_ids"].shape[1]
        with torch.inference_mode():
            out = model.generate(input_ids=batch["input_ids"].to(device),
                                 attention_mask=batch["attention_mask"].to(device), generation_config=config)
        for row, i in enumerate(idx):
            new = out[row, width:].tolist()
            for pos, tok in enumerate(new):
                if tok in eos_set:
                    new = new[:pos]
                    break
            replies[i] = _clean(tokenizer.decode(new, skip_special_tokens=True), specials)
    return replies


class TransformersBackend:
    """The chat service's reply backend for a model loaded in this process (``medchat.chat.ReplyBackend``).

    ``generator`` is what runs ``generate`` (the model, or ``medchat.serving.FastServingModel`` around it);
    ``stream_fn(messages, settings)`` replaces the in-process streaming where the generation must run elsewhere
    (ZeroGPU's ``@spaces.GPU`` function, which has to be a module-level function of ``app.py``)."""

    def __init__(self, model, tokenizer, *, label: str, generator=None,
                 stream_fn: Callable[[list[dict[str, str]], GenerationSettings], Iterator[str]] | None = None):
        self.model, self.tokenizer, self.label = model, tokenizer, label
        self.generator = generator if generator is not None else model
        self._stream_fn = stream_fn

    def stream(self, messages: list[dict[str, str]], settings: GenerationSettings) -> Iterator[str]:
        if self._stream_fn is not None:
            return self._stream_fn(messages, settings)
        return stream_reply(self.generator, self.tokenizer, messages, settings)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return count_prompt_tokens(self.tokenizer, messages)


__all__ = [
    "GenerationSettings",
    "TransformersBackend",
    "count_prompt_tokens",
    "eos_token_ids",
    "generate_replies",
    "model_device",
    "prompt_inputs",
    "stream_reply",
]
