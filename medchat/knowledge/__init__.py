"""Trusted medical knowledge for grounded replies: MedQuAD's NIH answers (CC BY 4.0) as an embedded passage index.

- `corpus`: read and validate MedQuAD, cut answers into passages, the deterministic hold-out;
- `index`: build (`python -m medchat.knowledge build`) and load the shipped index (numpy, int8 embeddings);
- `retriever`: `Retriever.search(text)`, `.prompt_context(hits)`, `.sources_markdown(hits)`, `.grounded_answer(text,
  hits)` for the chat service;
- `grounded`: retrieval "quote": trusted sentences chosen, quoted verbatim and attributed in fixed framing.
"""

from medchat.knowledge.corpus import CorpusError, Passage
from medchat.knowledge.index import IndexMissingError, KnowledgeIndex, build_index
from medchat.knowledge.retriever import (
    NO_SOURCE_CONTEXT,
    NO_SOURCE_NOTE,
    Hit,
    Retriever,
    add_grounded_answers,
    add_retrieval_context,
    default_retriever,
    system_with_context,
)

__all__ = [
    "CorpusError",
    "Hit",
    "IndexMissingError",
    "KnowledgeIndex",
    "NO_SOURCE_CONTEXT",
    "NO_SOURCE_NOTE",
    "Passage",
    "Retriever",
    "add_grounded_answers",
    "add_retrieval_context",
    "build_index",
    "default_retriever",
    "system_with_context",
]
