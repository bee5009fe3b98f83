"""The combiner: one logistic regression over what every layer said, learned from messages of writers it had not seen.

Why (measured, README "Safety", round 10): the layers' votes were combined by hand-set bars (engine.py), each tuned
on one development set's misses, and each untouched set since has landed at 87-90 % of red flags at the right level.
2,002 messages written by five helper sessions blind to the rules (`data/written/`) give, per writer, what every
layer says about messages it has not learned from (the learned signals rebuilt without that writer: out-of-fold).
A logistic regression over those 45 numbers (the hand-combined level, the rules' level and framing, both encoders'
margins and linear-head probabilities, the head's highest probability on any sentence, the lexicon, the language,
the length, the n-gram head of ngrams.py) then decides emergency / crisis / calm. Leave-one-writer-out on those
2,002 messages (every learned part and the combiner refitted without the writer, `python -m
benchmarks.triage_crossval`): right level 84.6 -> 91.2 %, crisis flagged 90.0 -> 94.2 %, look-alike false alarms
20.0 -> 15.7 % against the hand-set bars with the same exemplars; 89.5 / 92.0 / 19.2 % as shipped, with the
precise layers' flags always standing (below). Round 11 (5,007 messages from 15 writers, e5 reading Hinglish):
92.6 / 95.8 / 16.2 % over all 15 writers, 93.4 / 96.4 / 14.9 % on the 12 scored before (README "Safety"). Round 12
(6,526 messages from 21 writers): 93.5 / 96.1 / 16.6 % on round 11's 15 writers,
91.8 / 95.8 / 14.6 % over all 21 (`benchmarks/results/triage_2026-12-03/`). Round 13 (7,437 messages from 25
writers): 92.4 / 95.8 / 14.3 % on round 12's 21, 91.7 / 95.8 / 14.3 % over all 25. A
gradient-boosted combiner did no better (89.8 / 93.4 / 15.7 % in the same folds without the n-gram head) and would need
scikit-learn's trees at run time; this is one dot product.

Above `FLAG_P` it sets the level (crisis if likelier than an emergency); below it the learned layers' emergency /
crisis votes are set aside and the urgent / routine votes decide; the rules' and the lexicon's always stand. The
weights ship in `data/combiner.npz`, stamped with the exemplar rows' hash (`python -m medchat.safety.combiner
--build`, ~13 min here with 9,285 exemplars: after the e5 matrix and the linear heads); when stale it is not used
(logged once; the hand-set bars decide) and tests/test_triage_combiner.py fails.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medchat.safety import learned, linear, ngrams, second_encoder
from medchat.safety.texts import LEVELS

log = logging.getLogger(__name__)

COMBINER_FILE = Path(__file__).resolve().parent / "data" / "combiner.npz"
# Leave-one-writer-out (2,002 written messages, the combiner alone, before the n-gram head): p 0.5 right level
# 91.6 % / look-alike false alarms 19.0 %, 0.55 90.9 / 17.1, 0.6 90.2 / 14.9, 0.65 88.7 / 13.7. Under round 9's code
# these writers' look-alikes raised 23 % false alarms and set K's 14 % (its summary line, read before this was set),
# so 0.6 aims at the 10 % target on sets like K.
FLAG_P = 0.6
# The precise layers' own emergency / crisis always stands: the combiner may add a flag or overrule the learned votes,
# never the rules or the lexicon. Measured, the same cross-validation: letting it set them aside when sure (p < 0.1)
# saved 0.8 point of look-alike false alarms, but it set aside "my mum's face is drooping right now" (p 0.47 with a
# bar of 0.6) and a buried "stockpiling my sleeping tablets because I don't want to be here anymore" (p 0.02 in a
# long skin consultation: a whole-message read); a Hindi button battery and a baby not moving since last night
# (the lexicon's) went the same way.
PRECISE_LAYERS = ("rules", "lexicon")
# A flag no layer voted for ("raised" by the combiner alone) needs this. Measured (the same cross-validation, the
# precise layers then standing unless p < 0.1): 0.6 right level 90.8 %, crisis 94.5 %, look-alike false alarms
# 17.3 %; 0.8 88.0 / 91.8 / 14.1; 0.9 86.2 / 89.8 / 13.7.
# Recall first: 0.6, as for a confirmed flag. A deployment that must show fewer crisis lines can raise it.
RAISE_P = 0.6
# ... and this for an English message over learned.LONG_MESSAGE_CHARS: there the rules read every sentence and the
# learned signal scores each one, and the combiner alone, which learned from written messages, reads a long
# consultation as a red flag far too often (real consultation messages, HealthCareMagic rows 0-649, round 13: 68 of
# the 82 emergency / crisis flags were the combiner's alone, on baby hair, a lip bump, ingrown hairs at p 0.64-0.98).
# Measured: at 0.6 / 0.8 / 0.9 / never, rows 0-649 flagged 12.6 / 6.6 / 3.8 / 2.3 %, rows 650-999 4.3 / 2.9 / 2.9 /
# 2.3 %; leave-one-writer-out (25 writers) right level 3874 / 3874 / 3873 / 3862 of 4224, the rest unchanged.
RAISE_LONG_EN_P = 0.9
C = 1.0  # C 0.3 / 1 / 3 were within 0.5 point of each other at every bar
ONEHOT_LEVELS = ("routine", "urgent", "emergency", "crisis")  # the order the shipped weights were fitted in
FRAMING = ("about an animal", "joking hyperbole", "study/hypothetical question")


def _onehot(value, values) -> list[float]:
    return [float(value == v) for v in values]


def _signal_features(sig, with_nearest: bool) -> list[float]:
    n = 13 if with_nearest else 11
    if sig is None:
        return [0.0] * n
    f = [1.0] + _onehot(sig.level, ONEHOT_LEVELS) + [sig.margin, sig.whole_margin, sig.best_margin]
    f += list(sig.probs or (0.0, 0.0, 0.0))
    return f + (_onehot(sig.nearest_flag, ("emergency", "crisis")) if with_nearest else [])


def features(ly, text: str, ngram: ngrams.NgramHead | None) -> np.ndarray:
    """The combiner's input for one message: what every layer said (engine.Layers) and the n-gram head's read."""
    voted = min((v[0] for v in ly.votes), key=LEVELS.index)  # the level the hand-set bars give
    dropped = ly.findings.dropped
    f = _onehot(voted, ONEHOT_LEVELS) + _onehot(ly.findings.triage.level, ONEHOT_LEVELS)
    f += [float(bool(dropped)), float(any(w in FRAMING for w in dropped)), float(bool(ly.findings.crisis_too))]
    f += _signal_features(ly.signal, True) + _signal_features(ly.second, False)
    f += list(ly.signal.segment_probs) if ly.signal is not None and ly.signal.segment_probs else [0.0, 0.0]
    f += [float("emergency" in ly.lexicon_levels), float("crisis" in ly.lexicon_levels), float(ly.framed_calm),
          math.log1p(len(text)), float(ly.code == "en")]
    f += list(ngrams.probs(ngram, text))
    return np.asarray(f, dtype=np.float32)


@dataclass(frozen=True)
class Combiner:
    head: linear.Head
    ngram: ngrams.NgramHead

    def proba(self, ly, text: str) -> tuple[float, float, float]:
        """(calm, emergency, crisis) for one message, from what its layers said."""
        return tuple(float(p) for p in self.head.proba(features(ly, text, self.ngram)[None, :])[0])


def fit(x: np.ndarray, y: np.ndarray, ngram: ngrams.NgramHead) -> Combiner:
    """Fit on out-of-fold features `x` (made with the fold n-gram heads); `ngram` is the head used from now on."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(x, y)
    return Combiner(linear.Head(clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)), ngram)


# ----------------------------------------------------------------------------------------------------------------
# Out-of-fold features: per writer, the learned signals rebuilt from every exemplar but that writer's messages


def fold_model(encoder, rows, matrix, keep) -> learned.NearestExemplars:
    """Nearest exemplars and a freshly fitted head over the kept rows (no file is read or written)."""
    model = learned.NearestExemplars(encoder, [r for r, k in zip(rows, keep) if k], matrix[keep], packed=False)
    model.head = linear.fit(model.matrix, model.levels)
    return model


def fold_models(without_written: bool = False, writers: list[str] | None = None) -> dict[str, tuple]:
    """Per written file (stem): (USE model, e5 model, n-gram head) learned without it (without any written file if
    asked)."""
    rows = learned.exemplars()
    use = learned._load_encoder()
    e5 = second_encoder._QueryEncoder(second_encoder._load_e5())
    use_matrix = np.asarray(use.encode([r[0] for r in rows]), dtype=np.float32)
    e5_matrix = second_encoder.exemplar_model(rows).matrix  # the shipped matrix when current, else embedded now
    models = {}
    for path in learned.written_files():
        if writers and path.stem not in writers:
            continue
        keep = ~learned.written_mask(rows, "" if without_written else path.stem)
        models[path.stem] = (fold_model(use, rows, use_matrix, keep), fold_model(e5, rows, e5_matrix, keep),
                             ngrams.fit_rows([r for r, k in zip(rows, keep) if k]))
    return models


@contextlib.contextmanager
def signals(use_model, e5_model, combiner: Combiner | None):
    """Triage with these learned signals (None: loaded as shipped) and this combiner (None: the hand-set bars), then
    with what was there before."""
    before = learned._LOADER.model, second_encoder._LOADER.model
    learned._LOADER.model, second_encoder._LOADER.model = use_model, e5_model
    _OVERRIDE.append(combiner)
    try:
        yield
    finally:
        _OVERRIDE.pop()
        learned._LOADER.model, second_encoder._LOADER.model = before


def out_of_fold(models: dict[str, tuple], progress=print) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per writer: (features, labels 0 calm / 1 emergency / 2 crisis) of its messages, from its fold models."""
    from medchat.safety import engine, report

    out = {}
    for stem, (use_model, e5_model, ngram) in models.items():
        cases = report.load_cases(learned.WRITTEN_DIR / f"{stem}.jsonl")
        with signals(use_model, e5_model, None):
            x = np.stack([features(engine.layers(c["text"]), c["text"], ngram) for c in cases])
        out[stem] = (x, linear.labels(np.array([c["level"] for c in cases])))
        progress(f"out-of-fold features: {stem} ({len(cases)} messages)")
    return out


def build(path: Path = COMBINER_FILE) -> Path:
    """Fit the combiner on every writer's out-of-fold features and save it (atomic write)."""
    oof = out_of_fold(fold_models())
    rows = learned.exemplars()
    comb = fit(np.concatenate([x for x, _ in oof.values()]), np.concatenate([y for _, y in oof.values()]),
               ngrams.fit_rows(rows))
    return learned.save_exemplar_file(path, rows, coef=comb.head.coef, intercept=comb.head.intercept,
                                      **ngrams.arrays(comb.ngram))


def _load() -> Combiner:
    with np.load(COMBINER_FILE) as z:
        if str(z["rows_hash"]) != learned.rows_hash(learned.exemplars()):
            raise RuntimeError(f"{COMBINER_FILE.name} is stale (the exemplars changed): rebuild it with "
                               "python -m medchat.safety.combiner --build")
        comb = Combiner(linear.Head(z["coef"].astype(np.float32), z["intercept"].astype(np.float32)),
                        ngrams.from_arrays(z))
    comb.ngram.proba(["warm up"])  # imports scikit-learn now (measured: 1.4 s on the first message otherwise)
    return comb


_LOADER = learned.LoadOnce(_load, "learned combiner", "the hand-set bars of engine.py decide")
_OVERRIDE: list = []  # signals() puts a fold's combiner (or None) here for cross-validation


def load() -> Combiner | None:
    return _OVERRIDE[-1] if _OVERRIDE else _LOADER()


def main(argv: list[str] | None = None) -> int:
    return learned.build_command(argv, "python -m medchat.safety.combiner", __doc__,
                                 f"{COMBINER_FILE.name} (fit the combiner, 3-4 min)", build)


if __name__ == "__main__":
    raise SystemExit(main())
