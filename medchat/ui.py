"""The Gradio Blocks of the medchat app: a disclaimer banner, which model is loaded, the chat tab
(a streaming ``gr.ChatInterface`` exposed as the ``/chat`` API) and, when given, the review tab.

``build_app`` only lays the page out; the chat service (``medchat.chat``) writes the replies.

Text is shown as text. The Chatbot renders Markdown, which would let a message (the user's own or the model's)
carry HTML such as ``<img src=...>`` that the browser fetches. ``text_chatbot`` encodes every message for display
on the way to the browser (``&`` and ``<`` as entities, ``![`` as ``&#33;[``, code spans untouched, where
Markdown shows text verbatim) and decodes exactly on the way back, so Python code only ever sees what was typed
or generated; the Chatbot also sanitizes HTML and keeps no custom tags.
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable

import gradio as gr

from medchat.generation import GenerationSettings
from medchat.safety import InputError
from medchat.settings import DEFAULT_CONCURRENCY, DEFAULT_MAX_QUEUE

_DEFAULTS = GenerationSettings()

_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.S)
_ENCODE = (("&", "&amp;"), ("<", "&lt;"), ("![", "&#33;["))


def display_encode(text: str) -> str:
    """Message text as the browser must get it to show it as text (tags and images inert, code spans as they are)."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        for raw, shown in _ENCODE:
            parts[i] = parts[i].replace(raw, shown)
    return "".join(parts)


def display_decode(text: str) -> str:
    """Exact inverse of ``display_encode`` (every ``&`` in encoded text starts one of the three entities)."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        for raw, shown in reversed(_ENCODE):
            parts[i] = parts[i].replace(shown, raw)
    return "".join(parts)


def _map_text(message: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(message, gr.ChatMessage):
        message = {"role": message.role, "content": message.content, "metadata": message.metadata,
                   "options": message.options}
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, str):
        content = fn(content)
    elif isinstance(content, list):
        content = [fn(b) if isinstance(b, str) else
                   {**b, "text": fn(b["text"])} if isinstance(b, dict) and isinstance(b.get("text"), str) else b
                   for b in content]
    return {**message, "content": content}


def text_chatbot(**kwargs) -> gr.Chatbot:
    """A Chatbot that shows message text as text: encoded for display on the way out, decoded on the way in.
    (Its methods are wrapped, not subclassed: Gradio writes a .pyi stub beside any module that subclasses a
    component.)"""
    chatbot = gr.Chatbot(**kwargs)
    postprocess, preprocess = chatbot.postprocess, chatbot.preprocess
    chatbot.postprocess = lambda value: postprocess([_map_text(m, display_encode) for m in value] if value else value)
    chatbot.preprocess = lambda payload: [_map_text(m, display_decode) for m in preprocess(payload)]
    return chatbot


def _plain(text: str) -> str:
    """Markdown emphasis/links removed, HTML escaped: for the banner, which is HTML."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text or "")
    text = re.sub(r"[*_`]+", "", text)
    return html.escape(text.strip())


def _code(label: str) -> str:
    """A label as Markdown inline code (shown verbatim; backticks cannot close the span)."""
    return "`" + str(label).replace("`", "'").replace("\n", " ") + "`"


def _disclaimer_text() -> str:
    try:
        from medchat.safety import DISCLAIMER
    except ImportError:  # pragma: no cover - safety ships with the package
        DISCLAIMER = "medchat gives general information only; it is not a doctor and not a diagnosis."
    return DISCLAIMER


def banner_html(disclaimer: str | None = None) -> str:
    text = _plain(disclaimer or _disclaimer_text())
    return (
        '<div id="medchat-disclaimer" role="note" '
        'style="border:1px solid #f59e0b;border-left:6px solid #d97706;background:#fffbeb;color:#78350f;'
        'padding:10px 14px;border-radius:8px;font-size:0.95rem;line-height:1.4">'
        "<strong>Important:</strong> "
        f"{text}"
        "</div>"
    )


def build_app(
    service,
    *,
    examples: list[str],
    review_tab: Callable[[], object] | None = None,
    title: str = "medchat",
    disclaimer: str | None = None,
    default_settings: GenerationSettings | None = None,
    concurrency_limit: int | None = DEFAULT_CONCURRENCY,
    max_queue: int | None = DEFAULT_MAX_QUEUE,
) -> gr.Blocks:
    """The app's Blocks.

    service: a ``medchat.chat.ChatService``: ``service.respond`` is the ChatInterface handler, ``service.validate``
        checks a message in the browser before it leaves the textbox, ``service.backend.label`` names the model.
    review_tab: called inside a ``gr.Tab("Review")`` to build that tab's content.
    concurrency_limit / max_queue: queue settings (``configure_queue`` changes them later).
    """
    max_new_tokens_limit = service.settings.max_new_tokens_limit

    def validator(message):
        # Runs as a queued step before the textbox is cleared: a message refused here, or refused because the queue
        # is full ("This application is currently busy. Please try again."), stays in the textbox to send again.
        try:
            service.validate(message)
        except InputError as exc:
            return gr.validate(False, str(exc))
        return gr.validate(True, "")

    settings = default_settings or _DEFAULTS
    max_new_default = min(int(settings.max_new_tokens), int(max_new_tokens_limit))

    with gr.Blocks(title=title, analytics_enabled=False, fill_height=False) as demo:
        gr.Markdown(f"# {html.escape(title)}\nAsk a health question and get a doctor-style answer.")
        gr.Markdown(banner_html(disclaimer), elem_id="medchat-banner")
        gr.Markdown(f"**Model:** {_code(service.backend.label)}", elem_id="medchat-model-line")

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chatbot = text_chatbot(
                    label="Conversation",
                    height=480,
                    sanitize_html=True,
                    allow_tags=False,
                    render_markdown=True,
                    line_breaks=True,
                    layout="bubble",
                    buttons=["copy"],
                    feedback_options=None,
                    placeholder="Describe your symptoms, how long you have had them, your age and any medicines you take.",
                    render=False,
                )
                textbox = gr.Textbox(
                    placeholder="Type your health question…",
                    show_label=False,
                    lines=1,
                    max_lines=8,
                    submit_btn=True,
                    stop_btn=True,
                    autofocus=True,
                    render=False,
                )
                additional_inputs = [
                    gr.Slider(16, int(max_new_tokens_limit), value=max_new_default, step=16, label="Max new tokens", render=False),
                    gr.Slider(0.0, 1.5, value=float(settings.temperature), step=0.05, label="Temperature (0 = greedy)", render=False),
                    gr.Slider(0.1, 1.0, value=float(settings.top_p), step=0.05, label="Top-p", render=False),
                ]
                chat_interface = gr.ChatInterface(
                    fn=service.respond,
                    validator=validator,
                    chatbot=chatbot,
                    textbox=textbox,
                    additional_inputs=additional_inputs,
                    additional_inputs_accordion=gr.Accordion("Generation settings", open=False, render=False),
                    examples=[[e] for e in examples] or None,
                    examples_label="Example questions",
                    cache_examples=False,
                    run_examples_on_click=True,
                    api_name="chat",
                    api_description="Stream a doctor-style reply: a list of messages (guidance, answer, sources, disclaimer last), "
                    "each tagged in metadata.id; one Client keeps one conversation.",
                    flagging_mode="never",
                    save_history=False,
                    fill_height=False,
                    analytics_enabled=False,
                    autofocus=True,
                )
            if review_tab is not None:
                with gr.Tab("Review", id="review"):
                    review_tab()

        gr.Markdown(
            "<small>Text written by the language model can be wrong; quotes come from the sources named above them. "
            "Do not share names, addresses or other identifying details.</small>",
            elem_id="medchat-footer",
        )

    for block_fn in demo.fns.values():
        if block_fn.name == "_clear_and_save_textbox":
            # A refused step (queue full) would cover the kept message with an "Error" badge; the toast says why.
            block_fn.show_progress = "hidden"
    demo.chat_interface = chat_interface  # for tests and callers that need the component tree
    configure_queue(demo, concurrency_limit=concurrency_limit, max_queue=max_queue)
    return demo


def configure_queue(demo: gr.Blocks, *, concurrency_limit: int | None = DEFAULT_CONCURRENCY, max_queue: int | None = DEFAULT_MAX_QUEUE) -> gr.Blocks:
    """(Re)configure the queue: how many events run at once by default, and how many may wait."""
    return demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)


__all__ = [
    "DEFAULT_CONCURRENCY", "DEFAULT_MAX_QUEUE", "banner_html", "build_app", "configure_queue",
    "display_decode", "display_encode", "text_chatbot",
]
