"""medchat.generation: token-budget prompt building, streaming, batched greedy generation (tiny random Llama)."""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest
import torch

from medchat.chat import ChatService, chat_message, fit_to_budget
from medchat.generation import (
    GenerationSettings,
    TransformersBackend,
    count_prompt_tokens,
    eos_token_ids,
    generate_replies,
    stream_reply,
)
from medchat.settings import AppSettings

SYSTEM = "You are a careful doctor. Answer briefly."
GREEDY = GenerationSettings(max_new_tokens=10, do_sample=False, repetition_penalty=1.0)


def make_chatty_model_dir(target: Path, tiny_model_dir: Path) -> Path:
    """The shared tiny random Llama with an untied random output layer.

    With tied embeddings a random model just repeats the prompt's last token ("\n") forever, which
    cleans to an empty reply; an independent output layer makes it emit varied (nonsense) words."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config.tie_word_embeddings = False
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(model.lm_head.weight.shape, generator=generator) * 0.5
    model.lm_head.weight = torch.nn.Parameter(weight)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    from medchat.modeling import load_model_and_tokenizer

    chatty = make_chatty_model_dir(tmp_path_factory.mktemp("chatty"), tiny_model_dir)
    model, tokenizer = load_model_and_tokenizer(str(chatty), load_in_4bit=False)
    assert not torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    return model, tokenizer


def _history(n_turns: int, words: int = 30) -> list[dict]:
    """A history as the chat service leaves it: each user message, then its answer (and the disclaimer)."""
    history = []
    for i in range(n_turns):
        history.append({"role": "user", "content": f"question {i}" + " pain" * words})
        history.append(chat_message("answer", i, f"answer {i}" + " rest" * words))
        history.append(chat_message("disclaimer", i, "not a doctor"))
    return history


def _service(tok, system=SYSTEM, context_tokens=4096, history_tokens=None) -> ChatService:
    settings = AppSettings(system_prompt=system or "", max_context_tokens=context_tokens,
                           max_history_tokens=history_tokens)
    return ChatService(TransformersBackend(None, tok, label="tiny"), settings)


def _plain(history):
    return [{"role": m["role"], "content": m["content"]} for m in history if m["role"] == "user"
            or m.get("metadata", {}).get("id", "").startswith("answer")]


# ----------------------------------------------------------------------------- prompt building (real tokenizer)


def test_trim_by_tokens_keeps_system_and_newest(tiny):
    _, tok = tiny
    history = _history(10)
    full, _ = _service(tok, context_tokens=100_000).model_messages(history, "newest question?", 100)
    assert len(full) == 1 + 20 + 1
    budget_total, new = 400, 100
    msgs, _ = _service(tok, context_tokens=budget_total).model_messages(history, "newest question?", new)
    assert msgs[0] == {"role": "system", "content": SYSTEM}
    assert msgs[-1] == {"role": "user", "content": "newest question?"}
    assert count_prompt_tokens(tok, msgs) <= budget_total - new
    middle = msgs[1:-1]
    assert 0 < len(middle) < 20 and len(middle) % 2 == 0  # whole pairs only
    assert [m["role"] for m in middle] == ["user", "assistant"] * (len(middle) // 2)
    # The kept turns are the newest ones, in order.
    plain = _plain(history)
    assert middle == plain[len(plain) - len(middle) :]
    # One more turn would not have fitted.
    more = [{"role": "system", "content": SYSTEM}] + plain[len(plain) - len(middle) - 2 :] + [msgs[-1]]
    assert count_prompt_tokens(tok, more) > budget_total - new


def test_history_tokens_are_capped(tiny):
    _, tok = tiny
    history = _history(10)
    base = count_prompt_tokens(tok, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "newest?"}])
    msgs, _ = _service(tok, history_tokens=300).model_messages(history, "newest?", 100)
    assert 0 < count_prompt_tokens(tok, msgs) - base <= 300
    assert 2 <= len(msgs) - 2 < 20


def test_newest_message_alone_too_long_is_cut_in_the_middle(tiny):
    _, tok = tiny
    message = "START " + "word " * 2000 + " END"
    msgs, _ = _service(tok, context_tokens=300).model_messages(_history(3), message, 100)
    assert [m["role"] for m in msgs] == ["system", "user"]
    text = msgs[-1]["content"]
    assert text.startswith("START") and text.endswith("END") and "[…]" in text
    assert 150 < count_prompt_tokens(tok, msgs) <= 200


def test_budget_must_leave_room(tiny):
    _, tok = tiny
    with pytest.raises(ValueError):
        _service(tok, context_tokens=100).model_messages([], "hi", 100)
    with pytest.raises(ValueError):
        fit_to_budget([], [], {"role": "user", "content": "hi"}, len, 0)


def test_block_list_content_and_app_additions_never_reach_the_model(tiny):
    """History as the browser hands it back (content as text blocks); only the model's own text is fed back."""
    from medchat.safety import DISCLAIMER, triage

    model, tok = tiny
    emergency = "I have crushing chest pain and my left arm is numb"
    answer = "Please sit down and chew an aspirin if you are not allergic."

    class Fixed:
        label = "fixed"
        count_tokens = staticmethod(lambda messages: count_prompt_tokens(tok, messages))

        def __init__(self, reply):
            self.reply = reply

        def stream(self, messages, settings):
            yield self.reply

    settings = AppSettings(system_prompt=SYSTEM)
    first = list(ChatService(Fixed("Drink water."), settings).respond("I have a mild headache", [], 32, 0, 0.9))[-1]
    second = list(ChatService(Fixed(answer), settings).respond(emergency, [], 32, 0, 0.9))[-1]
    assert second[0]["content"] == triage(emergency).guidance.strip()

    def blocks(m):
        return {**m, "content": [{"type": "text", "text": m["content"]}]}

    history = [blocks({"role": "user", "content": "I have a mild headache"}), *map(blocks, first),
               {**blocks({"role": "user", "content": emergency}), "metadata": None, "options": None}, *map(blocks, second)]
    message = [{"type": "text", "text": "Thanks. "}, {"type": "file", "file": {"path": "x.png"}}, {"type": "text", "text": "Anything else?"}]
    msgs, _ = _service(tok).model_messages(history, _service(tok).validate(message), 256)
    assert all(isinstance(m["content"], str) for m in msgs)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == "I have a mild headache"
    assert msgs[2]["content"] == "Drink water."
    assert msgs[4]["content"] == answer
    assert msgs[-1]["content"] == "Thanks. \nAnything else?"
    for m in msgs:
        assert DISCLAIMER.strip() not in m["content"]
        assert triage(emergency).guidance.strip() not in m["content"]


def test_content_to_text_shapes():
    from medchat.chat import content_to_text

    assert content_to_text("a") == "a"
    assert content_to_text(None) == ""
    assert content_to_text([{"type": "text", "text": "a"}, {"type": "image", "url": "u"}, "b"]) == "a\nb"
    assert content_to_text({"text": "hello", "files": []}) == "hello"


def test_unanswered_turns_and_system_messages_are_dropped(tiny):
    _, tok = tiny
    history = [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        chat_message("answer", 1, "part one"),
        chat_message("answer", 1, "part two"),
        {"role": "assistant", "content": "not ours: no kind"},
    ]
    msgs, _ = _service(tok, system=None).model_messages(history, "third", 256)
    assert msgs == [
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "part one\n\npart two"},
        {"role": "user", "content": "third"},
    ]


def test_sampling_settings_are_a_generation_config(tiny):
    model, _ = tiny
    greedy = GenerationSettings(max_new_tokens=7, temperature=0.0).generation_config(model.generation_config)
    assert (greedy.do_sample, greedy.max_new_tokens, greedy.temperature, greedy.top_p) == (False, 7, None, None)
    assert greedy.eos_token_id == model.generation_config.eos_token_id  # the model's ids stay
    sampled = GenerationSettings(temperature=0.5, top_p=0.8, no_repeat_ngram_size=3).generation_config(eos_token_id=[1, 2])
    assert (sampled.do_sample, sampled.temperature, sampled.top_p, sampled.no_repeat_ngram_size) == (True, 0.5, 0.8, 3)
    assert sampled.eos_token_id == [1, 2]
    sampled.validate()  # transformers accepts it as it is


# ----------------------------------------------------------------------------- generation

CONVERSATIONS = [
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "I have a headache."}],
    [{"role": "user", "content": "My child has had a fever of 39 C for two days and will not eat much. What should I do?"}],
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Rash?"}, {"role": "assistant", "content": "Where?"},
     {"role": "user", "content": "On my arm, it itches."}],
]


def test_batched_generation_equals_per_item_greedy(tiny):
    model, tok = tiny
    side = tok.padding_side
    batched = generate_replies(model, tok, CONVERSATIONS, GREEDY, batch_size=3)
    single = [generate_replies(model, tok, [c], GREEDY, batch_size=1)[0] for c in CONVERSATIONS]
    assert batched == single
    assert any(batched)
    assert tok.padding_side == side
    # Seeded sampling is reproducible.
    sampled = GenerationSettings(max_new_tokens=6, do_sample=True, seed=123)
    assert generate_replies(model, tok, CONVERSATIONS[:2], sampled) == generate_replies(model, tok, CONVERSATIONS[:2], sampled)


def test_streaming_yields_growing_prefixes(tiny):
    model, tok = tiny
    settings = GenerationSettings(max_new_tokens=16, do_sample=False, repetition_penalty=1.0)
    chunks = list(stream_reply(model, tok, CONVERSATIONS[0], settings))
    assert len(chunks) >= 2
    for previous, current in zip(chunks, chunks[1:]):
        assert current.startswith(previous) and len(current) > len(previous)
    assert chunks[-1] == generate_replies(model, tok, [CONVERSATIONS[0]], settings)[0]


class _ForceTokenAfter:
    """Forward hook making `token_id` the argmax once `steps` tokens were generated."""

    def __init__(self, token_id: int, prompt_len: int, steps: int):
        self.token_id, self.prompt_len, self.steps, self.calls = token_id, prompt_len, steps, 0

    def __call__(self, module, args, kwargs, output):
        self.calls += 1
        if self.calls > self.steps:
            output.logits[:, -1, self.token_id] += 1e4
        return output


def test_end_of_turn_token_stops_generation(tiny):
    model, tok = tiny
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in eos_token_ids(model, tok)
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None  # only the vocabulary's end-of-turn token is left to stop on
    hook = _ForceTokenAfter(im_end, 0, steps=3)
    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        settings = GenerationSettings(max_new_tokens=40, do_sample=False)
        chunks = list(stream_reply(model, tok, CONVERSATIONS[0], settings))
        streamed_calls = hook.calls
        hook.calls = 0
        batched = generate_replies(model, tok, CONVERSATIONS[:2], settings, batch_size=2)
    finally:
        handle.remove()
        model.generation_config.eos_token_id = saved
    assert streamed_calls == 4  # 3 tokens, then <|im_end|>
    assert hook.calls == 4
    assert "<|im_end|>" not in (chunks[-1] if chunks else "")
    assert all("<|im_end|>" not in r for r in batched)


def test_llama3_end_of_turn_is_an_eos(llama3_tokenizer, prepared_tokenizer):
    fake = types.SimpleNamespace(generation_config=types.SimpleNamespace(eos_token_id=None, pad_token_id=None, bos_token_id=None),
                                 config=types.SimpleNamespace(pad_token_id=None))
    tok = prepared_tokenizer(llama3_tokenizer, fake)
    ids = eos_token_ids(fake, tok)
    assert tok.convert_tokens_to_ids("<|eot_id|>") in ids
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    prompt_ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert prompt_ids.count(tok.convert_tokens_to_ids("<|begin_of_text|>")) == 1  # no double BOS


def test_closing_the_stream_stops_generation(tiny):
    model, tok = tiny
    hook = _ForceTokenAfter(-1, 0, steps=10**9)
    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        settings = GenerationSettings(max_new_tokens=200, do_sample=False, repetition_penalty=1.0)
        stream = stream_reply(model, tok, CONVERSATIONS[0], settings)
        next(stream)
        stream.close()
        time.sleep(0.2)
        calls = hook.calls
    finally:
        handle.remove()
    assert calls < 100


class _FailingModel:
    device = torch.device("cpu")
    generation_config = None

    def __init__(self, tokenizer, after_text: str | None = None):
        self.tokenizer, self.after_text = tokenizer, after_text

    def generate(self, streamer=None, **kwargs):
        if self.after_text:
            streamer.put(kwargs["input_ids"])  # the prompt, skipped
            streamer.put(torch.tensor(self.tokenizer.encode(self.after_text, add_special_tokens=False)))
        raise RuntimeError("CUDA out of memory (simulated)")


@pytest.mark.parametrize("after_text", [None, "Partial answer then"])
def test_generation_errors_reach_the_consumer(tiny, after_text):
    _, tok = tiny
    seen = []
    with pytest.raises(RuntimeError, match="simulated"):
        for chunk in stream_reply(_FailingModel(tok, after_text), tok, CONVERSATIONS[0], GREEDY):
            seen.append(chunk)
    if after_text:
        assert seen and seen[-1].startswith("Partial")


def test_replies_reuse_one_generation_thread_and_overlap_on_two(tiny):
    """One user's replies, one after another, run on the same long-lived thread (a fresh thread's first generate
    pays seconds of CUDA set-up); two replies streaming at once run on two threads."""
    import threading

    model, tok = tiny
    threads = []
    barrier = None  # when set, each generate waits for the other: only possible on two threads

    class Recording:
        def __getattr__(self, name):
            return getattr(model, name)

        def generate(self, **kwargs):
            threads.append(threading.current_thread())
            if barrier is not None:
                barrier.wait()
            return model.generate(**kwargs)

    recording = Recording()
    settings = GenerationSettings(max_new_tokens=4, do_sample=False, repetition_penalty=1.0)
    for _ in range(3):
        list(stream_reply(recording, tok, CONVERSATIONS[0], settings))
    assert len(set(threads)) == 1 and threads[0] is not threading.main_thread()

    threads.clear()
    barrier = threading.Barrier(2, timeout=20)
    replies = {}

    def consume(i):  # two users at once, as two Gradio worker threads
        replies[i] = list(stream_reply(recording, tok, CONVERSATIONS[i], settings))

    users = [threading.Thread(target=consume, args=(i,)) for i in (0, 1)]
    for user in users:
        user.start()
    for user in users:
        user.join(timeout=60)
    assert replies[0] and replies[1]
    assert len(set(threads)) == 2
