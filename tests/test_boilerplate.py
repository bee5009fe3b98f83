"""Rules of medchat.boilerplate on real-looking consultation replies (written for these tests)."""

import re

import pytest

from medchat import boilerplate as bp
from medchat.boilerplate import (
    RULES,
    CleanResult,
    boilerplate_findings,
    impersonation_findings,
    normalize_spacing,
    strip_boilerplate,
)

HCM_REPLY = (
    "Hi, Welcome to HealthcareMagic. I have gone through your query and the rash on both forearms after a new "
    "washing powder is most likely allergic contact dermatitis. Apply hydrocortisone 1% cream twice daily for a "
    "week and take cetirizine 10 mg at night. If the rash spreads or blisters, see a dermatologist. Hope I have "
    "answered your query. Let me know if I can assist you further. Regards, Dr. Anil Mehra, Dermatologist"
)


def _assert_kept(text: str, *phrases: str) -> None:
    for p in phrases:
        assert p in text, f"medical content lost: {p!r} not in {text!r}"


def test_full_reply_cleaned_and_content_kept():
    res = strip_boilerplate(HCM_REPLY)
    assert isinstance(res, CleanResult)
    assert res.text.startswith("The rash on both forearms")
    _assert_kept(res.text, "allergic contact dermatitis", "hydrocortisone 1% cream twice daily", "cetirizine 10 mg",
                 "If the rash spreads or blisters, see a dermatologist.")
    assert res.text.endswith("see a dermatologist.")
    for gone in ("Welcome", "HealthcareMagic", "gone through", "Hope I have", "Let me know", "Regards", "Mehra"):
        assert gone not in res.text
    assert set(res.rules) >= {"greeting", "site_welcome", "query_review", "closer", "signature", "signoff"}
    assert res.rules == [r for r in RULES if r in res.rules]  # documented order
    assert impersonation_findings(res.text) == []
    assert boilerplate_findings(res.text) == []


@pytest.mark.parametrize(
    "text, rule, kept",
    [
        ("Hello,Thank you for posting on HCM.It seems you have seborrheic dermatitis of the scalp.", "thanks_opener",
         "It seems you have seborrheic dermatitis of the scalp."),
        ("HIWell come to HCMI really appreciate your concern, this looks like a fungal infection.", "site_welcome",
         "I really appreciate your concern, this looks like a fungal infection."),
        ("Hello and welcome to healthcaremagicDry scaly skin on the feet suggests tinea pedis.", "site_welcome",
         "Dry scaly skin on the feet suggests tinea pedis."),
        ("Hi there, welcome to Chat Doctor. Your symptoms suggest a viral fever; rest and drink fluids.",
         "site_welcome", "Your symptoms suggest a viral fever; rest and drink fluids."),
        ("Hello and Welcome to 'Ask A Doctor' service. I have reviewed your query and here is my advice. "
         "Apply a lip balm with sunscreen.", "query_review", "Apply a lip balm with sunscreen."),
        ("Hi, Thanks for writing to us. A mild cough after a cold can last three weeks.", "thanks_opener",
         "A mild cough after a cold can last three weeks."),
        ("Hi, I have gone through your query and hair loss is due to the medicines you are taking.", "query_review",
         "Hair loss is due to the medicines you are taking."),
        ("Hi Simran, your acne can be treated with benzoyl peroxide gel at night.", "greeting",
         "Your acne can be treated with benzoyl peroxide gel at night."),
    ],
)
def test_openers(text, rule, kept):
    res = strip_boilerplate(text)
    assert rule in res.rules
    assert res.text == kept


@pytest.mark.parametrize(
    "text, rule, kept",
    [
        ("Drink two litres of water a day. Hope this helps. Take care.", "closer", "Drink two litres of water a day."),
        ("Use a moisturiser after bathing. Hope your concern has been resolved.Best Wishes,Dr. Karan Verma",
         "signature", "Use a moisturiser after bathing."),
        ("Avoid spicy food, drink more water, hope this information helps, take care and have a nice day.",
         "signoff", "Avoid spicy food, drink more water."),
        ("Continue the cream for two weeks. Feel free to ask me again if anything is unclear.", "closer",
         "Continue the cream for two weeks."),
        ("Take the tablet after food.Thanks.Dr. Ilyas Patel MD", "signature", "Take the tablet after food."),
        ("Apply the cream twice daily. Regards, Sanjay Kumar Kanodia MD (Dermatology & STDs)", "signature",
         "Apply the cream twice daily."),
        ("You can try minoxidil 5% lotion. Wishing you good health.", "signoff", "You can try minoxidil 5% lotion."),
        ("Wash your face twice a day. Ok and bye.", "signoff", "Wash your face twice a day."),
        ("Keep the area dry and consult your dermatologist if it persists take care", "signoff",
         "Keep the area dry and consult your dermatologist if it persists"),
    ],
)
def test_closers_signoffs_signatures(text, rule, kept):
    res = strip_boilerplate(text)
    assert rule in res.rules, res
    assert res.text == kept


def test_links_emails_phones_and_ads():
    text = (
        "This looks like pityriasis versicolor. Apply ketoconazole cream for two weeks. For more info mail us at "
        "info@skinclinic-example.com or visit us at www.skinclinic-example.com. You can reach me directly through "
        "the link below. Call me on 98765 43210."
    )
    res = strip_boilerplate(text)
    assert {"link", "contact_ad"} <= set(res.rules)
    assert res.text == "This looks like pityriasis versicolor. Apply ketoconazole cream for two weeks."


def test_contact_ad_keeps_advice_in_same_sentence():
    text = ("Please consult your dermatologist or you may also use premium features of this website for a more "
            "detailed discussion.")
    res = strip_boilerplate(text)
    assert res.text == "Please consult your dermatologist."
    assert "contact_ad" in res.rules


def test_revert_back_only_when_asking_to_come_back():
    # "revert back" as medical prose stays; "please revert back" (come back to me) goes
    assert strip_boilerplate("The skin colour will revert back on its own in a few weeks.").rules == []
    res = strip_boilerplate("Get an HbA1c test. Please revert back with your reports.")
    assert res.text == "Get an HbA1c test."


def test_doctor_claims_cut_but_sentence_kept():
    res = strip_boilerplate("As a doctor, I would suggest you take paracetamol 500 mg. I am Dr. John Rao. "
                            "I'm a dermatologist and this looks like eczema.")
    assert "doctor_claim" in res.rules
    assert res.text == "I would suggest you take paracetamol 500 mg. This looks like eczema."
    res = strip_boilerplate("I usually ask my patients to use a moisturiser after every hand wash.")
    assert res.text == "I usually ask patients to use a moisturiser after every hand wash."
    assert impersonation_findings(res.text) == []


def test_site_mention_mid_text():
    res = strip_boilerplate("Thank you for choosing HealthcareMagic. Iron tablets should be taken with orange juice.")
    assert res.text == "Iron tablets should be taken with orange juice."
    assert "healthcaremagic" not in res.text.lower()


def test_content_that_looks_like_boilerplate_is_kept():
    texts = [
        "Take care to avoid sunburn by applying sunscreen every two hours.",
        "I hope the cream helps your skin heal, but see a doctor if the rash spreads.",
        "HCM (hypertrophic cardiomyopathy) is inherited. Mutations lead to HCM. Patients with HCM should avoid "
        "heavy exertion.",
        "Consult a specialist such as a dermatologist. Take all medicines as your doctor prescribes.",
        "Hello, There are many causes of hair loss, including thyroid disease and iron deficiency.",
        "HIV is treated with antiretroviral therapy taken every day.",
        "Your doctor may prescribe antibiotics.",
    ]
    for t in texts:
        res = strip_boilerplate(t)
        body = t.split("Hello, ")[-1]
        assert body.rstrip(".") in res.text or res.text == body, (t, res)
        assert impersonation_findings(t) == [], t


def test_idempotent_and_empty():
    once = strip_boilerplate(HCM_REPLY).text
    assert strip_boilerplate(once).text == once
    assert strip_boilerplate(once).rules == []
    assert strip_boilerplate("") == CleanResult("", [])
    assert strip_boilerplate("Hope this helps. Regards, Dr. X").text == ""


def test_paragraphs_and_lists_survive():
    text = "Hello,\nThe likely causes are:\n- dehydration\n- low iron\n\nDrink more water and get a blood test.\nTake care"
    res = strip_boilerplate(text)
    assert res.text == "The likely causes are:\n- dehydration\n- low iron\n\nDrink more water and get a blood test."


def test_normalize_spacing_unglues_without_removing():
    assert normalize_spacing("posting on HCM.It seems") == "posting on HCM. It seems"
    assert normalize_spacing("Hi,Thanks") == "Hi, Thanks"
    assert normalize_spacing("wash .Take care") == "wash. Take care"
    assert normalize_spacing("Thank youDr Hardik") == "Thank you Dr Hardik"
    assert normalize_spacing("try iCliniq") == "try iCliniq"  # short lowercase run: brand kept


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Welcome to HealthcareMagic. Rest well.", "site"),
        ("You can follow up on icliniq.com.", "site"),
        ("Thanks for posting on HCM, rest well.", "site"),
        ("Visit practo for an appointment.", "site"),
        ("Rest well. Regards, Dr. Smith", "signs"),
        ("Dr. Smith recommends rest.", "names a doctor"),
        ("I am a qualified dermatologist and this is eczema.", "claims"),
        ("As a doctor, I advise rest.", "claims"),
        ("In my clinic we see this often.", "claims"),
    ],
)
def test_impersonation_findings_positive(text, reason):
    findings = impersonation_findings(text)
    assert findings and any(reason in f for f in findings), findings


@pytest.mark.parametrize(
    "text",
    [
        "See a doctor if the fever lasts more than three days.",
        "Your doctor may want an ECG. The doctor will examine your abdomen.",
        "DRPLA is a rare inherited brain disorder.",
        "Patients with HCM should see a cardiologist.",
        "Ask your dr. about it.",
    ],
)
def test_impersonation_findings_negative(text):
    assert impersonation_findings(text) == []


def test_boilerplate_findings_ignores_plain_greeting():
    assert boilerplate_findings("Hello! A sprained ankle heals in two to six weeks.") == []
    assert "closer" in boilerplate_findings("A sprain heals in weeks. Hope I have answered your query.")
    assert "link" in boilerplate_findings("Read more at https://example.org/sprain.")
    assert "site_welcome" in boilerplate_findings("Welcome to Chat Doctor. Rest the ankle.")


def test_public_patterns_are_compiled_and_reusable():
    assert isinstance(bp.SITE_NAME_RE, re.Pattern) and bp.SITE_NAME_RE.search("go to healthcare magic")
    assert isinstance(bp.LINK_RE, re.Pattern) and bp.LINK_RE.search("mail me at a.b@example.com")
    assert bp.BOILERPLATE_CLAUSE_RE.match("Hope this helps, take care")
    assert not bp.BOILERPLATE_CLAUSE_RE.match("Hope the ointment helps")
    assert bp.DOCTOR_CLAIM_RE.search("I'm a doctor")
    assert set(bp.FINDING_RULES) == set(RULES) - {"greeting"}


def test_glued_and_run_on_replies():
    # lowercase sentences glued together, closer + sign-off at the end
    res = strip_boilerplate("Wear cotton clothes first then woollen ones.hope this will help you.thanks")
    assert res.text == "Wear cotton clothes first then woollen ones."
    # a run-on clause keeps the diagnosis before "it would help if u could send the pictures at <email>"
    res = strip_boilerplate("it could probably be a fungal infection called pityriasis versicolor it would help if u "
                            "could send in the pictures at dr.someone@example.com")
    assert res.text == "It could probably be a fungal infection called pityriasis versicolor"
    assert {"link", "contact_ad"} <= set(res.rules)
    # the rest of a contact sentence goes with it; a lone connective does not stay behind
    res = strip_boilerplate("Fungal infection seems likely. Therefore, I insist you to post good clinical pictures "
                            "to me so that I can help you in a better way.")
    assert res.text == "Fungal infection seems likely."
    # unpunctuated sign-offs glued to the end
    assert strip_boilerplate("Wash off after ten minutes--regards").text == "Wash off after ten minutes"
    assert strip_boilerplate("Apply it twice daily thanks for trusting health care magic regards bye").text == (
        "Apply it twice daily"
    )


def test_greeting_with_name_before_site_welcome():
    res = strip_boilerplate("hello khusbu, welcome to HCM -you can use a good moisturizing gel.")
    assert res.text == "You can use a good moisturizing gel."
    res = strip_boilerplate("Hi...Sunil..., thanks and welcome to HCM.., Bleeding per anus suggests piles.")
    assert res.text == "Bleeding per anus suggests piles."


def test_query_review_keeps_the_subject():
    res = strip_boilerplate("Hello, I have gone through your query and would recommend you to take biotin daily.")
    assert res.text == "I would recommend you to take biotin daily."
    res = strip_boilerplate("If I was the treating doctor I would have asked you to use ketoconazole shampoo.")
    assert res.text == "I would have asked you to use ketoconazole shampoo."
    assert impersonation_findings(res.text) == []
