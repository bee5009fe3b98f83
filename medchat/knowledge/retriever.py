"""Retrieval per user message: the passages to ground a reply in, the text the model gets, the sources shown.

The chat service (and `medchat.evaluate --retrieval`) uses three duck-typed methods:
- ``search(text) -> list[Hit]``: the top passages whose cosine similarity reaches the threshold (empty: nothing
  trusted matched);
- ``prompt_context(hits) -> str``: the text added to the system prompt, within ``max_context_tokens``; with no hit it
  tells the model to say plainly that it has no trusted source;
- ``sources_markdown(hits) -> str``: the "Sources" block shown under the reply (title, origin, link, licence), with
  Markdown and HTML in passage titles escaped; with no hit, one line saying none was found;
- ``grounded_answer(text, hits) -> list[str]``: retrieval "quote": the reply's paragraphs, trusted sentences quoted
  verbatim and attributed (`medchat.knowledge.grounded`); [] when there is nothing to quote.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

from medchat.knowledge.corpus import Passage
from medchat.knowledge.index import DATA_DIR, KnowledgeIndex

TOP_K = 3
# Cosine similarity (all-MiniLM-L6-v2, query vs "question + passage") below which a passage is not shown or given to
# the model. Chosen on held-out data by benchmarks/rag_eval.py (curve in benchmarks/results/rag_eval.md): the highest
# off-topic message scored 0.44 (none of 20 gets a source at 0.50) while 39 of 40 blind lay questions keep theirs
# (median top-1 0.65); higher values drop sources from lay questions fast (0.60: 78 %, 0.70: 28 % keep them).
SIMILARITY_THRESHOLD = 0.50
MAX_CONTEXT_TOKENS = 600

CONTEXT_HEADER = (
    "Trusted reference passages for this question (from NIH and CDC via MedQuAD). Base the facts in your reply on "
    "them; if they do not answer the question, say so. Do not add drug names, doses or numbers that are not in them."
)
NO_SOURCE_CONTEXT = (
    "No trusted reference passage matched this question. Say plainly that you have no trusted source for this, "
    "give only general, safe advice, and do not invent facts, drug names, doses or numbers."
)
NO_SOURCE_NOTE = "No trusted source was found for this question, so the reply above is general information only."


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its similarity, origin and licence (what the Sources block shows)."""

    passage: Passage
    score: float
    origin: str
    licence: str
    licence_url: str

    @property
    def title(self) -> str:
        return self.passage.question

    @property
    def url(self) -> str:
        return self.passage.url


def escape_markdown(text: str) -> str:
    """Text that Markdown shows literally: HTML metacharacters as entities, Markdown syntax backslash-escaped."""
    text = re.sub(r"\s+", " ", text or "").strip()
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text)


def safe_url(url: str) -> str | None:
    """An http(s) URL with the characters that would end a Markdown link percent-encoded; None for anything else."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~")


def attribution(hit: Hit) -> str:
    """One source, escaped: **title**: origin · link · licence (the Sources block and grounded answers)."""
    url = safe_url(hit.url)
    link = f"[{escape_markdown(urlsplit(url).netloc)}]({url})" if url else "link unavailable"
    return (f"**{escape_markdown(hit.title)}**: {escape_markdown(hit.origin)} · {link} · "
            f"[{escape_markdown(hit.licence)}]({hit.licence_url})")


class Retriever:
    def __init__(self, index: KnowledgeIndex, k: int = TOP_K, threshold: float = SIMILARITY_THRESHOLD,
                 max_context_tokens: int = MAX_CONTEXT_TOKENS, count_tokens: Callable[[str], int] | None = None,
                 encode: Callable | None = None):
        from medchat import embeddings

        self.index = index
        self.k = k
        self.threshold = threshold
        self.max_context_tokens = max_context_tokens
        self._encode = encode or embeddings.encode
        if count_tokens is None:  # the embedding model's word pieces: close to a chat model's BPE count on English
            tokenizer = embeddings.load_encoder()[0]
            count_tokens = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
        self.count_tokens = count_tokens
        sources = index.sources
        self._origins = {code: f"{info['name']}, via {sources['corpus']}" for code, info in sources["sources"].items()}
        self._licence = (sources["licence"], sources["licence_url"])

    @classmethod
    def load(cls, data_dir: str | Path = DATA_DIR, **kwargs) -> "Retriever":
        return cls(KnowledgeIndex.load(data_dir), **kwargs)

    def _hit(self, i: int, score: float) -> Hit:
        passage = self.index.passages[i]
        return Hit(passage, float(score), self._origins.get(passage.source, f"{passage.source}, via MedQuAD"),
                   *self._licence)

    def rank(self, text: str, k: int | None = None) -> list[Hit]:
        """The k nearest passages whatever their similarity (measurement); `search` applies the threshold."""
        text = (text or "").strip()
        if not text:
            return []
        query = self._encode([text])[0]
        top, scores = self.index.top_k(query, k or self.k)
        return [self._hit(int(i), s) for i, s in zip(top, scores)]

    def search(self, text: str) -> list[Hit]:
        return [hit for hit in self.rank(text) if hit.score >= self.threshold]

    def search_many(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> list[list[Hit]]:
        """`search` for many messages, embedded in batches (training data, evaluation)."""
        queries = self._encode([t or "" for t in texts], batch_size=batch_size, progress=progress)
        out = []
        for text, query in zip(texts, queries):
            top, scores = self.index.top_k(query, self.k) if (text or "").strip() else ([], [])
            out.append([self._hit(int(i), s) for i, s in zip(top, scores) if s >= self.threshold])
        return out

    def prompt_context(self, hits: list[Hit]) -> str:
        """Passages for the system prompt, best first, whole passages while they fit ``max_context_tokens``
        (the best one is cut to fit if it alone does not)."""
        if not hits:
            return NO_SOURCE_CONTEXT
        parts = [CONTEXT_HEADER]
        used = self.count_tokens(CONTEXT_HEADER)
        for number, hit in enumerate(hits, 1):
            block = f"[{number}] {hit.passage.question} ({hit.origin}): {hit.passage.text}"
            cost = self.count_tokens(block) + 2
            if used + cost > self.max_context_tokens:
                if number == 1:
                    words = block.split()
                    while words and used + self.count_tokens(" ".join(words)) + 2 > self.max_context_tokens:
                        words = words[: max(len(words) - 10, 0)]
                    if words:
                        parts.append(" ".join(words) + " …")
                break
            parts.append(block)
            used += cost
        return "\n\n".join(parts)

    def sources_markdown(self, hits: list[Hit]) -> str:
        """Numbered sources with title, origin, link and licence; with no hit, `NO_SOURCE_NOTE`."""
        if not hits:
            return NO_SOURCE_NOTE
        return "\n".join(f"{number}. {attribution(hit)}" for number, hit in enumerate(hits, 1))

    def quotes(self, text: str, hits: list[Hit]) -> list:
        """The sentences of `hits` a grounded answer quotes for `text` (`medchat.knowledge.grounded`); [] if none."""
        from medchat.knowledge.grounded import select_quotes

        return select_quotes(text, hits, self._encode) if hits else []

    def grounded_answer(self, text: str, hits: list[Hit]) -> list[str]:
        """The grounded answer to `text` as Markdown paragraphs (quoted, attributed, escaped, framed), or [] when
        the hits have too few quotable sentences: then the model answers."""
        return self.quoted_paragraphs(self.quotes(text, hits))

    @staticmethod
    def quoted_paragraphs(quotes: list) -> list[str]:
        """Chosen quotes as the answer's Markdown paragraphs (attributed, escaped, framed); [] without quotes."""
        from medchat.knowledge.grounded import grounded_markdown

        return grounded_markdown(quotes, attribution, escape_markdown) if quotes else []


def system_with_context(system_prompt: str | None, context: str) -> str:
    """The system prompt with the retrieval context after it: the one layout for the chat, training and evaluation."""
    return f"{system_prompt}\n\n{context}" if system_prompt else context


def first_user_text(row: dict) -> str:
    """The first user turn of a conversation row: what retrieval searches for in training and evaluation."""
    return next((m["content"] for m in row["messages"] if m["role"] == "user"), "")


def add_retrieval_context(rows: list[dict], retriever: Retriever | None = None, progress: bool = True) -> list[dict]:
    """Conversation rows (`medchat.data` shape) whose system message carries the passages retrieved for the first
    user turn: the prompts a model trained or evaluated with retrieval sees, laid out as the app lays them out."""
    retriever = retriever or default_retriever()
    users = [first_user_text(row) for row in rows]
    out = []
    for row, hits in zip(rows, retriever.search_many(users, progress=progress)):
        messages = [dict(m) for m in row["messages"]]
        context = retriever.prompt_context(hits)
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = system_with_context(messages[0]["content"], context)
        else:
            messages.insert(0, {"role": "system", "content": context})
        out.append({**row, "messages": messages})
    return out


def add_grounded_answers(rows: list[dict], retriever: Retriever | None = None, progress: bool = True) -> list[dict]:
    """Rows (`medchat.data` shape) whose first user turn gets a grounded answer (retrieval "quote") carry it as
    ``grounded``: ``{"markdown": what the chat shows, "plain": the same words without Markdown}``; the others are
    unchanged (the model answers them). What `medchat.evaluate --retrieval quote` scores in place of the reply."""
    from medchat.knowledge.grounded import grounded_plain

    retriever = retriever or default_retriever()
    users = [first_user_text(row) for row in rows]
    out = []
    for row, user, hits in zip(rows, users, retriever.search_many(users, progress=progress)):
        quotes = retriever.quotes(user, hits)
        if quotes:
            row = {**row, "grounded": {"markdown": "\n\n".join(retriever.quoted_paragraphs(quotes)),
                                       "plain": grounded_plain(quotes)}}
        out.append(row)
    return out


@functools.cache
def default_retriever() -> Retriever:
    """The shipped index, loaded once (the app's retriever)."""
    return Retriever.load()
