"""The remote backend against a real OpenAI-compatible engine: `transformers serve` (transformers' own server, from
PyPI) on loopback, CPU, serving the shipped adapter merged into the offline SmolLM2 by `python -m medchat.export`.

Replies go the way the app's handler sends them (validate, triage, stream, finalize every chunk, the backend's
user-facing message on failure): `app_like_chat` below runs the app's own chat service over the backend.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest

from benchmarks.remote_concurrency import PROMPTS, TransformersServe, run_streams
from medchat.chat import ChatService, reply_text
from medchat.generation import GenerationSettings, count_prompt_tokens, generate_replies
from medchat.remote import DOWN_MESSAGE, DROPPED_MESSAGE, BackendUnavailable, RemoteBackend, backend_from_env
from medchat.safety import DISCLAIMER, EMERGENCY_GUIDANCE, triage
from medchat.settings import AppSettings
from tests.conftest import free_port

GREEDY = GenerationSettings(max_new_tokens=12, do_sample=False)
HEADACHE = "I've had a mild headache for two days, mostly in the afternoon. What can I do?"
CHEST_PAIN = "I have crushing chest pain spreading to my left arm and I'm sweating a lot. What should I do?"
SECRET = "sk-SECRETsecretSECRET"
CHEST_PAIN_GUIDANCE = triage(CHEST_PAIN).guidance  # emergency: call now (+ what to do while waiting)


def app_like_chat(backend, message: str, settings: GenerationSettings):
    """The app's own handler (medchat.chat.ChatService) over this backend; each chunk as the text shown."""
    service = ChatService(backend, AppSettings.from_env({}))
    temperature = settings.temperature if settings.do_sample else 0.0
    for reply in service.respond(message, [], settings.max_new_tokens, temperature, settings.top_p):
        yield reply_text(reply)


@pytest.fixture(scope="module")
def engine(merged_shipped_model):
    server = TransformersServe(merged_shipped_model, free_port()).wait_ready(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def backend(engine, merged_shipped_model):
    # Generous per-read timeout: a loaded 2-core CI machine can take seconds per token.
    remote = RemoteBackend(engine.url, token=SECRET, tokenizer=str(merged_shipped_model), read_timeout=120)
    yield remote
    remote.close()


def test_reply_streams_from_the_engine_with_disclaimer_and_equals_in_process_generation(backend, merged_shipped_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shown = list(app_like_chat(backend, HEADACHE, GREEDY))
    assert len(shown) >= 2  # streamed, not one block
    assert all(chunk.rstrip().endswith(DISCLAIMER) for chunk in shown)  # disclaimer last in every chunk
    final = shown[-1]
    assert EMERGENCY_GUIDANCE.split("**")[1] not in final  # routine: no emergency guidance
    model_text = final.replace(DISCLAIMER, "").strip(" \n-*_")
    assert len(model_text.split()) >= 3
    # The engine serves exactly medchat's merged model and chat template: greedy text equals in-process generate.
    model = AutoModelForCausalLM.from_pretrained(merged_shipped_model)
    tokenizer = AutoTokenizer.from_pretrained(merged_shipped_model)
    (expected,) = generate_replies(model, tokenizer, [[{"role": "user", "content": HEADACHE}]], GREEDY)
    streamed = list(backend.stream([{"role": "user", "content": HEADACHE}], GREEDY))
    assert streamed[-1] == expected.strip()
    assert backend.label.endswith("(remote engine)") and SECRET not in backend.label and "127.0.0.1" not in backend.label


def test_emergency_guidance_comes_first_before_the_engine_answers(backend):
    replies = app_like_chat(backend, CHEST_PAIN, GREEDY)
    first = next(replies)
    assert first.startswith(CHEST_PAIN_GUIDANCE) and first.rstrip().endswith(DISCLAIMER)
    final = list(replies)[-1]
    assert final.startswith(CHEST_PAIN_GUIDANCE) and final.rstrip().endswith(DISCLAIMER)
    assert len(final) > len(first)  # the model text came between them


def test_token_budget_counts_with_the_served_models_tokenizer_or_a_conservative_estimate(engine, backend,
                                                                                         merged_shipped_model):
    from transformers import AutoTokenizer

    messages = [{"role": "system", "content": "You are a careful doctor."}, {"role": "user", "content": HEADACHE},
                {"role": "assistant", "content": "Headaches in the afternoon are often from dehydration."},
                {"role": "user", "content": "I drink four coffees a day."}]
    exact = count_prompt_tokens(AutoTokenizer.from_pretrained(merged_shipped_model), messages)
    assert backend.count_tokens(messages) == exact and backend.token_count_method.startswith("tokenizer")
    estimating = RemoteBackend(engine.url, model="medchat-not-a-local-dir")
    assert estimating.token_count_method.startswith("estimate")
    assert exact <= estimating.count_tokens(messages) <= 1.6 * exact  # never under: history must fit the context


def test_concurrent_streams_each_get_their_own_reply(backend):
    prompts = PROMPTS[:3]
    settings = GenerationSettings(max_new_tokens=6, do_sample=False)
    one_by_one = run_streams(backend, prompts, settings, concurrency=1)["replies"]
    at_once = run_streams(backend, prompts, settings, concurrency=3)["replies"]
    assert len({r["model_text"] for r in one_by_one}) == 3  # the prompts get different replies...
    assert [r["model_text"] for r in at_once] == [r["model_text"] for r in one_by_one]  # ...and no cross-talk


def test_stop_closes_the_stream_and_the_engine_stops_generating(backend):
    long = GenerationSettings(max_new_tokens=200, do_sample=False)
    started = time.perf_counter()
    stream = backend.stream([{"role": "user", "content": HEADACHE}], long)
    chunks = [next(stream) for _ in range(4)]
    per_token = (time.perf_counter() - started) / 4
    stream.close()  # the stop button: Gradio closes the handler's generator
    started = time.perf_counter()
    short = list(backend.stream([{"role": "user", "content": "Is a mild cold dangerous?"}], GREEDY))
    waited = time.perf_counter() - started
    assert chunks and short
    # transformers serve generates one request at a time: had it kept writing the 196 tokens nobody reads, the next
    # reply would wait behind them.
    assert waited < 0.5 * 196 * per_token, (waited, per_token)


def test_a_down_server_gives_the_user_message_fast_and_never_leaks_the_token(caplog):
    port = free_port()  # nothing listens here
    caplog.set_level(logging.DEBUG)
    remote = backend_from_env({"MEDCHAT_BACKEND_URL": f"http://admin:pw123@127.0.0.1:{port}/v1",
                               "MEDCHAT_BACKEND_MODEL": "medchat", "MEDCHAT_BACKEND_TOKEN": SECRET})
    started = time.perf_counter()
    shown = list(app_like_chat(remote, CHEST_PAIN, GREEDY))
    assert time.perf_counter() - started < 5
    assert shown[0].startswith(CHEST_PAIN_GUIDANCE)  # guidance still reaches the user
    assert shown[-1].startswith(CHEST_PAIN_GUIDANCE) and shown[-1].endswith(DOWN_MESSAGE)
    with pytest.raises(BackendUnavailable) as err:
        list(remote.stream([{"role": "user", "content": HEADACHE}], GREEDY))
    assert err.value.reason == "down"
    for text in (remote.label, caplog.text, str(err.value), repr(err.value)):
        assert SECRET not in text and "pw123" not in text
    assert backend_from_env({}) is None and backend_from_env({"MEDCHAT_BACKEND_URL": " "}) is None
    with pytest.raises(ValueError, match="MEDCHAT_BACKEND_TIMEOUT"):
        backend_from_env({"MEDCHAT_BACKEND_URL": "http://127.0.0.1:1/v1", "MEDCHAT_BACKEND_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="http://host:port/v1") as bad:
        backend_from_env({"MEDCHAT_BACKEND_URL": f"ftp://admin:pw123@127.0.0.1:{port}/v1"})
    assert "pw123" not in str(bad.value)


def test_a_server_that_never_answers_times_out_with_the_user_message():
    with socket.socket() as stalled:  # accepts connections (kernel backlog) and never says a word
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        remote = RemoteBackend(f"http://127.0.0.1:{stalled.getsockname()[1]}/v1", model="medchat", read_timeout=1.0)
        started = time.perf_counter()
        with pytest.raises(BackendUnavailable) as err:
            list(remote.stream([{"role": "user", "content": HEADACHE}], GREEDY))
        assert time.perf_counter() - started < 5
    assert err.value.reason == "slow" and "taking too long" in str(err.value)


def test_engine_killed_mid_reply_gives_the_user_message_and_nothing_hangs(engine, backend):
    # Last in this module: it kills the module's engine.
    replies = app_like_chat(backend, CHEST_PAIN, GenerationSettings(max_new_tokens=200, do_sample=False))
    shown = [next(replies), next(replies)]  # guidance, then the first model text
    engine.stop()  # SIGKILL, as a crashed or OOM-killed engine
    started = time.perf_counter()
    shown += list(replies)
    assert time.perf_counter() - started < 10
    assert shown[-1].startswith(CHEST_PAIN_GUIDANCE) and shown[-1].endswith(DROPPED_MESSAGE)
    with pytest.raises(BackendUnavailable) as err:  # and the next message is told the server is down, fast
        list(backend.stream([{"role": "user", "content": HEADACHE}], GREEDY))
    assert err.value.reason == "down"
