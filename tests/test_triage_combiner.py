"""The learned combiner (medchat/safety/combiner.py) and the written messages it learns from (data/written/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medchat.safety import combiner, engine, learned, linear, ngrams
from medchat.safety.texts import LEVELS

WRITTEN = learned.written_files()
BLIND_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "triage_sets"


def test_shipped_combiner_is_current():
    """A catalogue or written-message edit without `python -m medchat.safety.combiner --build` fails here (the app
    would silently fall back to the hand-set bars)."""
    assert learned.stored_hash(combiner.COMBINER_FILE) == learned.rows_hash(learned.exemplars())


def test_stale_combiner_is_refused_with_the_command_to_rebuild(tmp_path, monkeypatch):
    stale = tmp_path / "combiner.npz"
    learned.save_exemplar_file(stale, [("x", "routine", "p", "", "")], coef=np.zeros((3, 4)), intercept=np.zeros(3))
    monkeypatch.setattr(combiner, "COMBINER_FILE", stale)
    with pytest.raises(RuntimeError, match="medchat.safety.combiner --build"):
        combiner._load()


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_written_files_are_labelled_messages_from_twenty_five_writers():
    # seventeen training writers (t1-t11 400 each, t12-t17 about 300 each in 8-16 languages apiece) and the four read
    # blind sets K, L, M, N (two writers each, 150 each)
    assert sorted(p.stem for p in WRITTEN) == sorted([f"{s}{i}" for s in "klmn" for i in (1, 2)]
                                                     + [f"t{i}" for i in range(1, 18)])
    for path in WRITTEN:
        rows = _rows(path)
        assert len(rows) >= (150 if path.stem[0] in "klmn" else 300 if int(path.stem[1:]) >= 12 else 400), path.name
        assert all(isinstance(r["text"], str) and r["text"].strip() and r["level"] in LEVELS for r in rows), path.name
        levels = {r["level"] for r in rows}
        assert {"emergency", "crisis", "routine"} <= levels, path.name
        assert sum(r.get("category") == "lookalike" for r in rows) >= 0.2 * len(rows), path.name  # the hard negatives


def test_the_blind_sets_are_not_learned():
    """Sets O, P, Q and R (benchmarks/triage_sets/o*, p*, q*, r*.jsonl) are the untouched sets of rounds 13 to 16:
    none of their messages may be an exemplar."""
    learned_texts = {r[0].strip().lower() for r in learned.exemplars()}
    blind = {r["text"].strip().lower() for p in sorted(BLIND_DIR.glob("[opqr]*.jsonl")) for r in _rows(p)}
    assert len(blind) >= 1200
    assert not blind & learned_texts


def test_leaving_a_writer_out_removes_exactly_its_messages():
    t1 = {json.loads(line)["text"] for line in (learned.WRITTEN_DIR / "t1.jsonl").read_text().splitlines() if line}
    rows = learned.exemplars()
    kept = [r for r, out in zip(rows, learned.written_mask(rows, "t1")) if not out]
    assert len(rows) - len(kept) == len(t1)
    assert not t1 & {r[0] for r in kept if r[2].startswith("written-")}


def test_fold_model_fits_its_head_on_the_kept_rows_only():
    rows = [(f"text {i}", lvl, f"p{i}", "", "") for i, lvl in enumerate(["routine", "emergency", "crisis"] * 4)]
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(12, 8)).astype(np.float32)
    keep = np.array([True] * 9 + [False] * 3)
    model = combiner.fold_model(None, rows, matrix, keep)
    assert len(model.rows) == 9 and model.matrix.shape == (9, 8) and model.head.coef.shape == (3, 8)


def test_features_have_the_shape_the_shipped_weights_expect(learned_triage):
    comb = combiner.load()
    assert comb is not None
    for text in ("hello", "my chest hurts and my left arm is numb", "estoy pensando en quitarme la vida",
                 "मेरे सीने में तेज़ दर्द है और पसीना आ रहा है"):
        ly = engine.layers(text)
        x = combiner.features(ly, text, comb.ngram)
        assert x.shape == (comb.head.coef.shape[1],) and np.isfinite(x).all()
        p = comb.proba(ly, text)
        assert abs(sum(p) - 1) < 1e-5


@pytest.mark.parametrize("text, level", [
    # written here after the combiner was built, not in any exemplar file
    ("my dad keeps saying the family will be better off without him and he just updated his will and gave me his "
     "watch", "crisis"),
    ("my 6 week old is burning up, 38.6 and won't feed", "emergency"),
    ("honestly this spreadsheet is killing me, send help (and coffee)", "routine"),
    ("I watched a documentary about the Golden Gate bridge jumpers for my journalism class", "routine"),
])
def test_combined_triage_on_new_wording(learned_triage, exemplar_texts, text, level):
    assert text.lower() not in exemplar_texts
    assert engine.triage(text).level == level


def test_without_the_combiner_the_hand_set_bars_decide(learned_triage):
    text = "I've been giving my things away and I wrote letters to everyone, I feel calm now"
    with combiner.signals(learned.load(), None, None):  # e5: loaded as shipped
        hand = engine.triage(text)
    assert hand.level == "crisis" and "combiner" not in hand.reason
    assert engine.triage(text).level == "crisis"


def test_a_set_aside_red_flag_says_so(learned_triage):
    """When the combiner overrules a layer's emergency / crisis vote, the reason says which and at what p."""
    class Calm:
        def proba(self, ly, text):
            return (0.95, 0.03, 0.02)

    text = "my friend says the pills are kept for tonight, she has written her goodbyes"
    assert engine.triage(text).level == "crisis"
    with combiner.signals(learned.load(), None, Calm()):
        t = engine.triage(text)
    assert t.level == "routine" and "set aside by the learned combiner" in t.reason and t.guidance == ""


def test_the_precise_layers_red_flag_stands_whatever_the_combiner_says(learned_triage):
    """The rules and the lexicon are the precise layers: a combiner sure the message is calm does not set them aside
    (a buried crisis sentence in a long consultation once came out p 0.02 from a whole-message read)."""
    class Sure:
        def proba(self, ly, text):
            return (0.99, 0.01, 0.0)

    for text, level in [("what are the signs of a stroke? my mum's face is drooping right now", "emergency"),
                        ("मेरी दो साल की बेटी ने घड़ी की बैटरी निगल ली है", "emergency")]:
        with combiner.signals(learned.load(), None, Sure()):
            assert engine.triage(text).level == level, text


def test_ngram_head_reads_words_the_encoders_blur_and_survives_float16():
    texts = ["i will take all the pills tonight", "goodbye forever, pills are ready", "my chest is crushing, cant breathe",
             "face drooping and slurred speech", "what is a good shampoo", "how much water should i drink"] * 3
    levels = ["crisis", "crisis", "emergency", "emergency", "routine", "routine"] * 3
    model = ngrams.fit(texts, levels)
    p = model.proba(["the pills are ready for tonight", "which shampoo is good"])
    assert p[0].argmax() == 2 and p[1].argmax() == 0
    z = {k: np.asarray(v) for k, v in ngrams.arrays(model).items()}
    assert np.abs(ngrams.from_arrays(z).proba(["the pills are ready for tonight"]) - p[:1]).max() < 0.01


def test_ngram_head_scores_a_message_as_the_vectorizer_would():
    """The per-message read (the analyzer and hash of scikit-learn's HashingVectorizer, the product over the
    message's own features) gives the probabilities of the vectorizer's sparse transform, in any script."""
    model = combiner.load().ngram
    texts = ["I took 40 paracetamol an hour ago", "मेरे सीने में तेज़ दर्द है और पसीना आ रहा है", "頭が割れるように痛い",
             "asking for a friend: what's a lethal dose?", "", "!!!", "ok",
             "PAIN  pain\tpain\n\n pain\u00a0\u2003ÉCOLE İstanbul a b", "🙂🙂 x"]
    via_transform = linear.softmax(np.asarray(model.transform(texts) @ model.head.coef.T) + model.head.intercept)
    assert np.abs(model.proba(texts) - via_transform).max() < 1e-5
    # word by word (each word's n-grams cached): the same columns as the analyzer's n-grams of the whole message
    for text in texts:
        whole = np.fromiter(map(ngrams._feature_index, ngrams._analyzer()(text)), dtype=np.int64)
        assert sorted(ngrams.message_features(text)) == sorted(whole), text


def test_the_combiner_alone_needs_more_to_raise_a_long_english_message(learned_triage):
    """A red flag no layer voted for in a long English message (the rules read each of its sentences, the learned
    signal scores each one) needs p > RAISE_LONG_EN_P from the combiner alone; a short one, or one in another
    language, is raised at RAISE_P."""
    class Leaning:
        def proba(self, ly, text):
            return (0.2, 0.8, 0.0)

    long_en = ("Hi, for about two months I have had dry, flaky patches on both elbows and a little on my knees. They "
               "itch a bit in the evening. I use an ordinary moisturiser. Could this be eczema, and what should I try?")
    short_en = "dry flaky patches on my elbows"
    long_es = ("Hola, desde hace unos dos meses tengo placas secas y escamosas en los dos codos y un poco en las rodillas. "
               "Me pican algo por la noche. Uso una crema hidratante normal. ¿Puede ser eccema y qué debería probar?")
    assert len(long_en) > learned.LONG_MESSAGE_CHARS and len(long_es) > learned.LONG_MESSAGE_CHARS
    with combiner.signals(learned.load(), None, Leaning()):
        levels = {t: engine.triage(t).level for t in (long_en, short_en, long_es)}
    assert combiner.RAISE_P < 0.8 < combiner.RAISE_LONG_EN_P
    assert levels == {long_en: "routine", short_en: "emergency", long_es: "emergency"}
