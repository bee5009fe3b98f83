"""The Gradio Blocks of the medchat app: a disclaimer banner, which model is loaded, the chat tab
(a streaming ``gr.ChatInterface`` exposed as the ``/chat`` API) and, when given, the review tab.

``build_app`` only lays the page out; ``app.py`` owns the model and the chat handler.
Replies are rendered as Markdown; HTML tags in a reply are shown as text and Markdown images as their
alt text (``display_safe``), and the Chatbot sanitizes HTML and keeps no custom tags, so ``<script>``
never runs and a reply cannot make the browser load a remote URL.
"""

from __future__ import annotations

import functools
import html
import inspect
import re
from typing import Any, Callable

import gradio as gr

from medchat.generation import GenerationSettings

DEFAULT_CONCURRENCY = 1  # one generation at a time per replica: a GPU (or CPU) serves one stream well
DEFAULT_MAX_QUEUE = 32

_DEFAULTS = GenerationSettings()


_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.S)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")


def display_safe(text: str) -> str:
    """Reply text for the chat window: HTML tags show as text (``<b>`` stays ``<b>``, nothing is
    parsed) and Markdown images become their alt text, so a reply can neither run script nor make
    the browser fetch a remote URL. Code spans/blocks are left alone (Markdown shows them verbatim)."""
    if not isinstance(text, str):
        return text
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        part = _TAG_START.sub("&lt;", parts[i])
        parts[i] = _MD_IMAGE.sub(lambda m: f"[image: {m.group(1).strip() or 'not shown'}]", part)
    return "".join(parts)


def _undo_display(content: Any) -> Any:
    """History as the model wrote it (the escaping of ``display_safe`` removed)."""
    if isinstance(content, str):
        return content.replace("&lt;", "<")
    if isinstance(content, list):
        return [
            {**b, "text": b["text"].replace("&lt;", "<")} if isinstance(b, dict) and isinstance(b.get("text"), str) else b
            for b in content
        ]
    return content


def _displayed(chat_fn: Callable) -> Callable:
    """Wrap the chat function so that what it shows goes through ``display_safe``."""

    def history_in(history):
        return [
            {**m, "content": _undo_display(m.get("content"))} if isinstance(m, dict) and m.get("role") == "assistant" else m
            for m in (history or [])
        ]

    if inspect.isgeneratorfunction(chat_fn):

        @functools.wraps(chat_fn)
        def stream(message, history, *args):
            for chunk in chat_fn(message, history_in(history), *args):
                yield display_safe(chunk)

        return stream

    @functools.wraps(chat_fn)
    def once(message, history, *args):
        return display_safe(chat_fn(message, history_in(history), *args))

    return once


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
    chat_fn: Callable,
    *,
    model_label: str,
    adapter_label: str,
    examples: list[str],
    review_tab: Callable[[], object] | None = None,
    title: str = "medchat",
    disclaimer: str | None = None,
    default_settings: GenerationSettings | None = None,
    max_new_tokens_limit: int = 1024,
    concurrency_limit: int | None = DEFAULT_CONCURRENCY,
    max_queue: int | None = DEFAULT_MAX_QUEUE,
) -> gr.Blocks:
    """The app's Blocks.

    chat_fn: ``chat_fn(message, history, max_new_tokens, temperature, top_p)``, a generator of the
        cumulative reply (the ChatInterface streams it).
    review_tab: called inside a ``gr.Tab("Review")`` to build that tab's content.
    concurrency_limit / max_queue: queue settings (``configure_queue`` changes them later).
    """
    settings = default_settings or _DEFAULTS
    max_new_default = min(int(settings.max_new_tokens), int(max_new_tokens_limit))

    with gr.Blocks(title=title, analytics_enabled=False, fill_height=False) as demo:
        gr.Markdown(f"# {html.escape(title)}\nAsk a health question and get a doctor-style answer.")
        gr.Markdown(banner_html(disclaimer), elem_id="medchat-banner")
        gr.Markdown(
            f"**Base model:** {_code(model_label)} &nbsp;·&nbsp; **Adapter:** {_code(adapter_label)}",
            elem_id="medchat-model-line",
        )

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chatbot = gr.Chatbot(
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
                    fn=_displayed(chat_fn),
                    chatbot=chatbot,
                    textbox=textbox,
                    additional_inputs=additional_inputs,
                    additional_inputs_accordion=gr.Accordion("Generation settings", open=False, render=False),
                    examples=[[e] for e in examples] or None,
                    examples_label="Example questions",
                    cache_examples=False,
                    run_examples_on_click=True,
                    api_name="chat",
                    api_description="Stream a doctor-style reply (ends with the medical disclaimer).",
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
            "<small>Replies are generated by a language model and can be wrong. "
            "Do not share names, addresses or other identifying details.</small>",
            elem_id="medchat-footer",
        )

    demo.chat_interface = chat_interface  # for tests and callers that need the component tree
    configure_queue(demo, concurrency_limit=concurrency_limit, max_queue=max_queue)
    return demo


def configure_queue(demo: gr.Blocks, *, concurrency_limit: int | None = DEFAULT_CONCURRENCY, max_queue: int | None = DEFAULT_MAX_QUEUE) -> gr.Blocks:
    """(Re)configure the queue: how many events run at once by default, and how many may wait."""
    return demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)


__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_MAX_QUEUE", "banner_html", "build_app", "configure_queue", "display_safe"]
