"""Which language a message is in, what triage can read, and what to say in that language.

The tables (stopwords, one-line emergency / crisis advice per language, a small precise red-flag lexicon per
language, the note for languages triage cannot read) are data: `data/languages.yaml`.

- Non-Latin scripts decide on their own (Devanagari -> hi, Arabic -> ar, Han without kana -> zh, ...); Latin-script
  languages are told apart by counting their frequent function words.
- The learned signal's encoder reads 16 languages (LEARNED_LANGUAGES); the rules read English; the lexicon covers
  the presentations that must be caught in every supported language (chest pain, stroke signs, not breathing /
  choking, severe bleeding, suicidal intent) even if the model package is missing.
- A message in any other language gets a short note, in that language when we have one, else in several, saying to
  call the local emergency number if it is urgent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES_FILE = Path(__file__).resolve().parent / "data" / "languages.yaml"
# What Universal Sentence Encoder multilingual v3 was trained on (its model card).
LEARNED_LANGUAGES = frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split())

_SCRIPTS = [  # (language, regex of its script); order matters: kana before Han (Japanese uses both)
    ("ja", r"[\u3040-\u30ff]"),
    ("ko", r"[\uac00-\ud7af]"),
    ("zh", r"[\u4e00-\u9fff]"),
    ("hi", r"[\u0900-\u097f]"),
    ("bn", r"[\u0980-\u09ff]"),
    ("ta", r"[\u0b80-\u0bff]"),
    ("th", r"[\u0e00-\u0e7f]"),
    ("he", r"[\u0590-\u05ff]"),
    ("el", r"[\u0370-\u03ff]"),
    ("ru", r"[\u0400-\u04ff]"),
    ("ar", r"[\u0600-\u06ff]"),
]
# Letters that only some Latin-script languages use: each occurrence counts like a function word for them.
_LATIN_MARKS = {"tr": "ığş", "de": "äöüß", "pt": "ãõ", "es": "ñ¿¡", "fr": "èêœ", "pl": "łńśźż"}
_URDU_PERSIAN = {"ur": "ٹڈڑںےۓھ", "fa": "پچژگکی"}  # letters Arabic does not use (Persian shares some with Urdu)


@dataclass(frozen=True)
class RedFlag:
    level: str
    label: str
    tip: str
    pattern: re.Pattern


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    stopwords: frozenset[str]
    emergency: str  # one line shown above the English emergency guidance ("" for English / none)
    crisis: str
    urgent_note: str
    red_flags: tuple[RedFlag, ...]
    calm: tuple[re.Pattern, ...] = ()  # framing that sets a lexicon match aside (a long-past event, a study question)
    coverage: str = "full"  # "core": only the five core red flags are read, so a routine message still gets the note


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, Language], str]:
    data = yaml.safe_load(LANGUAGES_FILE.read_text(encoding="utf-8"))
    langs = {}
    for code, d in data["languages"].items():
        flags = []
        for i, f in enumerate(d.get("red_flags") or []):
            try:
                flags.append(RedFlag(f["level"], f["label"], f.get("tip", ""), re.compile(f["pattern"])))
            except (KeyError, re.error) as e:
                raise ValueError(f"{LANGUAGES_FILE.name}: languages.{code}.red_flags[{i}]: {e!r}") from e
        calm = []
        for i, c in enumerate(d.get("calm") or []):
            try:
                calm.append(re.compile(c))
            except re.error as e:
                raise ValueError(f"{LANGUAGES_FILE.name}: languages.{code}.calm[{i}]: {e!r}") from e
        langs[code] = Language(
            code, d.get("name", code), frozenset(d.get("stopwords") or ()), d.get("emergency", ""),
            d.get("crisis", ""), d.get("urgent_note", ""), tuple(flags), tuple(calm), d.get("coverage", "full"),
        )
    return langs, data["multilingual_note"].strip()


def languages() -> dict[str, Language]:
    return _tables()[0]


def multilingual_note() -> str:
    return _tables()[1]


def detect(text: str) -> str:
    """ISO 639-1 code of the message's language; "en" for Latin text with no clear winner (English typos look like
    nothing else), "und" for a script without a table."""
    text = (text or "").lower()
    letters = re.findall(r"[^\W\d_]", text)
    if not letters:
        return "en"
    counts = {code: len(re.findall(rx, text)) for code, rx in _SCRIPTS}
    code, n = max(counts.items(), key=lambda kv: kv[1])
    if n >= max(2, 0.3 * len(letters)) or (n and n >= 0.5 * len(letters)):
        if code == "zh" and counts["ja"]:
            return "ja"
        if code == "ar":
            for other, marks in _URDU_PERSIAN.items():
                if sum(text.count(m) for m in marks) >= 2:
                    return other
        return code
    latin = len(re.findall(r"[a-zà-ɏ]", text))
    if latin < 0.5 * len(letters):
        return "und"  # a script we have no table for (Amharic, Georgian, ...)
    words = re.findall(r"[^\W\d_]+", text)
    # distinct function words: "a ... a" in an English question is not two votes for Portuguese
    scores = {c: len(set(words) & lang.stopwords) for c, lang in languages().items() if lang.stopwords}
    for c, marks in _LATIN_MARKS.items():
        scores[c] = scores.get(c, 0) + sum(text.count(m) for m in marks)
    best = max(scores, key=lambda c: (scores[c], c == "en"))
    # English wins ties and near-ties: English typos look like nothing else
    if scores[best] <= scores.get("en", 0) or scores[best] < 2:
        return "en"
    return best


def readable(code: str, learned: bool) -> bool:
    """Can triage read this language? English always (rules); the lexicon languages always; the encoder's
    languages when the learned signal is loaded."""
    lang = languages().get(code)
    return (code == "en" or bool(lang and lang.red_flags and lang.coverage != "core")
            or (learned and code in LEARNED_LANGUAGES))


def red_flags(text: str, code: str) -> list[RedFlag]:
    """The lexicon's red flags that match the message (every language's lexicon is tried: a Spanish word in a
    Portuguese message still counts)."""
    low = (text or "").lower()
    found = []
    order = [code] + [c for c in languages() if c != code]
    for c in order:
        lang = languages().get(c)
        for f in lang.red_flags if lang else ():
            if f.pattern.search(low):
                found.append(f)
    return found


def calm_framing(text: str, code: str) -> bool:
    """Does the message say its red flag is long past, a study question, a film, a pet or an idiom, in its own
    language (or any other: a Hinglish message may use a Devanagari word)?"""
    low = (text or "").lower()
    order = [code] + [c for c in languages() if c != code]
    return any(p.search(low) for c in order for p in (languages()[c].calm if c in languages() else ()))


def advice_line(code: str, level: str) -> str:
    """One line in the message's language for an emergency / crisis ("" for English or an unknown language)."""
    lang = languages().get(code)
    if not lang or code == "en":
        return ""
    return lang.emergency if level == "emergency" else lang.crisis if level == "crisis" else ""


def unreadable_note(code: str) -> str:
    """The note for a message triage cannot read: its own language's line when there is one, plus the multilingual
    note."""
    lang = languages().get(code)
    own = lang.urgent_note if lang else ""
    return f"{own}\n\n{multilingual_note()}" if own else multilingual_note()


def all_notes() -> list[str]:
    """Every language text that triage can add (for `texts.all_guidance_texts`)."""
    out = [multilingual_note()]
    for code in languages():
        out += [advice_line(code, "emergency"), advice_line(code, "crisis"), unreadable_note(code)]
    return [t for t in dict.fromkeys(out) if t]
