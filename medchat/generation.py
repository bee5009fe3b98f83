"""Prompt building, streaming and batched generation.

One place turns a chat (as Gradio 6 hands it over) into model messages and runs
``model.generate``:

* :func:`build_messages` — system prompt + history + newest message, trimmed by
  *tokens* (oldest whole turns first) so that prompt + ``max_new_tokens`` fit the
  context; assistant turns are stripped of what the app added around the model
  text (triage guidance, disclaimer) before they are fed back to the model.
* :func:`stream_reply` — ``model.generate`` in a thread with a
  ``TextIteratorStreamer``; yields the cumulative reply; errors reach the caller.
* :func:`generate_replies` — batched (left padded) generation for evaluation.

The model's own chat template is always used (``apply_chat_template`` with
``add_generation_prompt=True``); the templated prompt is never tokenized again
with special tokens, so there is no double BOS.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from medchat.chat_format import END_OF_TURN_TOKENS as CHAT_END_OF_TURN_TOKENS
from medchat.chat_format import vocab_id

logger = logging.getLogger(__name__)

# Every token that ends a reply: the chat formats' end-of-turn tokens plus Llama 3's end of text.
END_OF_TURN_TOKENS = (*CHAT_END_OF_TURN_TOKENS, "<|end_of_text|>")
TRUNCATION_MARKER = " […] "


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

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate``; greedy when sampling is off or temperature <= 0."""
        sample = bool(self.do_sample) and float(self.temperature) > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(self.max_new_tokens),
            "do_sample": sample,
            "repetition_penalty": float(self.repetition_penalty),
        }
        if self.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = int(self.no_repeat_ngram_size)
        if sample:
            kwargs["temperature"] = float(self.temperature)
            kwargs["top_p"] = float(self.top_p)
        else:  # silence "temperature is set but do_sample=False" warnings from the model's config
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs


# --------------------------------------------------------------------------- content helpers


def content_to_text(content: Any) -> str:
    """Text of a Gradio message content: ``str``, a list of blocks
    (``[{"type": "text", "text": ...}, {"type": "file", ...}]``), a multimodal dict
    (``{"text": ..., "files": [...]}``) or ``None``. Non-text blocks are dropped."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type", "text") == "text" and isinstance(content.get("text"), str):
            return content["text"]
        if isinstance(content.get("content"), (str, list)):
            return content_to_text(content["content"])
        return ""
    if isinstance(content, (list, tuple)):
        parts = [content_to_text(block) for block in content if isinstance(block, (str, dict))]
        return "\n".join(p for p in parts if p)
    text = getattr(content, "text", None)  # gr.ChatMessage-like / TextBlock-like objects
    return text if isinstance(text, str) else ""


def _role_and_content(item: Any) -> tuple[str | None, Any]:
    if isinstance(item, dict):
        return item.get("role"), item.get("content")
    return getattr(item, "role", None), getattr(item, "content", None)


_SEPARATOR_LINE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|—+)\s*$", re.MULTILINE)


def strip_app_additions(reply: str) -> str:
    """The model's own words of a reply that went through ``safety.finalize_reply``: any triage
    guidance block, the dosing note and the disclaimer are removed (every guidance text is known,
    so the user's message is not needed)."""
    from medchat import safety
    from medchat.dosing import ASK_FOR_DOSE

    text = reply or ""
    for piece in [*safety.all_guidance_texts(), safety.DISCLAIMER, ASK_FOR_DOSE]:
        piece = piece.strip()
        if piece and piece in text:
            text = text.replace(piece, "")
    text = _SEPARATOR_LINE.sub("", text)
    # Emphasis markers left behind by a wrapped disclaimer ("*...*", "_..._").
    text = re.sub(r"(?m)^\s*[*_>]+\s*$", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _history_turns(history: Iterable[Any] | None) -> list[list[dict[str, str]]]:
    """Group history into turns: one user message followed by its assistant message(s).

    Consecutive assistant messages (Gradio may split one reply) are merged; system
    messages and turns without an answer are dropped; assistant text is stripped of
    the app's additions."""
    turns: list[list[dict[str, str]]] = []
    user_text: str | None = None
    answer_parts: list[str] = []

    def flush() -> None:
        if user_text is not None and answer_parts:
            answer = "\n\n".join(answer_parts).strip()
            if answer:
                turns.append([{"role": "user", "content": user_text}, {"role": "assistant", "content": answer}])

    for item in history or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and not isinstance(item, dict):
            # Legacy tuple format [user, assistant]
            flush()
            user_text, answer_parts = content_to_text(item[0]).strip(), []
            if item[1] is not None:
                answer_parts.append(strip_app_additions(content_to_text(item[1])))
            continue
        role, content = _role_and_content(item)
        text = content_to_text(content)
        if role == "user":
            flush()
            user_text, answer_parts = text.strip(), []
        elif role == "assistant" and user_text is not None:
            stripped = strip_app_additions(text)
            if stripped:
                answer_parts.append(stripped)
    flush()
    return turns


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


def _truncate_middle(tokenizer, text: str, max_tokens: int) -> str:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= max_tokens:
        return text
    marker_len = len(tokenizer.encode(TRUNCATION_MARKER, add_special_tokens=False))
    keep = max(max_tokens - marker_len, 2)
    head = keep // 2 + keep % 2
    tail = keep - head
    return (
        tokenizer.decode(ids[:head], skip_special_tokens=True).rstrip()
        + TRUNCATION_MARKER
        + tokenizer.decode(ids[len(ids) - tail :], skip_special_tokens=True).lstrip()
    )


def build_messages(
    history: Sequence[Any] | None,
    message: Any,
    system_prompt: str | None,
    tokenizer,
    max_context_tokens: int,
    max_new_tokens: int,
) -> list[dict[str, str]]:
    """Chat messages for the model: system prompt, as many of the newest history turns as fit
    in ``max_context_tokens - max_new_tokens`` prompt tokens, and the newest user message.

    Oldest whole user+assistant turns are dropped first; the system prompt and the newest
    message are always kept (the newest message is cut in the middle only if it alone
    does not fit)."""
    budget = int(max_context_tokens) - int(max_new_tokens)
    if budget <= 0:
        raise ValueError(
            f"max_new_tokens ({max_new_tokens}) must be smaller than max_context_tokens ({max_context_tokens})"
        )
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    newest = {"role": "user", "content": content_to_text(message).strip()}
    turns = _history_turns(history)

    base = system + [newest]
    base_len = count_prompt_tokens(tokenizer, base)
    if base_len > budget:
        overhead = count_prompt_tokens(tokenizer, system + [{"role": "user", "content": ""}])
        allowed = max(budget - overhead, 8)
        text = newest["content"]
        for _ in range(6):  # re-tokenization at the cut may shift a token or two
            newest = {"role": "user", "content": _truncate_middle(tokenizer, text, allowed)}
            if count_prompt_tokens(tokenizer, system + [newest]) <= budget or allowed <= 8:
                break
            allowed = max(allowed - 8, 8)
        logger.info("Newest message truncated to fit %d prompt tokens", budget)
        return system + [newest]

    # Additive estimate of each turn's cost, then an exact check of the result.
    costs = []
    for turn in turns:
        costs.append(count_prompt_tokens(tokenizer, system + turn + [newest]) - base_len)
    start = 0
    total = base_len + sum(costs)
    while start < len(turns) and total > budget:
        total -= costs[start]
        start += 1
    while True:
        kept = [m for turn in turns[start:] for m in turn]
        candidate = system + kept + [newest]
        if start >= len(turns) or count_prompt_tokens(tokenizer, candidate) <= budget:
            break
        start += 1
    if start:
        logger.debug("Dropped %d oldest turn(s) to fit %d prompt tokens", start, budget)
    return candidate


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
    kwargs = dict(
        **inputs,
        **settings.generate_kwargs(),
        streamer=streamer,
        eos_token_id=eos_ids or None,
        pad_token_id=_pad_token_id(model, tokenizer, eos_ids),
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


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` [len(prompts), longest] of token-id lists, padded on the
    left (a decoder-only batch ends every row at its last prompt token)."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    return input_ids, attention


def generate_replies(
    model,
    tokenizer,
    list_of_messages: Sequence[list[dict[str, str]]],
    settings: GenerationSettings | None = None,
    batch_size: int = 8,
) -> list[str]:
    """Replies to many conversations, batched with left padding (prompts sorted by length to
    limit padding, results returned in input order). Greedy when ``settings.do_sample`` is
    False; seeded with ``settings.seed`` when given."""
    settings = settings or GenerationSettings()
    if not list_of_messages:
        return []
    device = model_device(model)
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = _pad_token_id(model, tokenizer, eos_ids)
    if pad_id is None:
        raise ValueError("The tokenizer has neither a pad nor an eos token")
    specials = _special_strings(tokenizer)
    prompts = [_template_ids(tokenizer, list(m)) for m in list_of_messages]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    replies: list[str] = [""] * len(prompts)
    if settings.seed is not None:
        torch.manual_seed(int(settings.seed))
    eos_set = set(eos_ids)
    gen_kwargs = settings.generate_kwargs()
    for start in range(0, len(order), max(int(batch_size), 1)):
        idx = order[start : start + max(int(batch_size), 1)]
        input_ids, attention = left_pad([prompts[i] for i in idx], pad_id)
        width = input_ids.shape[1]
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                **gen_kwargs,
                eos_token_id=eos_ids or None,
                pad_token_id=pad_id,
            )
        for row, i in enumerate(idx):
            new = out[row, width:].tolist()
            for pos, tok in enumerate(new):
                if tok in eos_set:
                    new = new[:pos]
                    break
            replies[i] = _clean(tokenizer.decode(new, skip_special_tokens=True), specials)
    return replies


__all__ = [
    "GenerationSettings",
    "build_messages",
    "content_to_text",
    "count_prompt_tokens",
    "eos_token_ids",
    "generate_replies",
    "left_pad",
    "model_device",
    "prompt_inputs",
    "stream_reply",
    "strip_app_additions",
]
