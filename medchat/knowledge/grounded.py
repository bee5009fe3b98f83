"""Grounded answers (MEDCHAT_RETRIEVAL=quote): the factual core of a reply is trusted text, quoted, not generated.

When retrieval finds passages for a message, the sentences of those passages most similar to the message (cosine,
the retriever's own MiniLM embedder) are quoted verbatim, 2 to 4 of them, grouped under their source (title, origin,
link, licence: the Sources block's escaped attribution line) in the order the source wrote them, between a fixed
opening and closing read from `data/grounded_answer.yaml`. The model writes nothing of it.

Why: the offline model cannot use passages (blind review of retrieval in the prompt: README, Trusted sources); a
quote cannot make up a fact that is not in NIH's text.

A sentence is quotable only when it is whole (the passage cut did not split it), a statement (not a question, a
list heading or a flattened bullet list), 5-60 words, and passes the safety layer unchanged (a dosing sentence would be replaced there, so it
is not quoted). With fewer than MIN_QUOTES quotable sentences there is no grounded answer and the model replies.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from medchat.knowledge.index import DATA_DIR

TEXTS_FILE = DATA_DIR / "grounded_answer.yaml"
MIN_QUOTES, MAX_QUOTES = 2, 4
# A quote after the best one must be nearly as relevant: within this cosine of the best sentence (a priori, not
# tuned on the blind questions), and the quotes together stay short enough to read in a chat bubble.
RELEVANCE_MARGIN = 0.15
MAX_QUOTED_WORDS = 120
# Two sentences this similar say the same thing (MedQuAD repeats facts across its NIH collections): one is quoted.
DUPLICATE_SIMILARITY = 0.90
SENTENCE_WORDS = (5, 60)


@functools.cache
def grounded_texts(path: str | Path = TEXTS_FILE) -> dict[str, str]:
    """The opening, source heading, closing and urgent title; a missing or incomplete file stops with its name."""
    import yaml

    texts = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    missing = [k for k in ("opening", "source_heading", "closing", "urgent_title") if not str(texts.get(k, "")).strip()]
    if missing or "{attribution}" not in str(texts.get("source_heading", "")):
        raise ValueError(f"{path}: needs non-empty {', '.join(missing) or 'source_heading'} "
                         "(source_heading must contain {attribution}).")
    return {k: str(v).strip() for k, v in texts.items()}


@dataclass(frozen=True)
class Quote:
    text: str  # verbatim: passage.text[start:start + len(text)]
    start: int
    score: float  # cosine with the user's message
    hit: object  # medchat.knowledge.retriever.Hit


@functools.lru_cache(maxsize=4096)
def quotable_sentences(text: str) -> tuple[tuple[int, str], ...]:
    """(start, sentence) of the whole statements of a passage, with the project's sentence splitter. Cached per
    passage: the same passages come back for message after message, and the split and safety check are per text."""
    from medchat.safety.reply import reply_body
    from medchat.sentences import split_units

    out = []
    for unit in split_units(text):
        sentence = text[unit.start:unit.end]
        words = len(sentence.split())
        if not (unit.closed and SENTENCE_WORDS[0] <= words <= SENTENCE_WORDS[1]):
            continue
        if not re.match(r"[A-Z0-9\"']", sentence) or not re.search(r"[.!]['\")]?$", sentence):
            continue  # starts mid-sentence (a cut passage), or a question / list heading / fragment
        if sentence.count(" - ") >= 2:
            continue  # a bullet list MedQuAD flattened to " - ", often glued to the next sentence: not one statement
        if re.sub(r"\s+", " ", reply_body(sentence)).strip() != re.sub(r"\s+", " ", sentence).strip():
            continue  # the safety layer would change it (a dose, a claim): not quoted, and never altered
        out.append((unit.start, sentence))
    return tuple(out)


def select_quotes(question: str, hits: Sequence, encode: Callable) -> list[Quote]:
    """The 2-4 sentences of `hits` most similar to `question`, each at most RELEVANCE_MARGIN below the best, within
    MAX_QUOTED_WORDS, no two saying the same; [] when fewer than MIN_QUOTES qualify."""
    candidates = [(hit, start, sentence) for hit in hits for start, sentence in quotable_sentences(hit.passage.text)]
    if len(candidates) < MIN_QUOTES:
        return []
    vectors = encode([question] + [c[2] for c in candidates])
    query, sentence_vectors = vectors[0], vectors[1:]
    scores = sentence_vectors @ query
    chosen: list[int] = []
    words = 0
    for i in np.argsort(-scores, kind="stable"):
        if len(chosen) == MAX_QUOTES:
            break
        if chosen and scores[i] < scores[chosen[0]] - RELEVANCE_MARGIN and len(chosen) >= MIN_QUOTES:
            break
        if any(float(sentence_vectors[i] @ sentence_vectors[j]) >= DUPLICATE_SIMILARITY for j in chosen):
            continue
        n = len(candidates[i][2].split())
        if chosen and words + n > MAX_QUOTED_WORDS:
            continue
        chosen.append(int(i))
        words += n
    if len(chosen) < MIN_QUOTES:
        return []
    return [Quote(candidates[i][2], candidates[i][1], float(scores[i]), candidates[i][0]) for i in chosen]


def in_reading_order(quotes: list[Quote]) -> list[tuple[object, list[Quote]]]:
    """Quotes grouped by source answer (the passages cut from one NIH answer share its `qid`: one heading, not one
    per passage), the most relevant source first, each passage's quotes in its own order."""
    groups: dict[str, tuple[object, list[Quote]]] = {}
    passage_rank: dict[str, int] = {}
    for quote in quotes:  # best first: the first quote of an answer fixes where its group goes
        groups.setdefault(quote.hit.passage.qid, (quote.hit, []))[1].append(quote)
        passage_rank.setdefault(quote.hit.passage.id, len(passage_rank))
    return [(hit, sorted(group, key=lambda q: (passage_rank[q.hit.passage.id], q.start)))
            for hit, group in groups.values()]


def grounded_markdown(quotes: list[Quote], attribution: Callable, escape: Callable,
                      texts: dict[str, str] | None = None) -> list[str]:
    """The answer as Markdown paragraphs (opening, per source its attribution and a block quote, closing): the
    chat streams it paragraph by paragraph. Quoted text and titles are escaped (`escape`, `attribution`)."""
    texts = texts or grounded_texts()
    parts = [texts["opening"]]
    for hit, group in in_reading_order(quotes):
        parts.append(texts["source_heading"].format(attribution=attribution(hit)))
        parts.append("> " + " ".join(escape(q.text) for q in group))
    parts.append(texts["closing"])
    return parts


def grounded_plain(quotes: list[Quote], texts: dict[str, str] | None = None) -> str:
    """The same answer as plain text (what is said, no Markdown): for fact recall and logs."""
    texts = texts or grounded_texts()
    quoted = [q.text for _, group in in_reading_order(quotes) for q in group]
    return "\n\n".join([texts["opening"], " ".join(quoted), texts["closing"]])
