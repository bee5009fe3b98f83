"""A reply backend that streams from an OpenAI-compatible inference engine instead of a model in this process.

    MEDCHAT_BACKEND_URL=http://host:8000/v1     the engine (vLLM, SGLang, TGI, llama.cpp's server, `transformers serve`)
    MEDCHAT_BACKEND_MODEL=medchat               the served model name (unset: the first one the engine lists)
    MEDCHAT_BACKEND_TOKEN=...                   bearer token, if the engine wants one (never logged or shown)
    MEDCHAT_BACKEND_TOKENIZER=DIR_OR_HUB_ID     tokenizer for the token budget (unset: try MEDCHAT_BACKEND_MODEL)
    MEDCHAT_BACKEND_TIMEOUT=60                  seconds to wait for the next piece of a reply (and to connect: 5)
    MEDCHAT_BACKEND_REPLY_TIMEOUT=300           seconds a whole reply may take

Everything around the model text stays in the app: validation, triage guidance first, output cleaning, the
disclaimer last, the token-budget history, the stop button (closing the stream closes the HTTP response, so the
engine stops generating). A server that is down, too slow or drops the stream raises `BackendUnavailable`, whose
message is meant for the user; the app shows it and stays up.

The client is `openai` (maintained; typed errors; `Stream.close()`): huggingface_hub's InferenceClient keeps a
streamed response open until the client itself is closed (`exit_stack` in its `_inner_post`, 2.4), so a stopped
reply would keep the engine generating. Sampling: temperature, top-p, max tokens and the seed go with each request;
the repetition penalty is not an OpenAI field, so it comes from the served model's generation_config.json, which
`python -m medchat.export` writes with medchat's defaults (vLLM reads it with `--generation-config auto`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Iterator, Mapping
from urllib.parse import urlsplit

from medchat.chat import BackendError
from medchat.generation import GenerationSettings, count_prompt_tokens

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.5  # conservative for English with BPE vocabularies (Llama 3: ~4.2, SmolLM2: ~4.0 chars/token)
MESSAGE_OVERHEAD_TOKENS = 5  # role header and end-of-turn per message (Llama 3: 5, ChatML: 4)

DOWN_MESSAGE = "The medchat model server cannot be reached right now. Please try again in a few minutes."
SLOW_MESSAGE = "The medchat model server is taking too long to answer. Please try again in a few minutes."
DROPPED_MESSAGE = ("The connection to the medchat model server was lost mid-reply, so the answer above is "
                   "incomplete. Please ask again.")
REFUSED_MESSAGE = "The medchat model server refused the request. Please try again later."


class BackendUnavailable(BackendError):
    """The engine is down, too slow, dropped the stream or refused the request. `str(exc)` (= `user_message`) is
    meant for the user; `reason` (down / slow / dropped / refused) and the chained cause are for the logs."""

    def __init__(self, user_message: str, reason: str):
        super().__init__(user_message)
        self.user_message, self.reason = user_message, reason


def redacted_url(url: str) -> str:
    """scheme://host:port/path, without user, password or query (where a token might hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def load_tokenizer(candidates: list[str]) -> tuple[object | None, str]:
    """(tokenizer, how the budget is counted). The first candidate that loads from a local directory or the Hub
    (cached or online) is used; else an estimate of chars / 3.5 per message."""
    from transformers import AutoTokenizer

    from medchat.chat_format import prepare_tokenizer
    from medchat.modeling import resolve_base_model
    from medchat.offline_model import OFFLINE_BASE_MODEL, OFFLINE_HUB_ID

    for name in candidates:
        if not name:
            continue
        try:
            path = resolve_base_model(OFFLINE_BASE_MODEL) if name in (OFFLINE_BASE_MODEL, OFFLINE_HUB_ID) else name
            tokenizer = AutoTokenizer.from_pretrained(path, token=os.environ.get("HF_TOKEN") or None)
            if tokenizer.chat_template:
                prepare_tokenizer(tokenizer)
                return tokenizer, f"tokenizer {name}"
        except Exception as exc:  # not a local dir, not on the Hub, no network: try the next, then estimate
            logger.debug("No tokenizer from %s (%s)", name, type(exc).__name__)
    return None, f"estimate: characters / {CHARS_PER_TOKEN} + {MESSAGE_OVERHEAD_TOKENS} per message"


def _transport_errors(name: str) -> tuple[type[Exception], ...]:
    """`name` from the HTTP libraries openai may run on (httpx2 since openai 3; httpx before). openai 3 wraps a
    broken or stalled body in APIConnectionError / APITimeoutError; older releases let the transport's error out."""
    import importlib

    errors = []
    for module in ("httpx2", "httpx"):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


class RemoteBackend:
    """`ReplyBackend` for an OpenAI-compatible `/v1/chat/completions` endpoint (streaming)."""

    def __init__(self, base_url: str, model: str | None = None, token: str | None = None, *,
                 tokenizer: str | None = None, connect_timeout: float = 5.0, read_timeout: float = 60.0,
                 reply_timeout: float = 300.0):
        import openai

        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"MEDCHAT_BACKEND_URL must look like http://host:port/v1, not {redacted_url(base_url)!r}")
        self.url = redacted_url(base_url)
        self.model = model or None
        self.reply_timeout = float(reply_timeout)
        # No retries: a retry of a streamed reply would restart it, and a down server must fail fast.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=token or "EMPTY", max_retries=0,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout),
        )
        self.tokenizer, self.token_count_method = load_tokenizer([tokenizer, model])
        self.label = f"{self.model or 'served model'} (remote engine)"  # no host: the UI is public
        logger.info("Remote backend %s; token budget: %s", self.label, self.token_count_method)

    # ------------------------------------------------------------------ ReplyBackend
    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        if self.tokenizer is not None:
            return count_prompt_tokens(self.tokenizer, messages)
        chars = sum(len(m.get("content") or "") for m in messages)
        return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * (len(messages) + 1)

    def stream(self, messages: list[dict[str, str]], settings: GenerationSettings) -> Iterator[str]:
        """Yield the cumulative reply text as it grows. Closing the iterator (stop button) closes the response."""
        import openai

        sample = bool(settings.do_sample) and float(settings.temperature) > 0
        request = dict(model=self._served_model(), messages=messages, stream=True,
                       max_tokens=int(settings.max_new_tokens), temperature=float(settings.temperature) if sample else 0.0)
        if sample:
            request["top_p"] = float(settings.top_p)
        if settings.seed is not None:
            request["seed"] = int(settings.seed)
        deadline = time.monotonic() + self.reply_timeout
        text, last, finished, stream = "", None, False, None
        try:
            stream = self._client.chat.completions.create(**request)
            for chunk in stream:
                for choice in chunk.choices or []:
                    text += (choice.delta.content or "") if choice.delta else ""
                    finished = finished or choice.finish_reason is not None
                cleaned = text.strip()
                if cleaned and cleaned != last:
                    last = cleaned
                    yield cleaned
                if time.monotonic() > deadline:
                    raise self._fail(SLOW_MESSAGE, "slow", f"reply took over {self.reply_timeout:.0f} s")
        except BackendUnavailable:
            raise
        except (openai.APITimeoutError, *_transport_errors("TimeoutException")) as exc:
            raise self._fail(DROPPED_MESSAGE if text else SLOW_MESSAGE, "slow", type(exc).__name__) from None
        except openai.APIConnectionError as exc:
            raise self._fail(DROPPED_MESSAGE if text else DOWN_MESSAGE, "dropped" if text else "down",
                             type(exc).__name__) from None
        except openai.APIStatusError as exc:
            raise self._fail(REFUSED_MESSAGE, "refused", f"HTTP {exc.status_code}") from None
        except (openai.APIError, *_transport_errors("HTTPError")) as exc:  # an error event or a broken body mid-stream
            raise self._fail(DROPPED_MESSAGE if text else DOWN_MESSAGE, "dropped", type(exc).__name__) from None
        finally:
            if stream is not None:
                stream.close()
        if not finished:  # the body ended cleanly but without a finish reason: the server went away mid-reply
            raise self._fail(DROPPED_MESSAGE, "dropped", "stream ended without a finish reason")

    # ------------------------------------------------------------------ helpers
    def _served_model(self) -> str:
        """MEDCHAT_BACKEND_MODEL, else the first model the engine lists (asked once)."""
        if self.model is None:
            import openai

            try:
                models = self._client.models.list().data
            except openai.APIConnectionError:
                raise self._fail(DOWN_MESSAGE, "down", "listing models failed") from None
            except openai.APIError as exc:
                raise self._fail(REFUSED_MESSAGE, "refused", f"listing models: {type(exc).__name__}") from None
            if not models:
                raise self._fail(REFUSED_MESSAGE, "refused", "the server lists no model")
            self.model = models[0].id
            self.label = f"{self.model} (remote engine)"
        return self.model

    def _fail(self, message: str, reason: str, detail: str) -> BackendUnavailable:
        logger.warning("Remote backend %s: %s (%s)", self.url, reason, detail)  # never the token, never the prompt
        return BackendUnavailable(message, reason)

    def close(self) -> None:
        self._client.close()


def backend_from_env(env: Mapping[str, str] | None = None) -> RemoteBackend | None:
    """The remote backend the environment asks for, or None when MEDCHAT_BACKEND_URL is unset (in-process model)."""
    env = os.environ if env is None else env
    url = env.get("MEDCHAT_BACKEND_URL", "").strip()
    if not url:
        return None

    def seconds(name: str, default: float) -> float:
        value = env.get(name, "").strip()
        try:
            number = float(value) if value else default
        except ValueError:
            number = -1.0
        if not number > 0:
            raise ValueError(f"{name}={value!r}: give a number of seconds greater than 0, or leave it unset.")
        return number

    return RemoteBackend(
        url,
        model=env.get("MEDCHAT_BACKEND_MODEL", "").strip() or None,
        token=env.get("MEDCHAT_BACKEND_TOKEN", "").strip() or None,
        tokenizer=env.get("MEDCHAT_BACKEND_TOKENIZER", "").strip() or None,
        read_timeout=seconds("MEDCHAT_BACKEND_TIMEOUT", 60.0),
        reply_timeout=seconds("MEDCHAT_BACKEND_REPLY_TIMEOUT", 300.0),
    )
