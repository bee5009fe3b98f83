"""The chat service on a small real backend and a small real retriever (in memory, no model): the reply layout,
which turns reach the model, the token budget and the retriever's calls."""

from __future__ import annotations

import dataclasses
import re

import pytest

from medchat.chat import (
    EMPTY_REPLY,
    ERROR_REPLY,
    GENERAL_INFORMATION_TITLE,
    FURTHER_READING_TITLE,
    SOURCES_TITLE,
    ChatService,
    fit_to_budget,
    kind_of,
    reply_text,
)
from medchat.generation import GenerationSettings
from medchat.safety import DISCLAIMER, triage
from medchat.settings import AppSettings

SETTINGS = AppSettings(system_prompt="You are medchat.", max_context_tokens=1024, max_input_chars=4000)
EMERGENCY = "I have crushing chest pain spreading to my left arm and I am sweating"


class WordBackend:
    """A ReplyBackend that writes a fixed reply word by word and counts one token per word (plus 4 per message)."""

    label = "word backend"

    def __init__(self, reply: str = "Rest, drink fluids and see a doctor if it gets worse.", fail: Exception | None = None):
        self.reply, self.fail, self.calls = reply, fail, []

    def stream(self, messages, settings):
        self.calls.append((messages, settings))
        if self.fail is not None:
            raise self.fail
        words = self.reply.split(" ")
        for n in range(1, len(words) + 1):
            yield " ".join(words[:n])

    def count_tokens(self, messages):
        return sum(4 + len(m["content"].split()) for m in messages)


@dataclasses.dataclass
class Passage:
    title: str
    url: str
    text: str


class KeywordRetriever:
    """A knowledge base of a few passages, found by shared words."""

    def __init__(self, passages):
        self.passages, self.searches = passages, []

    def search(self, text):
        self.searches.append(text)
        words = set(re.findall(r"\w+", text.lower()))
        return [p for p in self.passages if words & set(re.findall(r"\w+", p.text.lower()))]

    def prompt_context(self, passages):
        return "Reference information:\n" + "\n".join(f"- {p.text}" for p in passages)

    def sources_markdown(self, passages):
        return "\n".join(f"- [{p.title}]({p.url})" for p in passages)


def run(service, message, history=(), **kw):
    chunks = list(service.respond(message, list(history), kw.get("max_new_tokens", 64), 0.0, 0.9))
    return chunks


def conversation(service, *messages):
    """History as ChatInterface builds it: each user message, then the final chunk of its reply."""
    history = []
    for text in messages:
        final = run(service, text, history)[-1]
        history += [{"role": "user", "content": text}, *final]
    return history


def test_every_chunk_has_the_answer_apart_and_the_disclaimer_last():
    backend = WordBackend()
    chunks = run(ChatService(backend, SETTINGS), "I have a mild headache")
    assert len(chunks) >= 5
    for chunk in chunks:
        assert [kind_of(m) for m in chunk] == ["answer", "disclaimer"]
        assert chunk[-1]["content"] == DISCLAIMER
        assert DISCLAIMER not in chunk[0]["content"]
    assert chunks[-1][0]["content"] == backend.reply
    assert reply_text(chunks[-1]).endswith(DISCLAIMER)


def test_emergency_guidance_is_the_answer_and_model_text_is_set_apart():
    chunks = run(ChatService(WordBackend(), SETTINGS), EMERGENCY)
    guidance = triage(EMERGENCY).guidance.strip()
    assert chunks[0] == [chunks[0][0], chunks[0][1]] and [kind_of(m) for m in chunks[0]] == ["guidance", "disclaimer"]
    for chunk in chunks:
        assert chunk[0]["content"] == guidance and kind_of(chunk[-1]) == "disclaimer"
    answer = chunks[-1][1]
    assert kind_of(answer) == "answer"
    assert answer["metadata"]["title"] == GENERAL_INFORMATION_TITLE and answer["metadata"]["status"] == "done"
    # routine replies are not collapsed
    assert "title" not in run(ChatService(WordBackend(), SETTINGS), "I have a mild headache")[-1][0]["metadata"]


def test_history_sent_to_the_model_has_only_accepted_turns_and_only_model_text():
    backend = WordBackend()
    service = ChatService(backend, SETTINGS)
    too_long = "my symptoms are " + "x" * 4600
    history = conversation(service, "I have a cold", too_long, EMERGENCY)
    assert kind_of(history[4]) == "notice" and "limit is 4000" in history[4]["content"]
    failing = ChatService(WordBackend(fail=RuntimeError("CUDA out of memory")), SETTINGS)
    history += [{"role": "user", "content": "failed question"}, *run(failing, "failed question", history)[-1]]
    empty = ChatService(WordBackend(reply=""), SETTINGS)
    history += [{"role": "user", "content": "empty question"}, *run(empty, "empty question", history)[-1]]
    assert history[-2]["content"] == EMPTY_REPLY

    run(service, "And a cough?", history)
    messages, settings = backend.calls[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[1:3] == [{"role": "user", "content": "I have a cold"}, {"role": "assistant", "content": backend.reply}]
    assert messages[3]["content"] == EMERGENCY and messages[4]["content"] == backend.reply  # guidance not fed back
    text = "\n".join(m["content"] for m in messages)
    assert "x" * 100 not in text and "failed question" not in text and "empty question" not in text
    assert DISCLAIMER not in text and triage(EMERGENCY).guidance.strip()[:40] not in text
    assert messages[-1] == {"role": "user", "content": "And a cough?"}
    assert settings.do_sample is False and settings.max_new_tokens == 64


def test_errors_are_friendly_and_keep_the_guidance():
    chunks = run(ChatService(WordBackend(fail=RuntimeError("CUDA out of memory (simulated)")), SETTINGS), EMERGENCY)
    final = chunks[-1]
    assert [kind_of(m) for m in final] == ["guidance", "notice"] and final[-1]["content"] == ERROR_REPLY
    import gradio as gr

    quota = ChatService(WordBackend(fail=gr.Error("You have exceeded your GPU quota (simulated).")), SETTINGS)
    final = run(quota, "I have a mild headache")[-1]
    assert final[-1]["content"].startswith(ERROR_REPLY) and "GPU quota" in final[-1]["content"]


def test_refused_messages_get_the_reason_and_no_disclaimer():
    for bad, reason in (("   ", "empty"), ("x" * 4001, "limit is 4000")):
        chunks = run(ChatService(WordBackend(), SETTINGS), bad)
        assert len(chunks) == 1 and [kind_of(m) for m in chunks[0]] == ["notice"]
        assert reason in chunks[0][0]["content"] and DISCLAIMER not in chunks[0][0]["content"]


PASSAGES = [
    Passage("Migraine (MedlinePlus)", "https://medlineplus.gov/migraine.html", "Migraine is a headache with nausea."),
    Passage("Gout (NIAMS)", "https://www.niams.nih.gov/gout", "Gout is arthritis of the big toe."),
]


def test_show_lists_trusted_sources_as_further_reading_not_prompt():
    backend, retriever = WordBackend(), KeywordRetriever(PASSAGES)
    show = dataclasses.replace(SETTINGS, retrieval="show")
    chunks = run(ChatService(backend, show, retriever=retriever), "I have a headache with nausea")
    assert retriever.searches == ["I have a headache with nausea"]
    assert backend.calls[-1][0][0]["content"] == "You are medchat."  # the model gets no passage
    for chunk in chunks:
        assert [kind_of(m) for m in chunk] == ["answer", "sources", "disclaimer"]
    sources = chunks[-1][1]
    assert sources["metadata"]["title"] == FURTHER_READING_TITLE
    assert "https://medlineplus.gov/migraine.html" in sources["content"]


def test_retrieval_off_never_searches():
    backend, retriever = WordBackend(), KeywordRetriever(PASSAGES)
    off = dataclasses.replace(SETTINGS, retrieval="off")
    chunks = run(ChatService(backend, off, retriever=retriever), "I have a headache with nausea")
    assert retriever.searches == [] and [kind_of(m) for m in chunks[-1]] == ["answer", "disclaimer"]


def test_retriever_is_asked_once_and_sources_are_shown_apart():
    backend = WordBackend()
    retriever = KeywordRetriever(PASSAGES)
    service = ChatService(backend, dataclasses.replace(SETTINGS, retrieval="prompt"), retriever=retriever)
    chunks = run(service, "I have a headache with nausea")
    assert retriever.searches == ["I have a headache with nausea"]  # once per message, not per chunk
    system = backend.calls[-1][0][0]["content"]
    assert system.startswith("You are medchat.") and "Migraine is a headache with nausea." in system
    assert "Gout" not in system
    for chunk in chunks:
        assert [kind_of(m) for m in chunk] == ["answer", "sources", "disclaimer"]
    sources = chunks[-1][1]
    assert sources["metadata"]["title"] == SOURCES_TITLE and "https://medlineplus.gov/migraine.html" in sources["content"]
    assert "medlineplus" not in chunks[-1][0]["content"]
    # next turn: the sources never reach the model as history
    history = [{"role": "user", "content": "I have a headache with nausea"}, *chunks[-1]]
    run(service, "what about gout", history)
    assert all("medlineplus" not in m["content"] for m in backend.calls[-1][0][1:])


def test_context_that_does_not_fit_is_left_out_with_its_sources():
    backend = WordBackend()
    huge = Passage("Headache", "https://example.org/h", "headache " * 2000)
    service = ChatService(backend, dataclasses.replace(SETTINGS, max_context_tokens=600, retrieval="prompt"),
                          retriever=KeywordRetriever([huge]))
    chunks = run(service, "I have a headache")
    assert backend.count_tokens(backend.calls[-1][0]) <= 600 - 64
    assert "headache headache" not in backend.calls[-1][0][0]["content"]
    assert [kind_of(m) for m in chunks[-1]] == ["answer", "disclaimer"]


def test_history_is_cut_by_tokens_oldest_first_and_capped():
    count = WordBackend().count_tokens
    system = [{"role": "system", "content": "sys"}]
    turns = [[{"role": "user", "content": f"question {i} " + "w " * 50}, {"role": "assistant", "content": "a " * 50}]
             for i in range(10)]
    newest = {"role": "user", "content": "newest"}
    out = fit_to_budget(system, turns, newest, count, max_prompt_tokens=400)
    assert out[0] == system[0] and out[-1] == newest and count(out) <= 400
    kept = [m["content"].split()[1] for m in out if m["content"].startswith("question")]
    assert kept == [str(i) for i in range(10 - len(kept), 10)] and 1 <= len(kept) < 10  # the newest turns
    capped = fit_to_budget(system, turns, newest, count, max_prompt_tokens=4000, max_history_tokens=250)
    assert count(capped) - count(system + [newest]) <= 250 and len(capped) == 2 + 2 * 2
    assert len(fit_to_budget(system, turns, newest, count, 4000)) == 2 + 20  # no cap: everything fits


def test_a_newest_message_too_long_for_the_budget_is_cut_in_the_middle():
    count = WordBackend().count_tokens
    text = "start " + "middle " * 500 + "end"
    out = fit_to_budget([], [], {"role": "user", "content": text}, count, max_prompt_tokens=100)
    assert len(out) == 1 and count(out) <= 100
    assert out[0]["content"].startswith("start") and out[0]["content"].endswith("end") and "[…]" in out[0]["content"]


def test_max_new_tokens_is_capped_by_the_context():
    backend = WordBackend()
    run(ChatService(backend, SETTINGS), "hello there", max_new_tokens=10_000)
    assert backend.calls[-1][1].max_new_tokens == SETTINGS.max_new_tokens_limit == 512
    assert isinstance(backend.calls[-1][1], GenerationSettings)


@pytest.mark.parametrize("content", ["plain", [{"type": "text", "text": "plain"}], {"text": "plain", "files": []}])
def test_gradio_message_formats_are_read(content):
    backend = WordBackend()
    run(ChatService(backend, SETTINGS), content)
    assert backend.calls[-1][0][-1] == {"role": "user", "content": "plain"}


def test_a_failing_retriever_costs_the_sources_not_the_reply():
    class Broken(KeywordRetriever):
        def search(self, text):
            raise OSError("index file missing")

    backend = WordBackend()
    final = run(ChatService(backend, SETTINGS, retriever=Broken([])), "I have a headache")[-1]
    assert [kind_of(m) for m in final] == ["answer", "disclaimer"] and final[0]["content"] == backend.reply
    assert backend.calls[-1][0][0]["content"] == "You are medchat."
