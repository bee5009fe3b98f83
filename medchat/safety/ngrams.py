"""A third learned read: character n-grams (2-5, within words) with TF-IDF and a logistic regression (calm / emergency
/ crisis), fitted on the same exemplar rows as the encoders' heads.

Why (measured, leave-one-writer-out on the 2,002 written messages, benchmarks/triage_crossval.py): sentence
encoders blur the words that decide a message ("not for the dog", "won't need a return ticket", "asking for me"),
and n-grams read any script without a tokenizer. Alone it is weaker than the encoders (85.6 % right level at 31 %
look-alike false alarms); as one more input of the combiner it added 1.7 points of right level and of crisis recall
at the same false-alarm rate. Hashed features (scikit-learn's HashingVectorizer: no vocabulary to ship), so the file
holds only the IDF weights and the coefficients; 0.8 ms median, 1.5 ms p95 a message here (set K).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from medchat.safety import linear

N_FEATURES = 2**18
C = 10.0  # char n-gram TF-IDF models want weak regularisation (C 10, as in the sweep that measured the gain above)


@functools.lru_cache(maxsize=1)
def _vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES, alternate_sign=False,
                             norm=None)


@dataclass(frozen=True)
class NgramHead:
    idf: np.ndarray  # (N_FEATURES,)
    head: linear.Head  # coef (3, N_FEATURES)

    def transform(self, texts):
        from sklearn.preprocessing import normalize

        counts = _vectorizer().transform(list(texts))
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf
        return normalize(counts.multiply(self.idf).tocsr())

    def proba(self, texts) -> np.ndarray:
        """(n, 3) probabilities of linear.CLASSES (the same as through `transform`, to float rounding)."""
        rows = [self._proba_one(t) for t in texts]
        return np.stack(rows) if rows else np.zeros((0, len(linear.CLASSES)), dtype=np.float32)

    def _proba_one(self, text: str) -> np.ndarray:
        # scikit-learn's transform plus a sparse product cost 3.4 ms a message here, this 0.9 (measured on set N):
        # the same analyzer and hash, the product over the message's few hundred features only
        idx, counts = np.unique(message_features(text), return_counts=True)
        tfidf = (1.0 + np.log(counts)) * self.idf[idx]  # sublinear tf, as transform
        tfidf /= np.sqrt(tfidf @ tfidf) or 1.0
        return linear.softmax((tfidf.astype(np.float32) @ self._coef_by_feature[idx] + self.head.intercept)[None, :])[0]

    @functools.cached_property
    def _coef_by_feature(self) -> np.ndarray:
        return np.ascontiguousarray(self.head.coef.T)


@functools.lru_cache(maxsize=1)
def _analyzer():
    return _vectorizer().build_analyzer()


def message_features(text: str) -> np.ndarray:
    """The columns of every n-gram the analyzer makes of `text`, one per n-gram: word by word, as char_wb makes them
    (each word's n-grams are its own, padded with a space each side). Why: one cached array a word instead of a
    hash-table lookup per n-gram, 0.42 -> 0.05 ms a message on set P (measured)."""
    words = _preprocessor()(text).split()
    return np.concatenate([_word_features(w) for w in words]) if words else np.zeros(0, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def _preprocessor():
    return _vectorizer().build_preprocessor()  # lowercase, as the analyzer does first


@functools.lru_cache(maxsize=2**16)
def _word_features(word: str) -> np.ndarray:
    cols = np.fromiter(map(_feature_index, _vectorizer()._char_wb_ngrams(word)), dtype=np.int64)
    cols.flags.writeable = False  # shared by every message with this word
    return cols


@functools.cache
def _murmurhash3_32():
    from sklearn.utils import murmurhash3_32  # an import per new n-gram cost ~0.2 ms a message (measured, set P)

    return murmurhash3_32


@functools.lru_cache(maxsize=2**17)
def _feature_index(ngram: str) -> int:
    """The column HashingVectorizer puts an n-gram in (murmurhash3 of its UTF-8, seed 0, absolute value mod the
    width; scikit-learn's special case for the one hash whose absolute value overflows)."""
    h = _murmurhash3_32()(ngram, seed=0)
    return (2**31 - 1 - (N_FEATURES - 1)) % N_FEATURES if h == -2**31 else abs(h) % N_FEATURES


def fit(texts, levels) -> NgramHead:
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    counts = _vectorizer().transform(list(texts))
    idf = TfidfTransformer(smooth_idf=True).fit(counts).idf_.astype(np.float32)
    model = NgramHead(idf, linear.Head(np.zeros((3, N_FEATURES), np.float32), np.zeros(3, np.float32)))
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(model.transform(texts),
                                                                              linear.labels(np.asarray(levels)))
    return NgramHead(idf, linear.Head(clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)))


def fit_rows(rows) -> NgramHead:
    return fit([r[0] for r in rows], [r[1] for r in rows])


def arrays(model: NgramHead) -> dict:
    """What the combiner file stores of it (float16 coefficients: 1.5 MB instead of 3)."""
    return {"ngram_idf": model.idf.astype(np.float16), "ngram_coef": model.head.coef.astype(np.float16),
            "ngram_intercept": model.head.intercept}


def from_arrays(z) -> NgramHead:
    return NgramHead(z["ngram_idf"].astype(np.float32),
                     linear.Head(z["ngram_coef"].astype(np.float32), z["ngram_intercept"].astype(np.float32)))


def probs(model: NgramHead | None, text: str) -> tuple[float, float, float]:
    return tuple(float(p) for p in model.proba([text])[0]) if model is not None else (0.0, 0.0, 0.0)

