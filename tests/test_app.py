"""app.py end to end: the real app on a tiny random Llama, launched on a free port, driven by gradio_client."""

from __future__ import annotations

import importlib
import pickle
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import free_port
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


def test_predict_returns_reply_with_disclaimer(served):
    app, client = served
    reply = client.predict("I have a mild headache", api_name="/chat")
    assert isinstance(reply, str)
    assert _ends_with_disclaimer(reply)
    from medchat.safety import DISCLAIMER

    assert len(reply.strip()) > len(DISCLAIMER.strip())  # the model said something too


def test_stream_has_several_chunks_each_with_disclaimer(served):
    _, client = served
    job = client.submit("My knee hurts after running, what can I do?", *FAST, api_name="/chat")
    final = job.result(timeout=120)
    chunks = [c for c in job.outputs() if isinstance(c, str)]
    assert len(set(chunks)) >= 3
    assert chunks[-1] == final
    for chunk in chunks:
        assert _ends_with_disclaimer(chunk), chunk


def test_empty_and_too_long_messages_get_friendly_errors(served):
    from medchat.safety import DISCLAIMER, InputError, validate_user_message

    app, client = served
    for bad in ("   ", "x" * (app.MAX_INPUT_CHARS + 10)):
        with pytest.raises(InputError) as err:
            validate_user_message(bad, max_chars=app.MAX_INPUT_CHARS)
        reply = client.predict(bad, *FAST, api_name="/chat")
        assert reply == str(err.value)
        assert reply and "Traceback" not in reply and DISCLAIMER.strip() not in reply


def test_emergency_guidance_comes_first_in_every_chunk(served):
    from medchat.safety import triage

    _, client = served
    message = "I have crushing chest pain spreading to my left arm and I am sweating"
    guidance = triage(message).guidance.strip()
    assert guidance
    job = client.submit(message, *FAST, api_name="/chat")
    job.result(timeout=120)
    chunks = [c for c in job.outputs() if isinstance(c, str)]
    assert len(chunks) >= 2
    for chunk in chunks:
        assert chunk.lstrip().startswith(guidance), chunk[:200]
        assert _ends_with_disclaimer(chunk)


def test_generation_error_is_friendly_and_app_stays_up(served, monkeypatch):
    app, client = served

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")
        yield  # pragma: no cover

    monkeypatch.setattr(app, "stream_reply", boom)
    reply = client.predict("I have a mild headache", *FAST, api_name="/chat")
    assert reply == app.ERROR_REPLY
    assert "CUDA" not in reply

    import gradio as gr

    def quota(*args, **kwargs):
        raise gr.Error("You have exceeded your GPU quota (simulated).")
        yield  # pragma: no cover

    monkeypatch.setattr(app, "stream_reply", quota)
    reply = client.predict("I have a mild headache", *FAST, api_name="/chat")
    assert reply.startswith(app.ERROR_REPLY) and "GPU quota" in reply
    monkeypatch.undo()
    reply = client.predict("I have a mild headache", *FAST, api_name="/chat")
    assert _ends_with_disclaimer(reply) and reply != app.ERROR_REPLY


def test_history_is_trimmed_and_fed_back_without_additions(served, monkeypatch):
    """The handler gives the GPU function plain data; what reaches the model has no disclaimer."""
    from medchat.safety import DISCLAIMER, finalize_reply

    app, _ = served
    seen = {}

    def fake_stream(model, tokenizer, messages, settings):
        seen["messages"], seen["settings"] = messages, settings
        yield "Rest and fluids."

    monkeypatch.setattr(app, "stream_reply", fake_stream)
    history = [
        {"role": "user", "content": [{"type": "text", "text": "I have a cold"}]},
        {"role": "assistant", "content": [{"type": "text", "text": finalize_reply("I have a cold", "Drink tea.")}]},
    ]
    out = list(app.chat([{"type": "text", "text": "And a cough?"}], history, 32, 0.0, 0.9))
    assert out[-1].startswith("Rest and fluids.") or "Rest and fluids." in out[-1]
    assert _ends_with_disclaimer(out[-1])
    msgs = seen["messages"]
    assert msgs[0]["role"] == "system" and msgs[-1] == {"role": "user", "content": "And a cough?"}
    assert msgs[2] == {"role": "assistant", "content": "Drink tea."}
    assert all(DISCLAIMER.strip() not in m["content"] for m in msgs)
    assert seen["settings"].do_sample is False and seen["settings"].max_new_tokens == 32
    pickle.dumps(app._plain_history(history))  # crosses the ZeroGPU process boundary


def test_gpu_duration_grows_with_tokens_and_is_capped(served):
    app, _ = served
    assert app._gpu_duration("hi", [], 0, 0.7, 0.9) == 10
    assert app._gpu_duration("hi", [], 384, 0.7, 0.9) == 10 + round(384 / 20)
    assert app._gpu_duration("hi", [], 10_000, 0.7, 0.9) == 120


def test_examples_are_loaded_and_not_cached(served):
    app, _ = served
    examples = app.load_examples()
    assert 6 <= len(examples) <= 12 and all(isinstance(e, str) and e for e in examples)
    from medchat.safety import triage

    levels = {triage(e).level for e in examples}
    assert {"routine", "emergency", "crisis"} <= levels
    interface = app.demo.chat_interface
    assert interface.fn.__wrapped__ is app.chat
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
    assert seen["launch"] == {"share": True, "server_name": "0.0.0.0", "server_port": 7999}
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
