"""Specific medicine doses and schedules: found and removed, in training replies and in live replies.

Why: an online assistant that has not examined the patient must not prescribe. The blind review of the first shipped
adapter found that nearly all of its harmful replies were confident prescriptions copied from the consultation site's
style: "tretinoin 3 mg daily" for a woman trying to conceive, "fluconazole 250 mg daily for 3 weeks", "levocetirizine
three times a day". The same rule serves two places:

- `medchat.data` (recipe field `strip_dosing`) removes dosing sentences from training replies, so the model does not
  learn to prescribe;
- `medchat.safety.finalize_reply` removes them from every live reply, whatever the model, and says once to ask a
  doctor or pharmacist for the medicine and the dose.

A sentence is a dosing instruction when it names a medicine (a form such as tablet or cream, a word such as
antibiotic or steroid, a drug unit such as mg or %, or a common generic-name ending) AND gives an amount
("250 mg", "0.05%", "2 tablets", "5 ml") or a schedule ("twice daily", "three times a day", "OD/BD/TDS", "every 8
hours", "for 3 weeks" next to a dose). Naming a medicine or a class without a dose ("an antihistamine can help",
"ask about minoxidil") is kept: that is information, not a prescription. Non-medicine routines ("drink 2 litres of
water a day", "walk 30 minutes a day", "use a moisturiser twice daily") are kept because they name no medicine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ASK_FOR_DOSE = "Ask a doctor or pharmacist which medicine and dose are right for you before taking any."

AMOUNT_RE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s?(?:mg|mcg|µg|ug|g|gm|grams?|ml|cc|iu|units?|%|percent)(?![a-z])"
    r"|\b(?:\d+|one|two|three|half a|a half)\s+(?:tablets?|tabs?|capsules?|caps?|pills?|puffs?|drops?|sachets?|"
    r"teaspoons?|tsp|spoons?|injections?|doses?)\b",
    re.IGNORECASE,
)
SCHEDULE_RE = re.compile(
    r"\b(?:once|twice|thrice|(?:one|two|three|four|\d+)\s*(?:times|x))\s*(?:a|per|in a|each|every)?\s*"
    r"(?:day|daily|week|weekly|night|nightly|morning)\b"
    r"|\b\d-\d-\d\b"
    r"|\b(?:od|bd|bid|tds|tid|qid|hs|sos|prn|qhs)\b\.?"
    r"|\bevery\s+\d+\s*(?:hours?|hrs?|h)\b"
    r"|\b(?:daily|nightly)\s+for\s+\d+\s*(?:days?|weeks?|months?)\b",
    re.IGNORECASE,
)
MEDICINE_CUE_RE = re.compile(
    r"\b(?:tab|tabs|tablets?|caps?|capsules?|syrup|suspension|injections?|inj|ointment|cream|gel|lotion|drops|"
    r"inhaler|pills?|medicines?|medications?|drugs?|antibiotics?|antifungals?|steroids?|dose|dosage|prescribed|"
    r"mg|mcg|iu)\b|\d\s?%"
    # common generic-name endings: -azole, -mycin, -cillin, -floxacin, -prazole, -tidine, -olol, -pril, -sartan,
    # -statin, -cycline, -cort/-sone/-olone, -izine/-adine (antihistamines), -profen, -mab
    r"|\b\w+(?:azole|mycin|cillin|floxacin|prazole|tidine|olol|pril|sartan|statin|cycline|sone|olone|cort|izine|"
    r"adine|profen|fenac|oxetine|pramine|tretinoin|oxidil|asteride)\b",
    re.IGNORECASE,
)
SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+\n?|\n|$)")


@dataclass
class DosingResult:
    text: str
    removed: list[str]


def is_dosing_instruction(sentence: str) -> bool:
    return bool(MEDICINE_CUE_RE.search(sentence)) and bool(
        AMOUNT_RE.search(sentence) or SCHEDULE_RE.search(sentence)
    )


def strip_dosing(text: str) -> DosingResult:
    """Remove sentences that prescribe a specific dose or schedule; keep everything else verbatim."""
    pieces, removed, position = [], [], 0
    for match in SENTENCE_RE.finditer(text):
        if is_dosing_instruction(match.group(0)):
            pieces.append(text[position : match.start()])
            removed.append(match.group(0).strip())
            position = match.end()
            if match.group(0).endswith("\n"):
                pieces.append("\n")  # keep the line break the sentence ended with
    if not removed:
        return DosingResult(text, [])
    pieces.append(text[position:])
    cleaned = "".join(pieces)
    cleaned = re.sub(r"[ \t]+\n", "\n", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return DosingResult(cleaned, removed)
