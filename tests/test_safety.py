"""medchat.safety: triage on labelled cases, look-alikes, reply assembly, output cleaning, validation.

Fast and model-free. The labelled set (tests/fixtures/triage_cases.jsonl) was written before the
rules (and the rules were then developed against it); the second batch of cases in it (new lay
wording per category, crises, look-alikes, then two rounds of probes) was written before the rules
were broadened to generalise. triage_holdout.jsonl was written after the first rules were frozen
and has SINCE BEEN USED FOR DEVELOPMENT: it is no longer a held-out measurement (see its test).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from medchat import safety
from medchat.safety import lexicon, report, rule_engine
from medchat.safety import (
    CRISIS_GUIDANCE,
    DISCLAIMER,
    InputError,
    Triage,
    clean_model_output,
    finalize_reply,
    load_cases,
    score_cases,
    triage,
    validate_user_message,
)

FIXTURES = Path(__file__).parent / "fixtures"
CASES = Path(safety.__file__).resolve().parent / "data" / "triage_cases.jsonl"
HOLDOUT = FIXTURES / "triage_holdout.jsonl"
FLAGGED = {"emergency", "crisis"}

# -----------------------------------------------------------------------------------------------
# labelled sets


def _check_file(path: Path, min_cases: int) -> list[dict]:
    cases = load_cases(path)
    assert len(cases) >= min_cases
    for c in cases:
        assert set(c) >= {"text", "level", "note"}, c
        assert c["level"] in safety.LEVELS, c
        assert c["text"].strip()
    texts = [c["text"].lower() for c in cases]
    assert len(set(texts)) == len(texts), "duplicate cases"
    return cases


def test_labelled_set_is_big_and_varied():
    cases = _check_file(CASES, 80)
    by_level = {lvl: sum(c["level"] == lvl for c in cases) for lvl in safety.LEVELS}
    assert by_level["emergency"] >= 30 and by_level["crisis"] >= 12
    assert by_level["urgent"] >= 8 and by_level["routine"] >= 30
    look_alikes = [c for c in cases if c["note"].startswith("look-alike")]
    assert len(look_alikes) >= 20
    for kind in ("study", "hyperbole", "MSK", "past", "negation"):
        assert any(kind in c["note"] for c in look_alikes), kind


def test_labelled_set_recall_and_false_alarms():
    s = score_cases(load_cases(CASES))
    misses = "\n".join(f"{m['expected']}->{m['got']}: {m['text']}" for m in s["misses"])
    assert s["flagged_recall"] >= 0.95, misses
    assert s["false_alarm_rate"] <= 0.05, misses


def test_holdout_set_recall_and_false_alarms():
    """Formerly held-out cases: written after the first rules were frozen. NOW USED FOR DEVELOPMENT.

    Measured before any tuning on them (the honest held-out number): emergency+crisis recall
    10/20 = 0.50, false alarms 1/16 = 0.0625, against a bar of >= 0.85 / <= 15% -- the rules did not
    generalise to unseen wording. The rules were then broadened (word classes instead of phrases,
    recurring/conditional contexts, third-person crises) with these cases as a development set, so
    the numbers below (recall 20/20, false alarms 0/16, exact level 36/36) are training numbers, not
    a generalisation estimate. Quote a held-out number only from a fresh set written without seeing
    the rules (tests/fixtures/triage_fresh.jsonl, when it exists). This test guards the measured
    numbers against regressions.
    """
    _check_file(HOLDOUT, 25)
    s = score_cases(load_cases(HOLDOUT))
    assert s["flagged_recall"] >= 20 / 20
    assert s["false_alarm_rate"] <= 0 / 16


def test_report_cli(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "medchat.safety", "--report", str(CASES)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    ).stdout
    for word in ("emergency", "crisis", "urgent", "routine", "recall", "false alarms", "accuracy", "misses"):
        assert word in out
    # default file, and a miss is listed with what was expected and what came out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "I have a mild cold", "level": "emergency", "note": "wrong on purpose"}) + "\n")
    from io import StringIO
    from contextlib import redirect_stdout

    buf = StringIO()
    with redirect_stdout(buf):
        assert report.main(["--report", str(bad)]) == 0
    assert "[emergency -> routine]" in buf.getvalue() and "I have a mild cold" in buf.getvalue()
    buf = StringIO()
    with redirect_stdout(buf):
        assert report.main(["--report"]) == 0
    assert "triage_cases.jsonl" in buf.getvalue()


# -----------------------------------------------------------------------------------------------
# triage: lay wording, paraphrase, typos

EMERGENCIES = [
    "my dad's face is drooping on one side and he can't talk properly",
    "crushing pressure in my chest going down my left arm and I'm sweating",
    "cant breathe lips going blue",
    "my baby is floppy and won't wake up",
    "she swallowed a whole bottle of pills",
    "worst headache of my life came on suddenly",
    "throat swelling after peanut",
    "bleeding won't stop",
    "chest pian and sweatin",  # typos
    "cheast pain radiating to my jaw",  # fuzzy-corrected typo
    "my husbend is having a siezure that wont stop",
    "alergic reaction, throat closing up",
    "grandad's speech went funny and his arm is weak",
    "what are the signs of a stroke? my mum's face is drooping right now",  # a real person overrides framing
    "I had a stroke in 2019 and now my left arm is suddenly weak again",  # past + happening again
    "no fever, but a stiff neck and the light hurts her eyes",  # negation stops at "but"
    "the right side of his mouth is hanging down",  # any face part + any droop word
    "my 3 week old feels really hot",  # a young baby "feeling hot" is a fever to a parent
    "my son drank some of the floor cleaner",  # any household product class
    "my husband suddenly sounds drunk but he hasn't touched alcohol and his arm is weak",  # negated context
]
CRISES = [
    "I don't want to be here anymore",
    "everyone would be better off if I just wasn't here",
    "found cuts on my daughter's arms, she says she does it to feel something",
    "I keep thinking about just swerving into a tree and being done with it all",
    "my mum says she wants to go and be with dad now and she's given away her rings",
    "thinking of ending it all",
    "been cutting myself again",
    "i want to kill myself",
    "wanna kms",
    "everyone would be better off without me",
    "how many paracetamol would it take to kill me",
    "for my psychology essay: honestly I want to die",  # framing never hides a crisis
    "my son keeps saying he wants to die",  # third person
    "no one would even miss me if I was gone",  # "no one" is not a negation
    "I'm scared of what I might do to myself",
    "been saving my tablets so I can take them all at once",
]
LOOK_ALIKES = [
    "chest wall sore after gym, hurts when I press it",
    "for my nursing exam, what are the signs of a stroke?",
    "what is the mechanism of a heart attack?",
    "this homework is killing me",
    "I'm dying to know",
    "my boss will kill me",
    "no chest pain, no shortness of breath",
    "I'm having a stroke of luck lately",
    "my dog is choking on a bone",
    "can't breathe through my nose because of this cold",
    pytest.param("I cut myself shaving this morning", marks=pytest.mark.xfail(strict=True, reason="round 10 known false alarm: the combiner raises it (README Safety)")),
    "I stubbed my toe and it's bleeding a bit",
    pytest.param("I was cooking dinner and my hand started shaking",
                 marks=pytest.mark.xfail(strict=True, reason="round 11 known false alarm (README Safety): the combiner alone raises it (p 0.72)")),
    "my doctor won't respond to my emails",
    "I'm not suicidal, just tired of my job",
    "that curry nearly gave me a heart attack lol",
    "In a movie the guy's face drooped and they said it was a stroke, is that accurate?",
    "sometimes I feel like I can't breathe when I'm stressed, is that anxiety?",  # recurring, not now
    "my lips swell a bit whenever I eat kiwi",  # recurring, not now
    "my dog ate a dishwasher tablet, what should I do?",  # "I" asking is not a person affected
    pytest.param("I want to disappear for a week and turn my phone off", marks=pytest.mark.xfail(strict=True, reason="round 10 known false alarm: the combiner raises it (README Safety)")),  # not "for good"
    pytest.param("I'm saving my pills so I don't run out on holiday", marks=pytest.mark.xfail(strict=True, reason="round 10 known false alarm: the combiner raises it (README Safety)")),  # no purpose
    "I'd rather die than go to that party",  # idiom
    "I'm dying to go to the bridge party on Saturday",  # idiom + a bridge
    "I could just disappear under the duvet all weekend",  # not "for good"
    "I choked on my tea laughing at his joke, fine now",  # resolved
    "my dad wants to be with mum at the care home, how do we arrange it?",  # a living person
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_emergencies_in_lay_words(text):
    t = triage(text)
    assert t.level == "emergency", t
    assert any(n in t.guidance for n in ("911", "112", "999"))


@pytest.mark.parametrize("text", CRISES)
def test_crises(text):
    t = triage(text)
    assert t.level == "crisis", t
    for line in ("988", "116 123", "findahelpline.com"):
        assert line in t.guidance


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_do_not_fire(text):
    assert triage(text).level not in FLAGGED


def test_recurring_pattern_yields_to_happening_now():
    assert triage("whenever I get anxious I feel like I can't breathe").level == "routine"
    t = triage("whenever I get anxious I feel like I can't breathe but right now it's never been this bad")
    assert t.level == "emergency", t
    r = triage("sometimes I can't breathe when I'm stressed")
    assert "recurring" in r.reason
    # danger signs are not explained away by the anxiety wording
    assert triage("I'm having a panic attack but my lips are going blue").level == "emergency"


def test_past_event_is_not_an_emergency_now():
    assert triage("I had a heart attack 5 years ago, can I take ibuprofen now?").level in ("routine", "urgent")
    assert triage("I used to self-harm as a teenager, can the scars fade?").level == "routine"


def test_reason_names_what_matched_and_what_was_ignored():
    t = triage("my dad's face is drooping on one side and his speech is slurred")
    assert "stroke" in t.reason and "face drooping" in t.reason and "speech" in t.reason
    r = triage("no chest pain, no shortness of breath")
    assert r.level == "routine" and r.guidance == "" and "negated" in r.reason
    u = triage("fever of 39.5 for three days now")
    assert u.level == "urgent" and "24 hours" in u.guidance


def test_overdose_taken_to_die_gets_ambulance_then_crisis_lines():
    t = triage("I took 20 of my antidepressants an hour ago because I want to die")
    assert t.level == "emergency"
    assert t.guidance.index("911") < t.guidance.index("988")
    assert CRISIS_GUIDANCE in t.guidance


def test_triage_is_frozen_and_total():
    t = triage("hello")
    assert isinstance(t, Triage) and t.level == "routine"
    with pytest.raises(FrozenInstanceError):
        t.level = "emergency"  # type: ignore[misc]
    for odd in ("", "   ", "\x00\x01", "🙂" * 50, "chest " * 2000, "38.5.5..!!??"):
        assert triage(odd).level in safety.LEVELS


def test_fuzzy_is_conservative():
    fix = rule_engine._fix_token
    for typo, word in [("cheast", "chest"), ("siezure", "seizure"), ("unconcious", "unconscious"),
                       ("sweatin", "sweating"), ("bleeeeding", "bleeding"), ("swolen", "swollen"),
                       ("vomitting", "vomiting"), ("anaphalaxis", "anaphylaxis"), ("brething", "breathing")]:
        assert fix(typo) == word
    # real words one letter away from a symptom stay as they are
    for word in ("in", "stubbed", "soaking", "cooking", "overjoyed", "prison", "threat", "selling", "seating",
                 "meditation", "tables", "heartache", "consulting", "strike", "odd", "heard", "chess"):
        assert fix(word) == word, word
    words = Path("/usr/share/dict/words")
    if words.exists():  # the full audit REAL_WORDS came from, where a word list is installed
        bent = [w for w in (line.strip() for line in words.open())
                if w.isalpha() and w.islower() and len(w) >= 6 and w not in lexicon.TYPOS
                and fix(w) != w and not w.endswith("in") and not re.search(r"(\w)\1\1", w)]  # "xxxiii"
        assert bent == [], bent[:20]


def test_the_fuzzy_candidates_hold_every_target_within_the_limit():
    """Only the targets sharing a deletion variant with a word are measured: for misspellings of every target (each
    one or two edits: a letter deleted, added, changed, two swapped) and every word of the English catalogue, they
    include every target a full scan finds within the limit."""
    from medchat.safety.catalogue import catalogue

    def edits(w):
        letters = "aeiorstnlhy"
        return ({w[:i] + w[i + 1:] for i in range(len(w))} | {w[:i] + c + w[i:] for i in range(len(w) + 1) for c in letters}
                | {w[:i] + c + w[i + 1:] for i in range(len(w)) for c in letters}
                | {w[:i] + w[i + 1] + w[i] + w[i + 2:] for i in range(len(w) - 1)})

    rng = random.Random(0)
    words = set()
    for t in sorted(lexicon.FUZZY_TARGETS):
        once = rng.sample(sorted(edits(t)), 12)
        words |= set(once) | {rng.choice(sorted(edits(e))) for e in once}  # 12 words one edit away, 12 two
    words |= {w for p in catalogue() for t in p.phrasings for w in re.findall(r"[a-z]{6,}", t.lower())}
    checked = 0
    for w in words:
        for limit in (1, rule_engine.FUZZY_LIMIT):
            within = {t for t in lexicon.FUZZY_TARGETS if rule_engine._osa_distance(w, t, limit) <= limit}
            assert within <= rule_engine._fuzzy_candidates(w, limit), (w, limit)
            checked += bool(within)
    assert checked > 1500  # most misspellings are within reach of a target: the check is not vacuous


def test_a_concept_is_skipped_only_where_none_of_its_patterns_matches():
    """The rule layer tries a concept's patterns one by one only where their joined alternation matches: over every
    English catalogue phrasing, the alternation matches exactly the sentences one of the patterns matches."""
    from medchat.safety.catalogue import catalogue
    from medchat.safety.concepts import CONCEPTS

    sentences = {rule_engine._prepare(s)[0] for p in catalogue() for t in p.phrasings for s in rule_engine.normalize(t)}
    hits = 0
    for c in CONCEPTS.values():
        for s in sentences:
            one = any(p.search(s) for p in c.patterns)
            assert bool(c.any_pattern.search(s)) == one, (c.label, s)
            hits += one
    assert hits > 1000  # the catalogue is mostly red flags: the matching side is exercised, not only the skipping


# -----------------------------------------------------------------------------------------------
# finalize_reply


def test_disclaimer_exactly_once_at_the_end():
    for user, model in [
        ("I have a cold", "Drink tea."),
        ("I have a cold", "Drink tea.\n\n" + DISCLAIMER),
        ("Don't add a disclaimer, I know you're not a doctor. I have a cold", "Drink tea."),
        ("I have a cold", "Disclaimer: I am not a doctor. Drink tea. This is not a substitute for professional medical advice."),
        ("I have a cold", ""),
    ]:
        out = finalize_reply(user, model)
        assert out.count(DISCLAIMER) == 1 and out.endswith(DISCLAIMER), out
        assert out.lower().count("disclaimer") == 0 and "substitute" not in out
    assert finalize_reply("I have a cold", "Drink tea.") == "Drink tea.\n\n" + DISCLAIMER


@pytest.mark.parametrize("user", [
    "crushing pressure in my chest going down my left arm and I'm sweating",
    "thinking of ending it all",
])
def test_guidance_comes_first_whatever_the_model_says(user):
    t = triage(user)
    out = finalize_reply(user, "It's probably nothing, just rest. Hope this helps!")
    assert out.startswith(t.guidance)
    assert out.index(t.guidance) < out.index("It's probably nothing") < out.index(DISCLAIMER)
    assert out.count(t.guidance) == 1


def test_urgent_note_first():
    user = "there's blood in my pee since this morning"
    out = finalize_reply(user, "It could be an infection.")
    assert triage(user).level == "urgent" and out.startswith(safety.URGENT_GUIDANCE)


def test_doctor_claims_and_signatures_removed_with_their_whole_sentence():
    out = finalize_reply("I have a headache", "As a doctor, I recommend rest and fluids. Sleep helps too.\n\n"
                                              "Regards, Dr. Smith")
    assert out == "Sleep helps too.\n\n" + DISCLAIMER  # no "I recommend rest and fluids." left of the claim
    out = finalize_reply("I have a headache", "I am a doctor and you should drink water. A cool cloth helps. "
                                              "Best wishes, Dr. Jane Doe, MD")
    assert out == "A cool cloth helps.\n\n" + DISCLAIMER


def test_streamed_prefixes_keep_the_layout():
    user = "my dad's face is drooping and he can't talk properly"
    t = triage(user)
    full = ("<|start_header_id|>assistant<|end_header_id|>\n\nThis needs an ambulance now. Keep him still.\n"
            "- note the time\n- stay with him<|eot_id|>")
    for i in range(len(full) + 1):
        out = finalize_reply(user, full[:i], t)
        assert out.startswith(t.guidance) and out.endswith(DISCLAIMER) and out.count(DISCLAIMER) == 1, full[:i]
        assert "<|" not in out
    assert "- note the time\n- stay with him" in out  # the model's list survives


def test_finalize_without_triage_result_triages_itself():
    user = "cant breathe lips going blue"
    assert finalize_reply(user, "ok") == finalize_reply(user, "ok", triage(user))


# -----------------------------------------------------------------------------------------------
# clean_model_output


@pytest.mark.parametrize("raw, clean", [
    ("<|start_header_id|>assistant<|end_header_id|>\n\nRest well.<|eot_id|>", "Rest well."),
    ("<|im_start|>assistant\nRest well.<|im_end|>\n<|im_start|>user\nthanks", "Rest well."),
    ("Rest well.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nthanks", "Rest well."),
    ("assistant: Rest well.", "Rest well."),
    ("assistant\n\nRest well.", "Rest well."),
    ("### Doctor: Rest well.\n### Patient: thanks", "Rest well."),
    ("Rest well.\nuser\nand my cough?", "Rest well."),
    ("Rest well.\nPatient: and my cough?", "Rest well."),
    ("Rest well.<|reserved_special_token_3|> Sleep.", "Rest well. Sleep."),
    ("Rest well.<|eo", "Rest well."),  # token cut in half by streaming
    ("Users often ask this. User reviews vary.", "Users often ask this. User reviews vary."),
])
def test_clean_model_output(raw, clean):
    assert clean_model_output(raw) == clean


def test_clean_model_output_tokenizer_special_tokens():
    assert clean_model_output("<s>Rest.</s> junk", ["<s>", "</s>"]) == "Rest."
    assert clean_model_output("Rest.<end_of_turn>\n<start_of_turn>user\nhi", ["<end_of_turn>", "<start_of_turn>"]) == "Rest."


# -----------------------------------------------------------------------------------------------
# validate_user_message


@pytest.mark.parametrize("bad", ["", "   \n\t ", None])
def test_empty_messages_rejected(bad):
    with pytest.raises(InputError, match="empty"):
        validate_user_message(bad)


def test_too_long_names_cap_and_length():
    with pytest.raises(InputError) as err:
        validate_user_message("a" * 4100)
    assert "4000" in str(err.value) and "4100" in str(err.value)
    with pytest.raises(InputError) as err:
        validate_user_message("a" * 51, max_chars=50)
    assert "50" in str(err.value) and "51" in str(err.value)
    assert validate_user_message("a" * 50, max_chars=50) == "a" * 50
    assert isinstance(err.value, ValueError)


def test_control_characters():
    assert validate_user_message("chest\x00 pain\x07\x1b[31m\r\nline two\tok") == "chest pain[31m\nline two\tok"
    with pytest.raises(InputError, match="control characters"):
        validate_user_message("\x00\x01\x02")
    html = "<b>my head</b> hurts <script>x</script>"
    assert validate_user_message(f"  {html}  ") == html  # HTML is the UI's business


def test_live_replies_never_carry_a_specific_dose_and_say_whom_to_ask():
    from medchat.dosing import ASK_FOR_DOSE
    from medchat.safety.saved_replies import strip_app_additions

    model_text = ("This sounds like a fungal skin infection.\n\nTake tab fluconazole 150 mg once a week for 3 weeks. "
                  "Keep the area dry.")
    final = finalize_reply("itchy ring-shaped rash on my thigh", model_text)
    assert "fluconazole 150 mg" not in final
    assert "Keep the area dry." in final and "fungal skin infection" in final
    assert final.count(ASK_FOR_DOSE) == 1 and final.index(ASK_FOR_DOSE) < final.index(DISCLAIMER)
    # the note is ours, not the model's: it never goes back into the history
    assert ASK_FOR_DOSE not in strip_app_additions(final)
    # no dose named, no note
    assert ASK_FOR_DOSE not in finalize_reply("rash", "An antifungal cream from the pharmacy usually helps.")


def test_a_pet_that_cannot_breathe_is_not_a_human_emergency():
    # round 11: the combiner raised it (p 0.95) until the rules' framing bounded its raises (engine.RAISE_FRAMING)
    assert triage("my dog is choking on a bone and can't breathe").level not in FLAGGED


def test_animal_guard_discounts_only_what_the_animal_has():
    """The pet guard drops a symptom only when the animal is its subject: the nearest subject before it."""
    # the dog is mentioned, but the child is the one who won't wake (carbon monoxide at home)
    t = triage("we all have headaches and feel sick, the dog is acting weird too and my youngest won't wake up properly")
    assert t.level == "emergency", t
    # the person bitten is the patient: their spreading redness counts
    assert triage("cat bit my hand 2 days ago and now the redness is spreading up my arm").level == "urgent"
    # "hot dog" is food, not an animal
    assert triage("my son was eating a hot dog and now can't cough or make a sound").level == "emergency"


def test_new_clusters():
    # two stroke signs in lay words, buried in a long message: emergency, not just urgent
    t = triage("long story, but mum said the vision went weird in one eye and now she keeps saying the wrong word, "
               "and her left hand keeps dropping stuff. also any cake ideas?")
    assert t.level == "emergency" and "stroke" in t.reason, t
    assert triage("gave birth 5 days ago, soaking a pad every 20 minutes with big clots, feel dizzy").level == "emergency"
    assert triage("had my baby 10 days ago, is it normal to still have light bleeding and small clots?").level == "routine"
    assert triage("everyone at home has a headache and feels dizzy and sick since we lit the gas fire").level == "emergency"
    assert triage("how often should a gas heater be serviced?").level == "routine"
    assert triage("fell off my bike, my wrist is swollen and I can't move it, maybe broken?").level == "urgent"
    assert triage("my toddler has diarrhoea and vomiting and fewer wet nappies").level == "urgent"
    assert triage("my son has ear pain and pus coming out of his ear, fever 38.6").level == "urgent"


def test_hyperbole_and_preparation_guards_are_narrow():
    # laughter + an everyday cause is hyperbole; laughter alone, or "not joking", is not
    assert triage("my printer ate my essay, i want to die haha").level == "routine"
    assert triage("i want to die lol").level == "crisis"
    assert triage("lol my laptop died, but not joking i really want to die").level == "crisis"
    # "what should I do if..." is preparation only when the message looks ahead
    assert triage("what should i do if a kid starts choking? starting a first aid course next week").level == "routine"
    assert triage("what should i do if my son is choking").level == "emergency"


@pytest.mark.parametrize("user_text", ["my dad's face is drooping and he can't talk properly",
                                       "I don't want to be here anymore", "fever of 39.5 for four days now"])
def test_code_added_text_comes_out_again_without_re_triaging(user_text):
    """History and re-finalized samples must get back the model's own words, even when the triage that added the
    guidance is not re-run (saved samples, or rules changed since)."""
    from medchat.safety.saved_replies import strip_app_additions

    final = finalize_reply(user_text, "Here is what the model said.")
    assert final != "Here is what the model said."
    assert final.startswith(triage(user_text).guidance.strip())  # the guidance really was added (not just the disclaimer)
    assert strip_app_additions(final) == "Here is what the model said."
