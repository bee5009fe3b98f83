"""The passage index: passages (jsonl.gz) + their embeddings (int8 codes, one float scale per row) + what made it.

Plain numpy, not a vector-index library: at this size (17.7k x 384) one exact matrix-vector product takes about a
millisecond, as fast as faiss-cpu's exact IndexFlatIP and without a dependency (benchmarks/rag_eval.py measures
both). int8 codes with a per-row scale keep the shipped files small; measured recall@k is the same as float32.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medchat.embeddings import one_blas_thread

from medchat.knowledge.corpus import (
    HOLDOUT_FOCUS_PERCENT,
    HOLDOUT_QUESTION_PERCENT,
    HOLDOUT_SALT,
    PASSAGE_WORDS,
    PASSAGES_PER_ANSWER,
    PASSAGES_PER_ANSWER_BY_SOURCE,
    SKIPPED_QTYPES,
    Passage,
    passages_from_rows,
    read_corpus,
)

DATA_DIR = Path(__file__).parent / "data"
PASSAGES_FILE = "passages.jsonl.gz"
EMBEDDINGS_FILE = "embeddings.npz"
META_FILE = "index.json"
SOURCES_FILE = "sources.json"
FORMAT_VERSION = 1


class IndexMissingError(RuntimeError):
    pass


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: codes * scale ~= vectors."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    return codes, scale.astype(np.float32)


def dequantize(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Float32 rows, renormalised (cosine similarity = dot product)."""
    vectors = codes.astype(np.float32) * scale[:, None]
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_index(corpus: str | Path, out_dir: str | Path = DATA_DIR, progress: bool = True,
                limit: int | None = None) -> dict:
    """Read the corpus, embed its passages and write the index files into ``out_dir`` (atomically: a failed
    build leaves the previous index in place). Returns the metadata written to index.json."""
    from medchat.embeddings import EMBEDDING_HUB_ID, embedding_model_path, encode

    out_dir = Path(out_dir)
    started = time.time()
    rows = read_corpus(corpus)
    passages = list(passages_from_rows(rows))[: limit or None]
    if progress:
        print(f"[medchat.knowledge] {len(rows)} corpus rows -> {len(passages)} passages; embedding them", flush=True)
    vectors = encode([p.embedding_text() for p in passages], progress=progress)
    codes, scale = quantize(vectors)
    meta = {
        "format_version": FORMAT_VERSION,
        "corpus": Path(corpus).name,
        "corpus_sha256": _sha256(Path(corpus)),
        "corpus_rows": len(rows),
        "passages": len(passages),
        "embedding_model": EMBEDDING_HUB_ID,
        "embedding_model_path": Path(embedding_model_path()).parent.name,
        "dim": int(vectors.shape[1]),
        "quantization": "int8 per-row symmetric",
        "passage_words": PASSAGE_WORDS,
        "passages_per_answer": PASSAGES_PER_ANSWER,
        "passages_per_answer_by_source": PASSAGES_PER_ANSWER_BY_SOURCE,
        "skipped_qtypes": sorted(SKIPPED_QTYPES),
        "holdout": {"salt": HOLDOUT_SALT, "focus_percent": HOLDOUT_FOCUS_PERCENT,
                    "question_percent": HOLDOUT_QUESTION_PERCENT},
        "build_seconds": round(time.time() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=out_dir))
    try:
        with gzip.GzipFile(tmp / PASSAGES_FILE, "wb", mtime=0) as handle:  # mtime=0: same corpus, same bytes
            for passage in passages:
                handle.write((json.dumps(passage.to_json(), ensure_ascii=False) + "\n").encode("utf-8"))
        np.savez_compressed(tmp / EMBEDDINGS_FILE, codes=codes, scale=scale)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        for name in (PASSAGES_FILE, EMBEDDINGS_FILE, META_FILE):
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


@dataclass
class KnowledgeIndex:
    passages: list[Passage]
    vectors: np.ndarray  # [n, dim] float32, unit rows
    meta: dict
    sources: dict

    @classmethod
    def load(cls, data_dir: str | Path = DATA_DIR) -> "KnowledgeIndex":
        data_dir = Path(data_dir)
        missing = [n for n in (PASSAGES_FILE, EMBEDDINGS_FILE, META_FILE) if not (data_dir / n).is_file()]
        if missing:
            raise IndexMissingError(
                f"No knowledge index in {data_dir} (missing {', '.join(missing)}). Build it with\n"
                "    python -m medchat.knowledge build --corpus PATH/TO/medquad_answered.jsonl.gz"
            )
        meta = json.loads((data_dir / META_FILE).read_text())
        with gzip.open(data_dir / PASSAGES_FILE, "rt", encoding="utf-8") as handle:
            passages = [Passage(**json.loads(line)) for line in handle if line.strip()]
        with np.load(data_dir / EMBEDDINGS_FILE) as arrays:
            vectors = dequantize(arrays["codes"], arrays["scale"])
        if len(passages) != len(vectors):
            raise IndexMissingError(f"{data_dir}: {len(passages)} passages but {len(vectors)} embeddings; rebuild it.")
        sources_path = data_dir / SOURCES_FILE
        if not sources_path.is_file():
            sources_path = DATA_DIR / SOURCES_FILE
        return cls(passages, vectors, meta, json.loads(sources_path.read_text()))

    def top_k(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of the k nearest passages, best first."""
        with one_blas_thread():
            scores = self.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        k = min(int(k), len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top, scores[top]
