"""Dose and schedule instructions are removed (training data and live replies); information is kept."""

import pytest

from medchat.dosing import is_dosing_instruction, strip_dosing


@pytest.mark.parametrize("sentence", [
    "You can take tab fluconazole 150 mg once a week for 3 weeks.",
    "Apply tretinoin 0.025% cream at night.",
    "Take levocetirizine three times a day.",
    "Ibuprofen is an oral steroid; take it daily for 4 weeks.",
    "Paracetamol 500 mg every 6 hours can help with the pain.",
    "Start applying minoxidil 2 per cent lotion on the scalp twice daily.",
    "Arogyavardhini vati 1-1-1 tab thrice.",
    "Give him 2 tablets of the antibiotic at night.",
])
def test_prescriptions_with_a_dose_or_schedule_are_found(sentence):
    assert is_dosing_instruction(sentence)


@pytest.mark.parametrize("sentence", [
    "An antihistamine can help with the itching.",
    "Drink 2 litres of water a day.",
    "Walk 30 minutes a day, five days a week.",
    "Use a fragrance-free moisturiser twice daily.",
    "See a doctor if the fever lasts more than three days.",
    "You may need an antibiotic course; please see your doctor.",
    "Visit a dermatologist once and get it examined.",
    "Your vitamin D level of 15 ng/ml is low.",
])
def test_information_and_non_medicine_routines_are_kept(sentence):
    assert not is_dosing_instruction(sentence)


def test_strip_keeps_the_rest_of_the_reply_verbatim():
    reply = ("This looks like a fungal infection of the skin. Take tab fluconazole 150 mg once a week for 3 weeks.\n"
             "Keep the area dry and see a dermatologist if it spreads.")
    result = strip_dosing(reply)
    assert result.removed == ["Take tab fluconazole 150 mg once a week for 3 weeks."]
    assert result.text == ("This looks like a fungal infection of the skin.\n"
                           "Keep the area dry and see a dermatologist if it spreads.")
    assert strip_dosing(result.text).removed == []  # idempotent


def test_data_recipe_strips_dosing_and_counts_it(tmp_path):
    import json

    from medchat.data import DataRecipe, build_splits

    rows = [{"Patient": f"I have an itchy red rash on my arm number {i}, what can I do about it?",
             "Doctor": "This sounds like a fungal skin infection that is common in hot weather. "
                       "Apply clotrimazole 1% cream twice daily for two weeks. "
                       "Keep the skin dry, wear loose cotton clothes and see a doctor if it spreads or does not improve."}
            for i in range(6)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    splits = build_splits(str(path), DataRecipe(dataset=str(path), eval_fraction=0.0, min_reply_words=5), log=lambda *a: None)
    assert splits.report["dosing_sentences_removed"] == 6
    reply = splits.train[0]["messages"][-1]["content"]
    assert "clotrimazole" not in reply and "Keep the skin dry" in reply
    kept = build_splits(str(path), DataRecipe(dataset=str(path), eval_fraction=0.0, min_reply_words=5,
                                              strip_dosing=False), log=lambda *a: None)
    assert "clotrimazole 1% cream" in kept.train[0]["messages"][-1]["content"]
