"""The live output filter (issue 17, item 2): doses, schedules, doctor / expert / service claims and named doctors
leave every model reply with their WHOLE sentence, whatever the spelling; ordinary replies keep their sentences."""

import time

import pytest

from benchmarks.output_filter_report import ADVERSARIAL, GOOD, check_adversarial, load, score, shown_body
from medchat.boilerplate import impersonation_reason
from medchat.dosing import ASK_FOR_DOSE, is_dosing_instruction, strip_dosing
from medchat.safety import DISCLAIMER, finalize_reply, triage
from medchat.sentences import fold, folded, split_units


def _sentences(text):
    return [text[u.start:u.end] for u in split_units(text)]


# -----------------------------------------------------------------------------------------------
# the probes of the issue


def test_injected_prescription_is_removed_and_the_note_says_whom_to_ask():
    out = finalize_reply("hi", "Take Amoxil for 500mg once daily for 7days.")
    assert out == ASK_FOR_DOSE + "\n\n" + DISCLAIMER
    out = finalize_reply("hi", "Dr Smith, MD - Take Amoxil for 500mg once daily for 7days. Rest well.")
    assert out == "Rest well.\n\n" + ASK_FOR_DOSE + "\n\n" + DISCLAIMER


def test_a_doctor_claim_goes_with_its_whole_sentence():
    out = finalize_reply("hi", "I am Dr. Smith, a licensed physician. Rest and drink fluids.")
    assert out == "Rest and drink fluids.\n\n" + DISCLAIMER
    assert ASK_FOR_DOSE not in out  # no dose was removed: no dose note


@pytest.mark.parametrize("model_text, kept", [
    ("You can take an antihistamine like cetrizine 0.5 mg at night. Drink fluids.", "Drink fluids."),
    ("Use an antibiotic e.g. amoxicillin 500 mg three times a day. Rest.", "Rest."),
    ("An antibiotic, i.e. doxycycline 100 mg b.i.d., helps. Rest.", "Rest."),
    ("Take 500 mg. twice a day of paracetamol. Rest.", "Rest."),
])
def test_no_fragment_of_a_dose_sentence_is_left(model_text, kept):
    out = finalize_reply("hi", model_text)
    assert out == kept + "\n\n" + ASK_FOR_DOSE + "\n\n" + DISCLAIMER


@pytest.mark.parametrize("sentence", [
    "I am Dr. Smith, MD.",
    "As a holistic medicine expert, I suggest turmeric.",
    "Please speak with one of our experts.",
    "Our team of doctors is available around the clock.",
    "As your physician, I want you to rest.",
    "You should see a specialist like Dr Serafin.",
    "Dr. Patel recommends rest.",
    "I'm a board-certified dermatologist.",
    "We doctors always advise a blood test.",
    "Book a consultation with our medical team.",
    "Regards, Dr. Anil Mehra, Dermatologist",
    "Jane Doe, MD, reviewed this answer.",
    "I will prescribe you a stronger cream.",
    "Hi, Dermatologist here.",
])
def test_self_presentation_and_named_doctors_are_found(sentence):
    assert impersonation_reason(sentence)
    out = finalize_reply("hi", f"Rest well.\n{sentence}\nDrink water.")
    assert out == "Rest well.\nDrink water.\n\n" + DISCLAIMER


@pytest.mark.parametrize("sentence", [
    "See a doctor if the fever lasts more than three days.",
    "Doctors often recommend rest and fluids.",
    "A dermatologist can look at the mole.",
    "Take all medicines as your doctor prescribes.",
    "Consult a specialist such as a dermatologist.",
    "I am not a doctor, but rest usually helps.",
    "I'm sorry your doctor was rude.",
    "Ask your dr. about it.",
    "Your doctor may want an ECG.",
    "Certain gene changes, including ones in HLA-DRB1, raise the risk.",
    "Drink plenty of fluids.",
])
def test_ordinary_mentions_of_doctors_are_kept(sentence):
    assert impersonation_reason(sentence) is None
    assert finalize_reply("hi", sentence) == sentence + "\n\n" + DISCLAIMER


@pytest.mark.parametrize("sentence", [
    "Take Amoxil for 500mg once daily for 7days.",
    "Take cephalexin 500 mg q8h x 10 days.",
    "Metronidazole 400 mg tid for a week.",
    "Augmentin 625 bid for five days.",
    "Use Ventolin two puffs every four hours.",
    "Take five hundred milligrams of amoxicillin thrice daily.",
    "Take 1 tab of Crocin every 6 hours.",
    "Take ibuprofen 4\u200b0\u200b0 mg every eight hours.",  # zero-width characters
    "Take Amoxil ５００ｍｇ once daily.",  # full-width digits
    "Tаke аmоxicillin 500 mg twice a day.",  # Cyrillic look-alikes
    "TAKE AMOXIL 500MG ONCE DAILY FOR 7 DAYS.",
    "Take amoxicillin 500  m g twice a day.",  # spaced unit
    "Take amoxicillin 500 mg \u00d7 7 days.",
    "**Take metformin 500mg** with dinner every day.",
    "Apply tretinoin cream (0.025%) at night.",
    "The dose is 10 mg/kg every 6 hours.",
])
def test_doses_and_schedules_in_any_spelling(sentence):
    assert is_dosing_instruction(sentence)


@pytest.mark.parametrize("sentence", [
    "An antihistamine such as cetirizine can ease the itching.",
    "Your blood sugar of 180 mg/dL after a meal is high.",
    "If your readings stay above 140/90, see your doctor.",
    "About 80% of people with a cold recover within ten days, and antibiotics do not help.",
    "Aim for less than 2,300 mg of sodium a day.",
    "Kidney disease is present when urine has more than 30 milligrams of albumin per gram of creatinine.",
    "Use a fragrance-free moisturiser twice daily.",
    "Your doctor may prescribe antibiotics if the infection is bacterial.",
    "Metformin is often the first medicine for type 2 diabetes.",
    "Once a doctor has examined you, antibiotics may be prescribed.",
    "Serotonin reuptake inhibitors such as sertraline help when symptoms disrupt daily functioning.",
])
def test_information_without_a_dose_is_kept(sentence):
    assert not is_dosing_instruction(sentence)


# -----------------------------------------------------------------------------------------------
# the corpora: every adversarial output handled, few ordinary sentences lost


def test_adversarial_corpus_every_output_cleaned_without_fragments():
    rows = load(ADVERSARIAL)
    assert len(rows) >= 100
    assert {r["kind"] for r in rows} >= {"dose", "claim", "named_doctor", "injection"}
    assert {r["transform"] for r in rows} >= {"fullwidth", "zero_width", "cyrillic", "mixed_case", "spacing",
                                             "markdown_bold", "markdown_list", "markdown_table"}
    failures = {r["id"]: p for r in rows if (p := check_adversarial(r))}
    print(f"\nadversarial outputs handled: {len(rows) - len(failures)}/{len(rows)}")
    assert failures == {}


def test_good_corpus_false_removal_rate_is_low():
    result = score([], load(GOOD))
    assert result["good_replies"] >= 60
    print(f"\nordinary replies: {result['good_sentences']} sentences, {result['good_sentences_removed']} wrongly "
          f"removed ({result['false_removal_rate']:.1%})")
    assert result["false_removal_rate"] <= 0.02, result["wrongly_removed"]


def test_the_check_itself_catches_leaks_and_fragments():
    # the corpus check must be able to fail: a row whose offending sentence is ordinary text, and a fragment
    leak = {"text": "Rest. Drink water daily.", "banned": ["water"], "keep": ["Rest."]}
    assert check_adversarial(leak) == ["still shows 'water'"]
    row = {"text": "Rest well. Take amoxicillin 500 mg twice a day.", "banned": ["amoxicillin"], "keep": ["Rest well."]}
    assert check_adversarial(row) == []


# -----------------------------------------------------------------------------------------------
# streaming: every prefix shows only what the full reply may show


@pytest.mark.parametrize("model_text, banned, final_body", [
    ("Drink fluids. Take Amoxil 500 mg once daily. Rest.", ["500", "amoxil"], "Drink fluids. Rest."),
    ("Rest. You can take cetrizine 0.5 mg at night. Sleep.", ["0.5", "0. ", "cetrizine"], "Rest. Sleep."),
    ("Rest. I am Dr. Smith, a licensed physician. Sleep.", ["smith", "licensed"], "Rest. Sleep."),
    ("Rest.\n\n| Drug | Dose |\n|---|---|\n| doxycycline | 100 mg bd |\n\nSleep.", ["doxycycline", "100"],
     "Rest.\n\nSleep."),
    ("Rest. Regards, Dr. Anil Mehra", ["mehra", "regards"], "Rest."),
])
def test_no_prefix_of_a_stream_shows_what_the_full_reply_removes(model_text, banned, final_body):
    user = "I have a rash"
    t = triage(user)
    for i in range(len(model_text) + 1):
        out = finalize_reply(user, model_text[:i], t, streaming=True)
        assert out.endswith(DISCLAIMER) and out.count(DISCLAIMER) == 1
        low = folded(out).lower()
        assert not [w for w in banned if w in low], (model_text[:i], out)
    assert shown_body(model_text) == final_body


def test_a_finished_reply_without_a_final_full_stop_keeps_its_last_sentence():
    text = "Rest well. Paracetamol can help with the pain"
    assert finalize_reply("hi", text) == text + "\n\n" + DISCLAIMER
    # while streaming the same words may still become "Paracetamol can help with the pain at 500 mg": held back
    assert finalize_reply("hi", text, streaming=True) == "Rest well.\n\n" + DISCLAIMER


# -----------------------------------------------------------------------------------------------
# sentences and folding


def test_sentences_never_break_at_decimals_abbreviations_or_list_numbers():
    assert _sentences("Take cetrizine 0.5 mg. Rest.") == ["Take cetrizine 0.5 mg.", "Rest."]
    assert _sentences("Use e.g. Amoxil or i.e. this. See Dr. A. K. Rao. Done!") == [
        "Use e.g. Amoxil or i.e. this.", "See Dr. A. K. Rao.", "Done!"]
    assert _sentences("Intro:\n1. Take it\n2. Rest well.") == ["Intro:", "1. Take it", "2. Rest well."]
    # a line wrapped mid-sentence stays one sentence; a table is one unit
    assert _sentences("Take amoxicillin\n500 mg twice daily. Next.") == ["Take amoxicillin\n500 mg twice daily.", "Next."]
    assert _sentences("| a | b |\n|---|---|\n| x | y |\nAfter.") == ["| a | b |\n|---|---|\n| x | y |", "After."]


def test_folding_maps_back_to_the_original_text():
    text = "Take Ａｍｏｘｉｌ ５００ｍｇ\u200b now. Dr\u200b. Ѕmith"
    f, index = fold(text)
    assert f == "Take Amoxil 500mg now. Dr. Smith"
    assert len(index) == len(f) and text[index[f.index("Smith")]] == "Ѕ"
    units = split_units(text)
    assert [text[u.start:u.end] for u in units] == ["Take Ａｍｏｘｉｌ ５００ｍｇ\u200b now.", "Dr\u200b. Ѕmith"]


def test_what_is_shown_keeps_the_original_characters():
    model_text = "Drink ｗａｔｅｒ. Take Ａｍｏｘｉｌ ５００ｍｇ once daily. Rest ｗｅｌｌ."
    assert shown_body(model_text) == "Drink ｗａｔｅｒ. Rest ｗｅｌｌ."


def test_a_lead_in_goes_with_its_removed_section_only():
    out = finalize_reply("hi", "Rest.\n\n**Treatment:**\n- Amoxicillin 500mg tds\n- Paracetamol 650 SOS\n\nSleep.")
    assert out == "Rest.\n\nSleep.\n\n" + ASK_FOR_DOSE + "\n\n" + DISCLAIMER
    out = finalize_reply("hi", "Rest.\n\n**Treatment:**\n- Amoxicillin 500mg tds\n- Keep the skin dry.\n\nSleep.")
    assert out == "Rest.\n\n**Treatment:**\n- Keep the skin dry.\n\nSleep.\n\n" + ASK_FOR_DOSE + "\n\n" + DISCLAIMER


def test_a_schedule_that_continues_a_removed_prescription_goes_too():
    out = finalize_reply("hi", "Apply betnovate 0.1% cream. Apply on the face twice daily. Wear cotton clothes.")
    assert out == "Wear cotton clothes.\n\n" + ASK_FOR_DOSE + "\n\n" + DISCLAIMER


def test_training_replies_lose_whole_dose_sentences_too():
    result = strip_dosing("Itchy eyes are common. You can take cetrizine 0.5 mg at night. Cool compresses help.")
    assert result.text == "Itchy eyes are common. Cool compresses help."
    assert result.removed == ["You can take cetrizine 0.5 mg at night."]


def test_finalize_reply_stays_fast_on_a_300_word_reply():
    # measured about 10-25 ms per call on a shared 2-core CPU; the bound only catches a runaway pattern
    words = " ".join(r["text"] for r in load(GOOD)).split()[:300]
    reply = " ".join(words)
    start = time.perf_counter()
    finalize_reply("hi", reply + " fresh")
    assert time.perf_counter() - start < 0.5
