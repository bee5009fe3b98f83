"""Specific medicine doses and schedules: found and removed, in training replies and in live replies.

Why: an online assistant that has not examined the patient must not prescribe. The blind review of the first shipped
adapter found that nearly all of its harmful replies were confident prescriptions copied from the consultation site's
style: "tretinoin 3 mg daily" for a woman trying to conceive, "fluconazole 250 mg daily for 3 weeks", "levocetirizine
three times a day". The same rule serves two places:

- `medchat.data` (recipe field `strip_dosing`) removes dosing sentences from training replies, so the model does not
  learn to prescribe;
- `medchat.safety.finalize_reply` removes them from every live reply, whatever the model, and says once to ask a
  doctor or pharmacist for the medicine and the dose.

Sentences are whole sentences of `medchat.sentences` (never cut at "0.5", "e.g." or "Dr."), matched in folded form
(full-width digits, zero-width characters, look-alike letters and markdown do not hide a dose). A sentence is a
dosing instruction when

- it gives an amount in a drug unit ("500mg", "0.5 mg", "60000 IU", "10 mg/kg", "1% cream") with a medicine, a
  dosing verb ("take 500mg") or a schedule; a diet amount ("less than 2,300 mg of sodium"), a measurement ("30
  milligrams of albumin per gram") and lab values ("180 mg/dL", "15 ng/ml") are not doses;
- or it names a medicine (a specific one from `safety/data/medicine_names.txt` or with a generic-name ending (`_GENERIC_ENDINGS`) such as
  -cillin, -azole, -prazole; or a class or form: antibiotic, tablet, cream, drops) AND gives another amount
  ("2 tablets", "5ml", "Dolo 650") or a schedule ("once daily", "twice a day", "3x/day", "every 8 hours", "q8h",
  "bid/tid/OD/TDS", "1-0-1", "x 7 days", "take ... for 7days", "a 5-day course");
- or it names a specific medicine with a plain routine ("daily", "every morning", "at bedtime").

Naming a medicine or a class without a dose ("an antihistamine can help", "ask about minoxidil") is kept: that is
information, not a prescription. Non-medicine routines ("drink 2 litres of water a day", "walk 30 minutes a day", "use
a moisturiser twice daily") are kept because they name no medicine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from medchat.sentences import Unit, folded, plain, rejoin, split_units, unspaced

ASK_FOR_DOSE = "Ask a doctor or pharmacist which medicine and dose are right for you before taking any."
MEDICINE_NAMES_FILE = Path(__file__).resolve().parent / "safety" / "data" / "medicine_names.txt"

_I = re.IGNORECASE
_NUM_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
             r"sixty|hundred|thousand|half|quarter)")
# "500", "0.5", "5 0 0", "1,000", "875/125", "1/2", "five hundred", "half a" (not "a few": "a few drops of urine")
NUMBER = (r"(?:\d(?:[ ]?[\d.,/])*\d|\d|" + _NUM_WORD + r"(?:[\s-]+(?:" + _NUM_WORD[3:-1] + r"|and))*(?:\s+an?)?"
          r")")
_DRUG_UNIT = (r"(?:m ?g|mgs|milligrams?|mil+igrams?|m ?c ?g|mcgs|micrograms?|[uµ]g|i\.?u\.?|international\s+units?|"
              r"units?\s+of\s+insulin|meq)")
_OTHER_UNIT = (r"(?:g|gm|gms|grams?|m ?l|mls|millilit(?:re|er)s?|cc|tablets?|tabs?|caps?|capsules?|pills?|puffs?|"
               r"drops?|sprays?|sachets?|teaspoons?|tsps?|tablespoons?|tbsps?|spoons?|spoonfuls?|doses?|"
               r"injections?|patch(?:es)?|lozenges?|suppositor(?:y|ies)|ampoules?|vials?|units?)")
_FORMULATION = (r"(?:cream|gel|lotion|ointment|oint|solution|drops|spray|shampoo|wash|foam|tincture|serum|paste|"
                r"mouthwash|strength|concentration|w/w|w/v)")
# Lab values and blood pressure are measurements, not doses.
LAB_VALUE_RE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|g|mcg|[uµ]g|ng|pg|mmol|[uµ]mol|nmol|i?u|miu|meq|cells)\s*/\s*(?:dl|l|ml|litre|liter|"
    r"mm3|ul|24\s*h\w*|day\s+in\s+urine)\b|\b\d+\s*mm\s*hg\b|\bmmhg\b"
    # "30 milligrams of albumin per gram of creatinine"
    r"|\b\d+(?:[.,]\d+)?\s*(?:mg|milligrams?|mcg|micrograms?|g|grams?)\s+(?:of\s+[a-z]+\s+)?per\s+"
    r"(?:gram|g|litre|liter|l|dl|decilit(?:re|er)|ml|millilit(?:re|er))\b", _I)
DRUG_AMOUNT_RE = re.compile(
    r"(?<![a-z])" + NUMBER + r"\s*-?\s*" + _DRUG_UNIT + r"(?![a-z])"
    r"|(?<![a-z])\d+(?:\.\d+)?\s*(?:%|per\s?cent\b)\s*(?:[a-z-]+\s+){0,2}" + _FORMULATION + r"\b"
    # "tretinoin cream (0.025%)", "creams that contain urea 10-20 %"
    r"|\b(?:cream|gel|lotion|ointment|oint|solution|shampoo|spray|foam|serum|tincture|paste|mouthwash)s?\W+"
    r"(?:[a-z-]+\W+){0,3}\d+(?:\.\d+)?(?:\s*-\s*\d+(?:\.\d+)?)?\s*(?:%|per\s?cent\b)", _I)
OTHER_AMOUNT_RE = re.compile(r"(?<![a-z])" + NUMBER + r"\s*-?\s*" + _OTHER_UNIT + r"(?![a-z])", _I)
SCHEDULE_RE = re.compile(
    # once daily, twice a day, thrice weekly, 3 times a day, 3x/day, two times per day, 4 x daily
    r"\b(?:once|twice|thrice|" + NUMBER + r"\s*(?:x|times?))\s*(?:a|an|per|each|every|in\s+a|/)?\s*"
    r"(?:day|daily|d|week|weekly|wk|night|nightly|morning|evening|month|monthly|hour|hourly|hr)s?\b"
    # prescription shorthand: OD, BD, BID, TDS, TID, QID, QDS, QD, QHS, HS, PRN, SOS (dotted too: b.i.d.)
    r"|\b(?:o\.?d|b\.?d|b\.?i\.?d|t\.?d\.?s|t\.?i\.?d|q\.?i\.?d|q\.?d\.?s|q\.?d|q\.?h\.?s|h\.?s|p\.?r\.?n|s\.?o\.?s|"
    r"q\.?a\.?m|q\.?p\.?m|p\.?o)\b\.?"
    r"|\bq\s?\d{1,2}(?:\s?-\s?\d{1,2})?\s?(?:h|hrs?|hours?)\b"  # q8h, q 6 hrs, q4-6h
    r"|\b\d\s?[-+]\s?\d\s?[-+]\s?\d\b"  # 1-0-1, 1+0+1
    r"|\bevery\s+(?:" + NUMBER + r"|other|alternate)(?:\s*(?:-|to|or)\s*" + NUMBER + r")?\s*"
    r"(?:hours?|hrs?|h|days?|weeks?|nights?|mornings?)\b"
    r"|\bx\s?\d+\s?(?:days?|d|weeks?|wks?|months?)\b"  # x 7 days, x7days, x3d
    r"|\b" + NUMBER + r"\s*-?\s*(?:days?|weeks?)\s+course\b|\bcourse\s+of\s+" + NUMBER + r"\s*(?:days?|weeks?)\b"
    r"|\b(?:daily|nightly)\s+for\s+" + NUMBER + r"\s*(?:days?|weeks?|months?)\b"
    r"|\bon\s+alternate\s+days\b|\bon\s+day\s+\d\b"
    r"|\b(?:\d+|one|two|three|four|five|six)\s+(?:a|per|/)\s*day\b",  # "2 a day" ("for a day or two" is not)
    _I,
)
# "for 7 days" is a schedule when the sentence tells someone to take / use something
_DURATION_RE = re.compile(r"\bfor\s*(?:" + NUMBER + r"|a|one)\s*(?:(?:-|to|or)\s*" + NUMBER + r"\s*)?"
                          r"(?:days?|d|weeks?|wks?|months?)\b", _I)
_DOSING_VERB_RE = re.compile(r"\b(?:take|taking|use|apply|give|start|continue|complete|finish|put|instil|insert|"
                             r"inhale|spray|rub|chew|dissolve|swallow|rx|prescription|tab|cap|inj)\b", _I)
ROUTINE_RE = re.compile(r"\b(?:daily(?!\s+(?:life|lives|living|activit(?:y|ies)|functioning|tasks?|routines?|chores|"
                        r"work|care|needs|diet|hygiene|exercise|walks?|stress))|nightly|weekly|every\s+(?:day|night|morning|evening|week)|each\s+(?:day|night|"
                        r"morning|evening)|at\s+bed\s?time|before\s+(?:bed|sleep))\b", _I)
MEDICINE_CLASS_RE = re.compile(
    r"\b(?:tab|tabs|tablets?|caps?|capsules?|syrups?|suspensions?|injections?|inj|ointments?|oint|creams?|gels?|lotions?|"
    r"drops|inhalers?|pills?|medicines?|medications?|meds|drugs?|antibiotics?|antifungals?|antivirals?|antihistamines?|"
    r"antacids?|painkillers?|pain\s+relievers?|steroids?|dose|dosage|doses|prescribed|prescription|rx|"
    r"vitamins?|vit|supplements?|iron|zinc|calcium|magnesium|probiotics?|sachets?|puffs?|suppositor(?:y|ies)|"
    r"patch|patches|lozenges?|sprays?|oil|powders?|tincture|ayurvedic|homeopathic|vati|churna|syp)\b", _I)
_NUTRIENT_RE = re.compile(r"\b(?:sodium|salt|caffeine|sugars?|fib(?:re|er)|protein|cholesterol|fats?|carbs?|"
                          r"carbohydrates?|calories|kcal)\b", _I)


_GENERIC_ENDINGS = (
    "azole", "mycin", "micin", "cillin", "cilline", "floxacin", "prazole", "tidine", "olol", "sartan", "statin",
    "cycline", "olone", "asone", "isone", "sone", "cort", "izine", "adine", "profen", "fenac", "oxetine", "pramine",
    "triptyline", "traline", "alopram", "faxine", "azepam", "azolam", "gabalin", "codone", "afil", "afine",
    "ciclovir", "cyclovir", "mectin", "oquine", "caine", "parin", "glutide", "gliflozin", "gliptin",
    "glitazone", "triptan", "trigine", "racetam", "azepine", "lukast", "setron", "terol", "dipine", "grel", "xaban",
    "thiazide", "semide", "tretinoin", "oxidil", "asteride", "dronate", "tinib", "zumab", "ximab", "mumab",
)
_NOT_GENERIC = {"cholesterol", "sterol", "sardine", "person", "reason", "season", "poison", "venison", "unison", "comparison"}
_WORD_RE = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]", _I)


@lru_cache(maxsize=1)
def _medicine_names() -> tuple[frozenset[str], re.Pattern | None]:
    """Specific medicine names of the data file: single words as a set, the others ("fusidic acid", "pan-d" also
    written "pan d") as one whole-word pattern."""
    words, phrases = set(), []
    for line in MEDICINE_NAMES_FILE.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip().lower()
        if not name:
            continue
        parts = re.split(r"[\s-]+", name)
        if len(parts) == 1:
            words.add(name)
        else:
            words.add("-".join(parts))
            phrases.append(r"[\s-]?".join(re.escape(part) for part in parts))
    phrases.sort(key=len, reverse=True)
    rx = re.compile(r"(?<![a-z])(?:" + "|".join(phrases) + r")(?![a-z])", _I) if phrases else None
    return frozenset(words), rx


def _specific_names(s: str) -> list[str]:
    """The specific medicines named in the (folded, plain) sentence: listed names and generic-name endings."""
    words, phrases = _medicine_names()
    found = [w for w in (t.lower() for t in _WORD_RE.findall(s))
             if w in words or (len(w) > 5 and w.endswith(_GENERIC_ENDINGS) and w not in _NOT_GENERIC)
             or (len(w) > 6 and w.endswith("pril"))]
    if phrases is not None:
        found += [m.group(0).lower() for m in phrases.finditer(s)]
    return found


def names_medicine(s: str) -> bool:
    """A specific medicine is named (by name or generic-name ending) in the (folded, plain) sentence."""
    return bool(_specific_names(s))


def _named_with_number(s: str, names: list[str]) -> bool:
    # "Dolo 650", "Augmentin 625", "paracetamol 500", "Pan-D 1-0-0"
    low = s.lower()
    for name in names:
        i = low.find(name)
        while i >= 0:
            if re.match(r"\s*[-:]?\s*\d", low[i + len(name):]):
                return True
            i = low.find(name, i + 1)
    return False


_HAS_NUMBER_RE = re.compile(r"\d|\b" + _NUM_WORD + r"\b", _I)


def _other_amount(s: str, names: list[str]) -> bool:
    """ "2 tablets of the antibiotic", "5ml of Calpol", "take 2 tablets": an amount with a medicine named outside it
    or a dosing verb ("RotaTeq is given in three doses" is vaccine information, not an instruction)."""
    for m in OTHER_AMOUNT_RE.finditer(s):
        rest = s[: m.start()] + " " + s[m.end():]
        if names or MEDICINE_CLASS_RE.search(rest) or _DOSING_VERB_RE.search(rest):
            return True
    return False


def _is_dosing_plain(s: str) -> bool:
    has_number = bool(_HAS_NUMBER_RE.search(s))
    if has_number:
        s = LAB_VALUE_RE.sub(" ", s)
    names = _specific_names(s)
    cue = bool(names) or bool(MEDICINE_CLASS_RE.search(s))
    if has_number and DRUG_AMOUNT_RE.search(s):
        # "Take 500mg twice a day" names no medicine, but "contains 30 milligrams of albumin" is a measurement
        if cue or (not _NUTRIENT_RE.search(s) and (_DOSING_VERB_RE.search(s) or SCHEDULE_RE.search(s)
                                                   or ROUTINE_RE.search(s))):
            return True
    if not cue:
        return False
    if has_number and (_named_with_number(s, names) or _other_amount(s, names)):
        return True
    if SCHEDULE_RE.search(s):
        return True
    if has_number and _DURATION_RE.search(s) and _DOSING_VERB_RE.search(s):
        return True
    return bool(names) and bool(ROUTINE_RE.search(s))


@lru_cache(maxsize=4096)  # a streamed reply asks again about the same finished sentences on every chunk
def is_dosing_instruction(sentence: str) -> bool:
    """True when the sentence prescribes a specific dose or schedule (see the module docstring)."""
    s = plain(folded(sentence))
    if _is_dosing_plain(s):
        return True
    joined = unspaced(s)  # "t a k e  a m o x i l  5 0 0 m g"
    return joined is not None and _is_dosing_plain(joined)


def continues_dosing(sentence: str) -> bool:
    """A sentence with an amount or a schedule but no medicine, which after a removed prescription is its
    continuation ("Apply it on the face twice daily.", "Then 250 mg for four days.")."""
    s = LAB_VALUE_RE.sub(" ", plain(folded(sentence)))
    return bool(DRUG_AMOUNT_RE.search(s) or OTHER_AMOUNT_RE.search(s) or SCHEDULE_RE.search(s)
                or (_DURATION_RE.search(s) and _DOSING_VERB_RE.search(s)))


# An unfinished sentence that may still become a prescription: it names a medicine, or ends in a number or a
# half-written unit ("Take Amoxil 5", "Take ibuprofen 400 m"). Streaming shows it only once it is finished.
_OPEN_NUMBER_RE = re.compile(r"\d[\d.,\s]*[a-zµ]{0,3}\W*$|\b(?:" + _NUM_WORD[3:-1] + r")\W*$", _I)


def may_become_dosing(sentence: str) -> bool:
    s = plain(folded(sentence))
    if names_medicine(s) or MEDICINE_CLASS_RE.search(s):
        return True
    return bool(_OPEN_NUMBER_RE.search(s)) and bool(re.search(r"\b(?:take|give|use|apply|dose|of)\b", s, _I))


@dataclass
class DosingResult:
    text: str
    removed: list[str]


def strip_dosing(text: str) -> DosingResult:
    """Remove the sentences that prescribe a specific dose or schedule; keep everything else verbatim."""
    units: list[Unit] = split_units(text)
    keep = [not is_dosing_instruction(text[u.start:u.end]) for u in units]
    if all(keep):
        return DosingResult(text, [])
    removed = [text[u.start:u.end] for u, k in zip(units, keep) if not k]
    cleaned = rejoin(text, units, keep)
    cleaned = re.sub(r"[ \t]+\n", "\n", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return DosingResult(cleaned, removed)
