"""The chat service: one message in, a streamed reply out, in one pass.

    validate -> triage -> retrieve (optional) -> history as plain role/content messages -> stream -> finalize

A reply is a list of chat messages, each tagged in its metadata id with what it is (``"<kind>:<turn>"``):

    guidance    triage guidance (emergency, crisis, urgent), first, written by code
    answer      the model's text, cleaned by the safety layer, or with retrieval "quote" and a trusted passage found,
                the grounded answer: trusted sentences quoted verbatim under their attribution, in fixed framing
                (``medchat.knowledge.grounded``; no model text); the only assistant text that ever reaches the model
    sources     trusted passages for the message (collapsible), when a retriever is wired: "Sources" when they were
                in the model's prompt (retrieval "prompt"), "Read more from trusted sources" when they were not ("show",
                and "quote" when nothing was quotable: the quoted answer carries its own attribution)
    disclaimer  the medical disclaimer, last, written by code
    notice      the app speaking: a refused message, an error, "could not produce an answer"

Nothing the app adds is ever put into the model's text, so nothing needs stripping on the next turn: the history
sent to the model keeps a user message only when its turn has an ``answer`` (a refused, failed or empty turn
never reaches the model) and keeps only the ``answer`` messages of the assistant. For emergency and crisis
levels the guidance is the answer: the model's text is shown collapsed under a heading that says it is general
information.

The backend and the retriever are protocols, so the in-process model (``medchat.generation.TransformersBackend``),
a remote OpenAI-compatible server and a knowledge base plug in without the service changing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol, Sequence

from medchat.generation import GenerationSettings
from medchat.safety import DISCLAIMER, InputError, Triage, triage, validate_user_message
from medchat.knowledge.retriever import system_with_context
from medchat.safety.reply import reply_body
from medchat.settings import AppSettings

logger = logging.getLogger(__name__)

ERROR_REPLY = "Sorry — something went wrong while writing the reply. Please try again in a moment."
EMPTY_REPLY = "I could not produce an answer to that. Could you rephrase or add a little more detail?"
GENERAL_INFORMATION_TITLE = "General information from the AI model — not part of the urgent advice above"
SOURCES_TITLE = "Sources"  # the passages were in the model's prompt
FURTHER_READING_TITLE = "Read more from trusted sources"  # shown beside the reply, not used to write it
URGENT_LEVELS = ("emergency", "crisis")
KINDS = ("guidance", "answer", "sources", "disclaimer", "notice")


class ReplyBackend(Protocol):
    """What writes the model's text. ``medchat.generation.TransformersBackend`` runs a model in this process;
    ``medchat.remote`` talks to an OpenAI-compatible server."""

    label: str  # shown in the UI: never a server path or a secret

    def stream(self, messages: list[dict[str, str]], settings: GenerationSettings) -> Iterator[str]:
        """The cumulative model text of a reply to ``messages`` (system, user/assistant turns, newest user)."""

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of ``messages``: the history is cut to the token budget with it."""


class Retriever(Protocol):
    """A knowledge base (``medchat.knowledge``): passages are retrieved once per user message."""

    def search(self, text: str) -> list[Any]: ...

    def prompt_context(self, passages: list[Any]) -> str:
        """Text added to the system prompt."""

    def sources_markdown(self, passages: list[Any]) -> str:
        """Shown under the reply in a collapsible "Sources" block."""

    def grounded_answer(self, text: str, passages: list[Any]) -> list[str]:
        """Retrieval "quote": the reply's Markdown paragraphs quoting the passages; [] when nothing is quotable."""


# --------------------------------------------------------------------------- chat messages (Gradio's format)


def content_to_text(content: Any) -> str:
    """Text of a message content as Gradio hands it over: ``str``, a list of blocks
    (``[{"type": "text", "text": ...}, {"type": "file", ...}]``), a multimodal dict (``{"text": ..., "files": [...]}``)
    or ``None``. Non-text blocks are dropped."""
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


def chat_message(kind: str, turn: int, content: str, title: str | None = None) -> dict[str, Any]:
    """One assistant message of a reply; a title makes Gradio show it as a collapsed block."""
    metadata: dict[str, Any] = {"id": f"{kind}:{turn}"}
    if title:
        metadata.update(title=title, status="done")
    return {"role": "assistant", "content": content, "metadata": metadata}


def kind_of(item: Any) -> str | None:
    """What an assistant message of the history is (``answer``, ``guidance``...); None for anything not ours."""
    metadata = item.get("metadata") if isinstance(item, dict) else getattr(item, "metadata", None)
    ident = (metadata or {}).get("id") if isinstance(metadata, dict) else None
    kind = str(ident).split(":", 1)[0] if ident is not None else None
    return kind if kind in KINDS else None


def reply_text(messages: Sequence[dict[str, Any]]) -> str:
    """A reply as one text, in the order shown (for API callers and logs)."""
    return "\n\n".join(content_to_text(m.get("content")) for m in messages if content_to_text(m.get("content")))


def _role(item: Any) -> str | None:
    return item.get("role") if isinstance(item, dict) else getattr(item, "role", None)


def _content(item: Any) -> Any:
    return item.get("content") if isinstance(item, dict) else getattr(item, "content", None)


# --------------------------------------------------------------------------- token budget


def fit_to_budget(
    system: list[dict[str, str]],
    turns: list[list[dict[str, str]]],
    newest: dict[str, str],
    count_tokens,
    max_prompt_tokens: int,
    max_history_tokens: int | None = None,
) -> list[dict[str, str]]:
    """System + as many of the newest whole turns as fit + the newest message, in at most ``max_prompt_tokens``
    prompt tokens, with at most ``max_history_tokens`` of them spent on earlier turns. Oldest turns go first; the
    newest message is cut in the middle only when it does not fit alone."""
    if max_prompt_tokens <= 0:
        raise ValueError(f"No room for a prompt: the token budget is {max_prompt_tokens}")
    base_len = count_tokens(system + [newest])
    if base_len > max_prompt_tokens:
        return system + [_cut_middle(system, newest, count_tokens, max_prompt_tokens)]
    history_room = max_prompt_tokens - base_len
    if max_history_tokens is not None:
        history_room = min(history_room, max_history_tokens)
    # Each turn's cost estimated additively from the newest backwards, then one exact check of the result.
    kept: list[list[dict[str, str]]] = []
    spent = 0
    for turn in reversed(turns):
        cost = count_tokens(system + turn + [newest]) - base_len
        if spent + cost > history_room:
            break
        kept.insert(0, turn)
        spent += cost
    while kept:
        candidate = system + [m for turn in kept for m in turn] + [newest]
        if count_tokens(candidate) - base_len <= history_room:
            break
        kept.pop(0)
    if len(kept) < len(turns):
        logger.debug("Dropped %d oldest turn(s) to fit %d history tokens", len(turns) - len(kept), history_room)
    return system + [m for turn in kept for m in turn] + [newest]


def _cut_middle(system, newest, count_tokens, budget: int) -> dict[str, str]:
    """The newest message cut in the middle (head and tail kept, " […] " between) to the longest that fits."""
    text = newest["content"]
    low, high = 0, len(text)
    while low < high:  # longest kept length that fits: about log2(len) token counts
        mid = (low + high + 1) // 2
        cut = text[: mid - mid // 2] + " […] " + text[len(text) - mid // 2 :]
        if count_tokens(system + [{"role": "user", "content": cut}]) <= budget:
            low = mid
        else:
            high = mid - 1
    logger.info("Newest message cut to %d of %d characters to fit %d prompt tokens", low, len(text), budget)
    return {"role": "user", "content": text[: low - low // 2] + " […] " + text[len(text) - low // 2 :]}


# --------------------------------------------------------------------------- the service


@dataclass
class ChatService:
    backend: ReplyBackend
    settings: AppSettings
    retriever: Retriever | None = None

    def validate(self, text: Any) -> str:
        """The cleaned message, or InputError with a message for the user."""
        return validate_user_message(content_to_text(text), max_chars=self.settings.max_input_chars)

    def accepted_turns(self, history: Iterable[Any] | None) -> list[list[dict[str, str]]]:
        """The history as plain user/assistant pairs, only for turns the app accepted (they have an answer)."""
        turns: list[list[dict[str, str]]] = []
        user: str | None = None
        answer: list[str] = []

        def close() -> None:
            if user is not None and answer:
                turns.append([{"role": "user", "content": user}, {"role": "assistant", "content": "\n\n".join(answer)}])

        for item in history or []:
            if _role(item) == "user":
                close()
                answer = []
                try:  # the browser holds the history: what comes back is checked like a new message
                    user = self.validate(_content(item))
                except InputError:
                    user = None
            elif _role(item) == "assistant" and kind_of(item) == "answer":
                text = content_to_text(_content(item)).strip()
                if text:
                    answer.append(text)
        close()
        return turns

    def model_messages(self, history, text: str, max_new_tokens: int, context: str = "") -> tuple[list[dict[str, str]], bool]:
        """What the backend gets: system prompt (with the retrieved context while it fits), accepted turns and the
        newest message within the token budget; and whether the context was kept."""
        budget = self.settings.max_context_tokens - max_new_tokens
        newest = {"role": "user", "content": text}
        system_prompt = self.settings.system_prompt
        if context:
            with_context = system_with_context(system_prompt, context)  # the layout training and evaluation use
            if self.backend.count_tokens([{"role": "system", "content": with_context}, newest]) <= budget:
                system_prompt = with_context
            else:
                logger.info("Retrieved context left out: it does not fit the %d-token prompt budget", budget)
                context = ""
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []
        turns = self.accepted_turns(history)
        messages = fit_to_budget(system, turns, newest, self.backend.count_tokens, budget,
                                 self.settings.max_history_tokens)
        return messages, bool(context)

    def generation_settings(self, max_new_tokens, temperature, top_p) -> GenerationSettings:
        limit = self.settings.max_new_tokens_limit
        temperature = float(temperature)
        return GenerationSettings(max_new_tokens=max(1, min(int(max_new_tokens), limit)), temperature=temperature,
                                  top_p=float(top_p), do_sample=temperature > 0)

    def respond(self, message: Any, history: list | None, max_new_tokens: float = GenerationSettings.max_new_tokens,
                temperature: float = GenerationSettings.temperature,
                top_p: float = GenerationSettings.top_p) -> Iterator[list[dict[str, Any]]]:
        """The ChatInterface handler: every chunk is the whole reply so far, guidance first, disclaimer last."""
        turn = sum(1 for item in history or [] if _role(item) == "user")
        try:
            text = self.validate(message)
        except InputError as exc:
            yield [notice(turn, str(exc))]
            return
        level = triage(text)
        passages, context, searched, grounded = [], "", False, []
        in_prompt = self.settings.retrieval == "prompt"
        if self.retriever is not None and self.settings.retrieval != "off":
            try:  # a knowledge base that fails costs the sources, not the reply
                passages, searched = self.retriever.search(text), True
                # with no passage the retriever still says so: the model is told it has no trusted source
                context = self.retriever.prompt_context(passages) if in_prompt else ""
            except Exception:
                logger.exception("Retrieval failed; answering without sources")
                passages, context = [], ""
            if self.settings.retrieval == "quote" and passages:
                if level.guidance:  # urgent guidance shows at once, before the quotes are chosen (~1 s on a CPU)
                    yield layout(turn, level, "")
                try:  # a quote step that fails costs the quotes: the model answers, the passages are further reading
                    grounded = self.retriever.grounded_answer(text, passages)
                except Exception:
                    logger.exception("Grounded answer failed; the model answers")
        if grounded:  # the trusted text is the answer, streamed paragraph by paragraph; the model is not asked
            for shown in range(1, len(grounded) + 1):
                yield grounded_layout(turn, level, "\n\n".join(grounded[:shown]))
            return
        settings = self.generation_settings(max_new_tokens, temperature, top_p)
        messages, context_used = self.model_messages(history, text, settings.max_new_tokens, context)
        # Sources the model was given are shown only if they fitted its prompt; further reading whenever searched.
        shown = context_used if in_prompt else searched
        sources = self.retriever.sources_markdown(passages) if shown else ""
        sources_title = SOURCES_TITLE if in_prompt else FURTHER_READING_TITLE
        if level.guidance:  # urgent guidance shows at once, before the model starts
            yield layout(turn, level, "", sources, sources_title)
        body, chunk = "", ""
        try:
            for chunk in self.backend.stream(messages, settings):
                # an unfinished last sentence that may still become a dose or a doctor claim is held back
                new_body = reply_body(chunk, streaming=True)
                if new_body and new_body != body:
                    body = new_body
                    yield layout(turn, level, body, sources, sources_title)
            if (final_body := reply_body(chunk)) != body:  # the stream ended: its last sentence is finished
                body = final_body
                yield layout(turn, level, body, sources, sources_title)
        except Exception as exc:
            logger.exception("Generation failed")
            # gr.Error carries a message meant for users (e.g. ZeroGPU's "quota exceeded"); others stay private.
            import gradio as gr

            if isinstance(exc, BackendError):
                error = str(exc)
            else:
                error = f"{ERROR_REPLY}\n\n{exc.message}" if isinstance(exc, gr.Error) and exc.message else ERROR_REPLY
            yield guidance_messages(turn, level) + [notice(turn, error)]
            return
        if not body:
            yield guidance_messages(turn, level) + [notice(turn, EMPTY_REPLY), chat_message("disclaimer", turn, DISCLAIMER)]


class BackendError(RuntimeError):
    """A backend that cannot answer (an engine that is down, too slow or dropped the stream): `str(exc)` is written
    for the user and is shown as the reply's notice; anything else a backend raises shows the generic ERROR_REPLY."""


def notice(turn: int, text: str) -> dict[str, Any]:
    return chat_message("notice", turn, text)


def guidance_messages(turn: int, level: Triage) -> list[dict[str, Any]]:
    return [chat_message("guidance", turn, level.guidance.strip())] if level.guidance else []


def grounded_layout(turn: int, level: Triage, answer: str) -> list[dict[str, Any]]:
    """A grounded answer (retrieval "quote") laid out as a reply: guidance, the quoted answer (collapsed under the
    grounded answer's own title for an emergency or crisis), disclaimer. The chat and `medchat.evaluate` use it."""
    from medchat.knowledge.grounded import grounded_texts

    return layout(turn, level, answer, general_title=grounded_texts()["urgent_title"])


def layout(turn: int, level: Triage, body: str, sources: str = "", sources_title: str = SOURCES_TITLE,
           general_title: str = GENERAL_INFORMATION_TITLE) -> list[dict[str, Any]]:
    """Guidance, the model's text (or the grounded answer), sources, disclaimer. For emergency and crisis the
    guidance is the answer and the body is shown collapsed, titled as general information (`general_title`)."""
    out = guidance_messages(turn, level)
    if body:
        title = general_title if level.level in URGENT_LEVELS else None
        out.append(chat_message("answer", turn, body, title))
    if sources:
        out.append(chat_message("sources", turn, sources, sources_title))
    out.append(chat_message("disclaimer", turn, DISCLAIMER))
    return out


__all__ = [
    "BackendError",
    "ChatService",
    "EMPTY_REPLY",
    "ERROR_REPLY",
    "ReplyBackend",
    "Retriever",
    "chat_message",
    "content_to_text",
    "fit_to_budget",
    "kind_of",
    "layout",
    "reply_text",
]
