"""The trusted corpus: MedQuAD's NIH answers read, validated, split into passages, with a deterministic hold-out.

Hold-out (documented in the README, used by benchmarks/rag_eval.py), both by SHA-1 of a fixed salt + a key, so
the same rows are held out on every machine and every rebuild:
- focus topics whose hash falls in the lowest HOLDOUT_FOCUS_PERCENT: *every* answer about them is left out of the
  index ("topic not in the index": factuality of replies to questions the index cannot answer directly, and the
  negatives of the similarity-threshold curve);
- of the remaining topics, questions whose qid hash falls in the lowest HOLDOUT_QUESTION_PERCENT: that answer is left
  out but the topic's other answers stay ("topic in the index": retrieval recall@k by focus).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

REQUIRED_FIELDS = ("qid", "source", "url", "question", "answer")
# MedQuAD leaves `focus` empty on 14 CDC rows and `qtype` may be missing: the topic then falls back to the question.
OPTIONAL_FIELDS = ("focus", "qtype")
HOLDOUT_SALT = "medchat-knowledge-holdout-v1"
HOLDOUT_FOCUS_PERCENT = 3
HOLDOUT_QUESTION_PERCENT = 3
# Passages of at most this many words, cut at sentence ends: the embedding model reads 256 word pieces (about 190
# words) and three passages of this size fit the 600-token prompt budget.
PASSAGE_WORDS = 110
# At most this many passages per answer, in reading order: the opening of an NIH answer carries its main points,
# and the cap keeps the shipped index under the repository's size budget (README: "Trusted sources"). The rare
# genetic-condition collections (GHR, GARD: two thirds of all passages at 2 each) keep one: lay questions are mostly
# about common conditions. Measured: 22,950 passages (12.5 MB shipped) at 2 everywhere, 18,2xx with this table.
PASSAGES_PER_ANSWER = 2
PASSAGES_PER_ANSWER_BY_SOURCE = {"GHR": 1, "GARD": 1}
# Not consumer health advice: lists of ongoing studies and a support-group directory.
SKIPPED_QTYPES = frozenset({"research", "support groups"})

from medchat.jsonl import json_objects


class CorpusError(ValueError):
    """A corpus row that cannot be used: says which line, which field, and what to do."""


@dataclass(frozen=True)
class Passage:
    id: str
    qid: str
    source: str
    url: str
    focus: str
    qtype: str
    question: str
    text: str

    def embedding_text(self) -> str:
        """What is embedded: the question it answers (names the topic and the kind of question) and the text."""
        return f"{self.question}\n{self.text}"

    def to_json(self) -> dict:
        return asdict(self)


def _fraction(key: str) -> float:
    digest = hashlib.sha1(f"{HOLDOUT_SALT}:{key}".encode()).hexdigest()
    return int(digest[:8], 16) / 0x100000000


def normalize_focus(focus: str) -> str:
    return re.sub(r"\s+", " ", (focus or "").strip().lower())


def is_heldout_focus(focus: str) -> bool:
    return _fraction("focus:" + normalize_focus(focus)) < HOLDOUT_FOCUS_PERCENT / 100


def is_heldout_question(qid: str) -> bool:
    return _fraction("qid:" + qid) < HOLDOUT_QUESTION_PERCENT / 100


def read_corpus(path: str | Path) -> list[dict]:
    """Rows of a MedQuAD jsonl(.gz) file; a bad row raises CorpusError naming its line and field."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(
            f"{path}: no such file. Pass --corpus PATH to MedQuAD's answered pairs (medquad_answered.jsonl.gz)."
        )
    rows = []
    for line_no, row in json_objects(path, CorpusError):
        for name in REQUIRED_FIELDS:
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise CorpusError(
                    f"{path}:{line_no}: field '{name}' is missing or empty (qid {row.get('qid', '?')!r}); "
                    f"every row needs {', '.join(REQUIRED_FIELDS)}."
                )
        for name in OPTIONAL_FIELDS:
            if row.get(name) is not None and not isinstance(row[name], str):
                raise CorpusError(f"{path}:{line_no}: field '{name}' must be text, got {type(row[name]).__name__}.")
        row = {**row, "qtype": (row.get("qtype") or "").strip() or "information"}
        row["focus"] = (row.get("focus") or "").strip() or clean_question(row["question"]).rstrip("?")
        rows.append(row)
    if not rows:
        raise CorpusError(f"{path}: no rows.")
    return rows


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_passages(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """Consecutive sentences joined into passages of at most ``max_words`` words (a longer sentence is cut)."""
    passages, current, count = [], [], 0
    for sentence in _SENTENCE_END.split(text or ""):
        sentence = re.sub(r"\s+", " ", sentence).strip(" -")
        if not sentence:
            continue
        words = sentence.split()
        while len(words) > max_words:  # a run-on list: cut it, nothing is dropped
            if current:
                passages.append(" ".join(current))
                current, count = [], 0
            passages.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and count + len(words) > max_words:
            passages.append(" ".join(current))
            current, count = [], 0
        current.append(" ".join(words))
        count += len(words)
    if current:
        passages.append(" ".join(current))
    return passages


def clean_question(question: str) -> str:
    """MedQuAD's templated questions without their artefacts ("What is (are) X ?" -> "What is X?")."""
    question = question.replace("(are) ", "").replace(" (is)", "")
    return re.sub(r"\s+\?", "?", re.sub(r"\s+", " ", question)).strip()


def passages_from_rows(rows: Iterable[dict]) -> Iterator[Passage]:
    """Indexable passages: held-out rows and skipped question types left out, repeated texts kept once."""
    seen: set[str] = set()
    for row in rows:
        if row["qtype"] in SKIPPED_QTYPES or is_heldout_focus(row["focus"]) or is_heldout_question(row["qid"]):
            continue
        keep = PASSAGES_PER_ANSWER_BY_SOURCE.get(row["source"], PASSAGES_PER_ANSWER)
        for number, text in enumerate(split_passages(row["answer"])[:keep]):
            key = re.sub(r"\W+", " ", text.lower()).strip()
            if len(key.split()) < 5 or key in seen:
                continue
            seen.add(key)
            yield Passage(
                id=hashlib.sha1(f"{row['qid']}:{number}:{key}".encode()).hexdigest()[:12],
                qid=row["qid"], source=row["source"], url=row["url"], focus=row["focus"].strip(),
                qtype=row["qtype"], question=clean_question(row["question"]), text=text,
            )


def heldout_rows(rows: Iterable[dict]) -> dict[str, list[dict]]:
    """The measurement rows: {"focus": topic not in the index, "question": topic in the index, answer not}."""
    out: dict[str, list[dict]] = {"focus": [], "question": []}
    for row in rows:
        if row["qtype"] in SKIPPED_QTYPES:
            continue
        if is_heldout_focus(row["focus"]):
            out["focus"].append(row)
        elif is_heldout_question(row["qid"]):
            out["question"].append(row)
    return out
