"""app.py end to end: the real app on a tiny random Llama, launched on a free port, driven by gradio_client."""

from __future__ import annotations

import importlib
import pickle
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import free_port, replace_stream
from tests.test_generation import make_chatty_model_dir

ROOT = Path(__file__).resolve().parent.parent
FAST = (24, 0.0, 0.9)  # max new tokens, temperature (greedy), top-p


def import_app(monkeypatch, model_dir: Path, tmp_path: Path, **env: str):
    """Import app.py afresh with the model chosen by env vars (nothing is downloaded)."""
    monkeypatch.setenv("MEDCHAT_BASE_MODEL", str(model_dir))
    monkeypatch.setenv("MEDCHAT_ADAPTER", "")
    monkeypatch.setenv("MEDCHAT_REVIEW_DB", str(tmp_path / "review.db"))
    monkeypatch.setenv("MEDCHAT_MAX_CONTEXT_TOKENS", "1024")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    # The app's own default (retrieval "quote") answers most medical questions with quoted sources and no model
    # text; these tests exercise the model's streaming, so the model answers and sources are listed under it.
    # test_predict_returns_reply_with_disclaimer turns the default back on.
    monkeypatch.setenv("MEDCHAT_RETRIEVAL", "show")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("app", None)
    return importlib.import_module("app")


@pytest.fixture(scope="module")
def chatty_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return make_chatty_model_dir(tmp_path_factory.mktemp("chatty"), tiny_model_dir)


@pytest.fixture(scope="module")
def served(chatty_dir, tmp_path_factory):
    from gradio_client import Client

    with pytest.MonkeyPatch.context() as mp:
        app = import_app(mp, chatty_dir, tmp_path_factory.mktemp("app"))
        port = free_port()
        app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        try:
            yield app, client
        finally:
            app.demo.close()
            sys.modules.pop("app", None)


def _ends_with_disclaimer(text: str) -> bool:
    from medchat.safety import DISCLAIMER

    return text.rstrip().endswith(DISCLAIMER.strip())


def _text(reply) -> str:
    """A reply of the /chat API (its list of messages) as one text, in the order shown."""
    from medchat.chat import reply_text

    assert isinstance(reply, list) and all(isinstance(m, dict) and m["role"] == "assistant" for m in reply), reply
    return reply_text(reply)


def test_predict_returns_reply_with_disclaimer(served, monkeypatch):
    from medchat.chat import kind_of
    from medchat.knowledge.grounded import grounded_texts
    from medchat.safety import DISCLAIMER

    import dataclasses

    from medchat.settings import AppSettings

    app, client = served
    monkeypatch.setattr(app.service, "settings",
                        dataclasses.replace(app.service.settings, retrieval=AppSettings().retrieval))
    client.reset_session()
    reply = client.predict("I have a mild headache", api_name="/chat")
    assert _ends_with_disclaimer(_text(reply))
    # by default (MEDCHAT_RETRIEVAL=quote) the answer quotes the shipped trusted sources, attributed; disclaimer last
    assert [kind_of(m) for m in reply] == ["answer", "disclaimer"]
    answer = reply[0]["content"]
    assert grounded_texts()["opening"] in answer and "via MedQuAD" in answer and "CC BY 4\\.0" in answer
    assert answer.count("From **") == 1 and "\n> " in answer and DISCLAIMER not in answer  # one source, quoted


def test_stream_has_several_chunks_each_with_disclaimer(served):
    _, client = served
    client.reset_session()
    job = client.submit("My knee hurts after running, what can I do?", *FAST, api_name="/chat")
    final = job.result(timeout=120)
    chunks = [_text(c) for c in job.outputs() if isinstance(c, list)]
    assert len(set(chunks)) >= 3
    assert chunks[-1] == _text(final)
    for chunk in chunks:
        assert _ends_with_disclaimer(chunk), chunk


def test_empty_and_too_long_messages_get_friendly_errors(served):
    from medchat.safety import DISCLAIMER, InputError, validate_user_message

    app, client = served
    client.reset_session()
    for bad in ("   ", "x" * (app.settings.max_input_chars + 10)):
        with pytest.raises(InputError) as err:
            validate_user_message(bad, max_chars=app.settings.max_input_chars)
        reply = _text(client.predict(bad, *FAST, api_name="/chat"))
        assert reply == str(err.value)
        assert reply and "Traceback" not in reply and DISCLAIMER.strip() not in reply


def test_refused_message_never_reaches_the_model_on_the_next_turn(served, monkeypatch):
    """Issue 17.3: a 4,600-character message is refused, and the next turn's history does not carry it."""
    app, client = served
    seen = []
    replace_stream(monkeypatch, app, on_call=lambda messages, settings: seen.append(messages))
    client.reset_session()
    client.predict("I have had a sore throat since Monday", *FAST, api_name="/chat")
    refused = "please read all of this: " + "symptom details " * 288  # 4,633 characters
    assert len(refused) > 4600
    assert "limit is 4000" in _text(client.predict(refused, *FAST, api_name="/chat"))
    assert _ends_with_disclaimer(_text(client.predict("Is it contagious?", *FAST, api_name="/chat")))
    assert len(seen) == 2  # the refused message never went to the model
    roles = [m["role"] for m in seen[-1]]
    assert roles == ["system", "user", "assistant", "user"]
    assert seen[-1][1]["content"] == "I have had a sore throat since Monday"
    assert all("symptom details" not in m["content"] for m in seen[-1])
    # one Client is one conversation: a fresh session starts a new one
    client.reset_session()
    client.predict("Is it contagious?", *FAST, api_name="/chat")
    assert [m["role"] for m in seen[-1]] == ["system", "user"]


def test_emergency_guidance_comes_first_in_every_chunk(served):
    from medchat.safety import triage

    _, client = served
    client.reset_session()
    message = "I have crushing chest pain spreading to my left arm and I am sweating"
    guidance = triage(message).guidance.strip()
    assert guidance
    job = client.submit(message, *FAST, api_name="/chat")
    job.result(timeout=120)
    chunks = [c for c in job.outputs() if isinstance(c, list)]
    assert len(chunks) >= 2
    for chunk in chunks:
        assert chunk[0]["content"] == guidance
        assert _text(chunk).lstrip().startswith(guidance), _text(chunk)[:200]
        assert _ends_with_disclaimer(_text(chunk))


def test_generation_error_is_friendly_and_app_stays_up(served, monkeypatch):
    from medchat.chat import ERROR_REPLY

    app, client = served
    client.reset_session()

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")
        yield  # pragma: no cover

    monkeypatch.setattr(app, "stream_reply", boom)
    reply = _text(client.predict("I have a mild headache", *FAST, api_name="/chat"))
    assert reply == ERROR_REPLY
    assert "CUDA" not in reply

    import gradio as gr

    def quota(*args, **kwargs):
        raise gr.Error("You have exceeded your GPU quota (simulated).")
        yield  # pragma: no cover

    monkeypatch.setattr(app, "stream_reply", quota)
    reply = _text(client.predict("I have a mild headache", *FAST, api_name="/chat"))
    assert reply.startswith(ERROR_REPLY) and "GPU quota" in reply
    monkeypatch.undo()
    reply = _text(client.predict("I have a mild headache", *FAST, api_name="/chat"))
    assert _ends_with_disclaimer(reply) and reply != ERROR_REPLY


def test_history_is_trimmed_and_fed_back_without_additions(served, monkeypatch):
    """The handler gives the GPU function plain data; what reaches the model has no disclaimer."""
    from medchat.chat import chat_message
    from medchat.safety import DISCLAIMER

    app, _ = served
    seen = {}
    replace_stream(monkeypatch, app, "Rest and fluids.",
                   on_call=lambda messages, settings: seen.update(messages=messages, settings=settings))
    history = [
        {"role": "user", "content": [{"type": "text", "text": "I have a cold"}]},
        chat_message("answer", 0, "Drink tea."),
        chat_message("disclaimer", 0, DISCLAIMER),
    ]
    out = list(app.service.respond([{"type": "text", "text": "And a cough?"}], history, 32, 0.0, 0.9))
    assert out[-1][0]["content"] == "Rest and fluids."
    assert _ends_with_disclaimer(_text(out[-1]))
    msgs = seen["messages"]
    assert msgs[0]["role"] == "system" and msgs[-1] == {"role": "user", "content": "And a cough?"}
    assert msgs[2] == {"role": "assistant", "content": "Drink tea."}
    assert all(DISCLAIMER.strip() not in m["content"] for m in msgs)
    assert seen["settings"].do_sample is False and seen["settings"].max_new_tokens == 32
    pickle.dumps((msgs, seen["settings"]))  # crosses the ZeroGPU process boundary


def test_model_label_shows_no_server_path(served):
    app, _ = served
    label = app.backend.label
    assert label.startswith("chatty") and "(local)" in label and "/" not in label
    line = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "medchat-model-line")
    assert label in line.value and "/tmp" not in line.value and str(ROOT) not in line.value


def test_gpu_duration_grows_with_tokens_and_is_capped(served):
    app, _ = served
    from medchat.generation import GenerationSettings

    duration = lambda n: app._gpu_duration([], GenerationSettings(max_new_tokens=n))  # noqa: E731
    assert duration(0) == 10
    assert duration(384) == 10 + round(384 / 20)
    assert duration(10_000) == 120


def test_examples_are_loaded_and_not_cached(served):
    app, _ = served
    examples = app.load_examples()
    assert 6 <= len(examples) <= 12 and all(isinstance(e, str) and e for e in examples)
    from medchat.safety import triage

    levels = {triage(e).level for e in examples}
    assert {"routine", "emergency", "crisis"} <= levels
    interface = app.demo.chat_interface
    assert interface.fn == app.service.respond
    assert interface.cache_examples is False and interface.cache_mode is None
    assert [e[0] for e in interface.examples] == examples


def test_zero_gpu_wiring(monkeypatch, tmp_path, chatty_dir):
    """On ZeroGPU: `spaces` imported, model loaded on cuda at import (bf16, not 4-bit), generation decorated."""
    calls = {}

    def fake_gpu(task=None, *, duration=None, size=None):
        def wrap(fn):
            calls["gpu"] = (fn.__name__, duration)
            return fn

        return wrap if task is None else wrap(task)

    fake_spaces = types.ModuleType("spaces")
    fake_spaces.GPU = fake_gpu
    fake_spaces.config = types.SimpleNamespace(Config=types.SimpleNamespace(zero_gpu=True))
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces)

    import medchat.modeling as modeling

    real_loader = modeling.load_model_and_tokenizer

    def fake_loader(base_model=None, adapter=None, load_in_4bit=None, device_map=None, **kwargs):
        calls["load"] = dict(base_model=base_model, adapter=adapter, load_in_4bit=load_in_4bit, device_map=device_map)
        return real_loader(base_model, adapter=adapter, load_in_4bit=False)

    monkeypatch.setattr(modeling, "load_model_and_tokenizer", fake_loader)
    monkeypatch.delenv("MEDCHAT_LOAD_IN_4BIT", raising=False)
    try:
        app = import_app(monkeypatch, chatty_dir, tmp_path, MEDCHAT_ADAPTER="")
        assert calls["load"]["device_map"] == "cuda"
        assert calls["load"]["load_in_4bit"] is False
        assert calls["load"]["base_model"] == str(chatty_dir) and calls["load"]["adapter"] is None
        assert calls["gpu"] == ("generate_stream", app._gpu_duration)
        assert app.ON_ZERO_GPU
    finally:
        sys.modules.pop("app", None)


def test_cli_flags_reach_launch_and_queue(served, monkeypatch):
    app, _ = served
    seen = {}
    monkeypatch.setattr(app.demo, "launch", lambda **kw: seen.setdefault("launch", kw))
    monkeypatch.setattr(app, "configure_queue", lambda demo, **kw: seen.setdefault("queue", kw))
    app.main(["--host", "0.0.0.0", "--port", "7999", "--concurrency", "2", "--max_queue", "5", "--share"])
    assert seen["launch"] == {"share": True, "server_name": "0.0.0.0", "server_port": 7999,
                              "max_file_size": app.REVIEW_SOURCES.max_bytes}  # uploads capped before they reach disk
    assert seen["queue"] == {"concurrency_limit": 2, "max_queue": 5}


def test_queue_is_bounded_and_configurable(served):
    from medchat.ui import DEFAULT_CONCURRENCY, DEFAULT_MAX_QUEUE, configure_queue

    app, _ = served
    assert app.demo._queue.max_size == DEFAULT_MAX_QUEUE
    assert app.demo._queue.default_concurrency_limit == DEFAULT_CONCURRENCY
    import gradio as gr

    with gr.Blocks() as other:
        gr.Button()
    configure_queue(other, concurrency_limit=3, max_queue=9)
    assert (other._queue.default_concurrency_limit, other._queue.max_size) == (3, 9)
