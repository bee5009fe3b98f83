"""A linear read of the exemplars: a logistic regression (calm / emergency / crisis) over each encoder's embeddings.

Why, next to the nearest exemplars (measured on dev sets A-F, README "Safety"): nearest exemplars need a phrasing
close to the message. A crisis told with no crisis word (a calm "decision", affairs sorted, the cat found a new home,
"how high does a building need to be to be sure") sits between several crisis exemplars and a few calm ones, so its
margin is ~0; a direction learned from all ~1,500 phrasings at once still points to crisis (p 0.81-0.97 on those dev
misses). For the languages only e5 reads (bn, ur, fa, id, vi, sw, hi), the same head over e5 caught 84 of 96 dev red
flags at 3 / 55 false alarms where the nearest exemplars caught 67 at 4 / 55: few exemplars exist in those
languages, and a direction transfers across languages better than a nearest neighbour.

The heads are fitted on the catalogue phrasings, the labelled cases and the written messages (the rows of
`learned.exemplars()`), never on a blind test set. Fitting takes ~5-20 s here, so the weights ship in
`data/linear_heads.npz`, stamped with the hash of
the exemplar rows (`python -m medchat.safety.linear --build`); a stale file is refitted at load (slow, logged) and
tests/test_triage_round6.py fails on it. Scoring is one small matrix product (numpy; scikit-learn only to fit).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

HEADS_FILE = Path(__file__).resolve().parent / "data" / "linear_heads.npz"
CLASSES = ("calm", "emergency", "crisis")  # urgent and routine exemplars are both "calm" here
# Inverse regularisation. Measured on dev sets A-F (USE, crisis head at p > 0.8): C=1 found 3 of the 10 crisis misses,
# C=4 6, C=16 6 but with 3x the look-alikes above the bar; on e5 C=4 and C=16 were alike (84 vs 84 red flags).
C = 4.0


@dataclass(frozen=True)
class Head:
    coef: np.ndarray  # (3, dim)
    intercept: np.ndarray  # (3,)

    def proba(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities of CLASSES for (n, dim) embeddings (softmax, as scikit-learn's multinomial)."""
        return softmax(np.asarray(embeddings, dtype=np.float32) @ self.coef.T + self.intercept)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, 3) logits."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def labels(levels: np.ndarray) -> np.ndarray:
    return np.where(levels == "crisis", 2, np.where(levels == "emergency", 1, 0))


def fit(matrix: np.ndarray, levels: np.ndarray) -> Head:
    """A balanced multinomial logistic regression (the crisis and emergency phrasings are fewer than the calm ones)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(matrix, labels(levels))
    return Head(clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32))


def load_head(name: str, matrix: np.ndarray, levels: np.ndarray, rows_hash: str,
              path: Path = HEADS_FILE) -> Head | None:
    """The shipped head for encoder `name` ("use" or "e5") if it was fitted on these rows, else one fitted now; None
    (logged; the nearest exemplars still run) if it cannot be fitted here (scikit-learn missing)."""
    if path.exists():
        with np.load(path) as z:
            if f"{name}_coef" in z and str(z["rows_hash"]) == rows_hash:
                return Head(z[f"{name}_coef"].astype(np.float32), z[f"{name}_intercept"].astype(np.float32))
    log.warning("triage: %s has no current %s head (the catalogue changed); fitting it now (~10 s). "
                "Rebuild it: python -m medchat.safety.linear --build", path.name, name)
    try:
        return fit(matrix, levels)
    except ImportError as e:
        log.warning("triage: cannot fit the %s head (%s); triage runs without it", name, e)
        return None


def build(path: Path = HEADS_FILE) -> Path:
    """Fit both heads on the exemplars (USE embeds them, e5 from its shipped matrix) and save them (atomic write)."""
    from medchat.safety import learned, second_encoder

    rows = learned.exemplars()
    arrays = {}
    for name, model in (("use", learned.NearestExemplars(learned._load_encoder(), rows)),
                        ("e5", second_encoder.exemplar_model(rows))):
        head = fit(model.matrix, model.levels)
        arrays[f"{name}_coef"], arrays[f"{name}_intercept"] = head.coef, head.intercept
    return learned.save_exemplar_file(path, rows, **arrays)


def main(argv: list[str] | None = None) -> int:
    from medchat.safety.learned import build_command

    return build_command(argv, "python -m medchat.safety.linear", __doc__, f"{HEADS_FILE.name} (fit the heads)", build)


if __name__ == "__main__":
    raise SystemExit(main())
