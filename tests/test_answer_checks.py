"""medchat.answer_checks: each check on small answers. medchat.safety belongs to another module, so most tests
install a small stand-in with the same interface (DISCLAIMER, triage(text) -> object with .level/.guidance)."""

import math
import sys
import types

import pytest

from medchat.answer_checks import check_answer, looks_truncated, repetition_findings, summarize_checks

DISCLAIMER = "medchat is not a doctor. For emergencies call your local emergency number."
GUIDANCE = "This may be an emergency: call emergency services (911/112) now."


@pytest.fixture
def fake_safety(monkeypatch):
    mod = types.ModuleType("medchat.safety")
    mod.DISCLAIMER = DISCLAIMER

    def triage(text):
        level = "emergency" if "chest pain" in text.lower() else "routine"
        return types.SimpleNamespace(level=level, guidance=GUIDANCE if level == "emergency" else "")

    mod.triage = triage
    monkeypatch.setitem(sys.modules, "medchat.safety", mod)
    import medchat

    monkeypatch.setattr(medchat, "safety", mod, raising=False)
    return mod


GOOD = ("A sprained ankle usually heals in two to six weeks. Rest it, use ice for 20 minutes a few times a day and "
        "keep it raised. See a doctor if you cannot put weight on it.")


def test_clean_answer_passes(fake_safety):
    final = GOOD + "\n\n" + DISCLAIMER
    c = check_answer("I twisted my ankle playing football.", GOOD, final)
    assert c["impersonation"] is False
    assert c["boilerplate"] is False
    assert c["repetition"] is False
    assert c["truncated"] is False
    assert c["disclaimer"] is True
    assert c["emergency_guidance_needed"] is False
    assert c["emergency_guidance_present"] is True
    assert c["findings"] == []


def test_impersonation_and_boilerplate(fake_safety):
    reply = "Hi, welcome to HealthcareMagic. " + GOOD + " Hope this helps. Regards, Dr. Anil Mehra"
    c = check_answer("ankle", reply, reply + DISCLAIMER)
    assert c["impersonation"] and c["boilerplate"]
    assert any("consultation site" in f for f in c["findings"])
    assert any("boilerplate" in f for f in c["findings"])


def test_claim_to_be_doctor_is_impersonation(fake_safety):
    assert check_answer("ankle", "As a doctor, I advise rest and ice for two days.")["impersonation"]
    assert not check_answer("ankle", "Please see your doctor if it is not better in a week.")["impersonation"]


def test_repetition(fake_safety):
    loop = "Drink plenty of water. " * 3 + "Rest well."
    assert check_answer("x", loop)["repetition"]
    assert repetition_findings("you should see a doctor, you should see a doctor and you should see a doctor")
    assert not check_answer("x", GOOD)["repetition"]


@pytest.mark.parametrize(
    "text, strict, expected",
    [
        ("Apply the cream twice daily.", False, False),
        ("Apply the cream twice daily", False, False),  # scraped replies often miss the full stop
        ("Apply the cream twice daily", True, True),  # a generated reply without one was cut
        ("If it keeps coming back you may need an oral antifungal such as", False, True),
        ("Take paracetamol and", False, True),
        ("Causes include dehydration, low iron,", False, True),
        ("Use a moisturiser (for example", False, True),
        ("It will settle in a few days...", False, False),
        ("The causes are:\n- dehydration\n- low iron", True, False),  # list ending is complete
        ("Rest and fluids :)", True, False),
        ("", True, True),
    ],
)
def test_truncation(text, strict, expected):
    assert looks_truncated(text, strict=strict) is expected


def test_truncated_check_uses_reply(fake_safety):
    c = check_answer("x", "Rest the ankle and apply ice for the first", "Rest the ankle ... " + DISCLAIMER)
    assert c["truncated"] and any(f.startswith("truncated") for f in c["findings"])


def test_disclaimer_and_emergency_guidance(fake_safety):
    user = "I have crushing chest pain and sweating"
    reply = "This needs urgent attention."
    missing = check_answer(user, reply, reply)
    assert missing["emergency_guidance_needed"] and not missing["emergency_guidance_present"]
    assert "emergency guidance missing from the final text" in missing["findings"]
    assert not missing["disclaimer"]
    ok = check_answer(user, reply, GUIDANCE + "\n\n" + reply + "\n\n" + DISCLAIMER)
    assert ok["emergency_guidance_needed"] and ok["emergency_guidance_present"] and ok["disclaimer"]
    # without final_text the reply itself is checked
    assert check_answer("ankle", GOOD)["disclaimer"] is False


def test_summarize_checks(fake_safety):
    user = "chest pain since an hour"
    rows = [
        check_answer("ankle", GOOD, GOOD + DISCLAIMER),
        check_answer("ankle", "Regards, Dr. Smith", "Regards, Dr. Smith"),
        check_answer(user, GOOD, GUIDANCE + GOOD + DISCLAIMER),
        check_answer(user, GOOD, GOOD + DISCLAIMER),
    ]
    s = summarize_checks(rows)
    assert s["checks_n"] == 4
    assert s["impersonation_rate"] == 0.25
    assert s["disclaimer_rate"] == 0.75
    assert s["emergency_guidance_needed_rate"] == 0.5
    assert s["emergency_guidance_missing_rate"] == 0.5
    empty = summarize_checks([])
    assert empty["checks_n"] == 0 and math.isnan(empty["truncated_rate"])


def test_with_real_safety_module_if_present():
    safety = pytest.importorskip("medchat.safety")
    c = check_answer("My ankle hurts after a twist.", GOOD, GOOD + "\n\n" + safety.DISCLAIMER)
    assert c["disclaimer"] is True
    assert c["emergency_guidance_needed"] is False


def test_emergency_guidance_with_real_safety_module_if_present():
    safety = pytest.importorskip("medchat.safety")
    user = "my dad's face is drooping on one side and he can't talk properly"
    tri = safety.triage(user)
    assert tri.level == "emergency", tri  # a skip here would hide a triage regression
    reply = "This could be a stroke. Note the time the symptoms started."
    shown = safety.finalize_reply(user, reply, tri)
    ok = check_answer(user, reply, shown)
    assert ok["emergency_guidance_needed"] and ok["emergency_guidance_present"] and ok["disclaimer"]
    bad = check_answer(user, reply, reply)
    assert bad["emergency_guidance_needed"] and not bad["emergency_guidance_present"]
