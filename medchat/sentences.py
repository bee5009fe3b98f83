"""Sentences of a model reply, and the form they are matched in.

The live reply filter (`medchat.safety.reply`) and the dosing stripper (`medchat.dosing`) remove WHOLE sentences,
so the split must never cut inside one: not at a decimal point ("0.5 mg"), not after an abbreviation ("Dr. Rao",
"e.g. amoxicillin", "500 mg. twice"), not at a list number ("1. Take ..."), not where a model wrapped a line in the
middle of a sentence. A markdown table is one unit (a table with one prescribing row is a prescription table).

Matching happens on a folded copy of the text, while what is shown keeps the original characters:

- compatibility folding (NFKD, then combining marks dropped: NFKC plus accents): full-width "５００ｍｇ" -> "500mg",
  "ﬁ" -> "fi", "Amoxìl" -> "Amoxil", other scripts' digits -> 0-9;
- zero-width, soft-hyphen, bidi and tag characters removed ("Dr\u200b. Smith" -> "Dr. Smith");
- Cyrillic/Greek look-alikes mapped to Latin ("Dr. Ѕmith" -> "Dr. Smith"), curly quotes to straight ones;
- per sentence (`plain`): markdown and HTML markup removed, glued words split ("dailyIt"), whitespace collapsed.

`fold` keeps, for every folded character, the index of the original character it came from, so a sentence found
in the folded text is removed from the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Invisible characters used to break up words ("am\u200boxil"): zero-width, soft hyphen, bidi controls, invisible
# operators, the Mongolian vowel separator, and Unicode tag characters (used to smuggle hidden text).
_INVISIBLE = {0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E,
              0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066,
              0x2067, 0x2068, 0x2069, 0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0x3164, 0xFEFF, 0xFFA0}
# Letters that look like Latin ones (Cyrillic, Greek, Cherokee, a few Latin variants) and punctuation variants.
_LOOKALIKE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y",
    "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ꭰ": "D", "Ꮃ": "W", "Ꮇ": "M", "Ꭱ": "R", "Ꭼ": "E", "Ꮐ": "G",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "μ": "u", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ʀ": "r", "ᴅ": "d", "ʟ": "l",
    "’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "‐": "-",
    "‑": "-", "−": "-", "×": "x", "⁄": "/", "∕": "/", "·": ".", "。": ".", "．": ".",
})


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    code = ord(ch)
    if code in _INVISIBLE or 0xE0000 <= code <= 0xE007F or 0xFE00 <= code <= 0xFE0F:
        return ""
    if unicodedata.category(ch) == "Nd":
        return str(unicodedata.digit(ch))
    mapped = ch.translate(_LOOKALIKE)
    if mapped != ch:
        return mapped
    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    return out.translate(_LOOKALIKE) if out else ("" if decomposed else ch)


def fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, per folded character, the index of its original character (None: identical)."""
    if text.isascii():
        return text, None
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        f = ch if ch.isascii() else _fold_char(ch)
        out.append(f)
        index.extend([i] * len(f))
    return "".join(out), index


def folded(text: str) -> str:
    return fold(text)[0]


_MARKUP = re.compile(
    r"</?[A-Za-z][^<>]{0,60}>"  # HTML tags
    r"|\[([^\]\n]{0,200})\]\([^)\s]{0,300}\)"  # [text](link) -> text
    r"|\*\*|__|~~|[*`\\]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # emphasis, code, escapes
)
_LINE_MARKER = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|(?:[-+•◦▪]|\d{1,2}[.)]|[a-z][.)])[ \t]+)")


def plain(sentence: str) -> str:
    """A (folded) sentence without markdown / HTML markup and with collapsed whitespace, for matching."""
    s = _LINE_MARKER.sub(" ", sentence)
    s = _MARKUP.sub(lambda m: f" {m.group(1)} " if m.group(1) else " ", s)
    s = s.replace("|", " ; ")
    # glued words, as scraped replies have them: "twice dailyIt will", "for 30 days2." (3+ letters, so "HbA1c",
    # "q8h", "D3" stay whole)
    s = _GLUED.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip()


_GLUED = re.compile(r"(?<=[a-z]{3})(?=[A-Z][a-z]|\d)")


# A run of 3+ single letters/digits separated by single spaces or dots: "a m o x i l", "D r", "5 0 0 m g".
_SPACED_RUN = re.compile(r"(?<!\w)(?:[A-Za-z0-9][ .](?=[A-Za-z0-9](?:\W|$))){2,}[A-Za-z0-9](?!\w)")


def unspaced(sentence: str) -> str | None:
    """The sentence with letter-spaced runs joined ("t a k e  5 0 0 m g" -> "take 500mg"), or None if it has none."""
    if not _SPACED_RUN.search(sentence):
        return None
    return _SPACED_RUN.sub(lambda m: re.sub(r"[ .]", "", m.group(0)), sentence)


# -----------------------------------------------------------------------------------------------
# Sentence split

# Abbreviations after which a full stop does not end the sentence, even before a capital letter. Units ("mg.",
# "hrs.") are not here: before a capital they end a sentence ("Take 500 mg. Rest well." keeps "Rest well.").
_ABBREVIATIONS = {
    "dr", "drs", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "vs", "approx", "no", "nos", "fig", "eg", "e.g",
    "ie", "i.e", "cf", "incl", "tab", "tabs", "cap", "caps", "inj", "syp", "syr", "oint", "dept", "ref", "approx",
    "esp", "resp", "ca",
    "a.m", "p.m", "b.i.d", "t.i.d", "q.i.d", "q.d", "o.d", "b.d", "t.d.s", "q.h.s", "p.o", "i.v", "i.m", "s.c",
    "rx", "hon", "gen", "lt", "col", "sgt", "capt", "ph.d", "m.d", "m.b.b.s", "mbbs", "pvt", "ltd", "co", "inc",
}
_END_PUNCT = re.compile(r"[.!?…]+(?:[\"')\]]|\*{1,2}|_{1,2})*(?=\s|$)")
_LIST_START = re.compile(r"^[ \t]*(?:[-+*•◦▪>]|#{1,6}|\d{1,2}[.)]|[A-Za-z][.)])[ \t]")
_TABLE_LINE = re.compile(r"^[ \t]*\|")
_SENTENCE_END = re.compile(r"[.!?…]+(?:[\"')\]]|\*{1,2}|_{1,2})*[ \t]*$")
_CLOSED = re.compile(r"(?:[.!?…:;]+(?:[\"')\]]|\*{1,2}|_{1,2})*|\|)[ \t]*$")


def _may_continue(seg: str) -> bool:
    """A full stop at the very end of the text that may still be a decimal point or an abbreviation ("0.", "Dr.",
    "e.g.")."""
    m = re.search(r"(\d|\b[A-Za-z][A-Za-z.]*)\.$", seg)
    if not m:
        return False
    return bool(m.group(1).isdigit() or m.group(1).lower() in _ABBREVIATIONS or len(m.group(1)) == 1)


@dataclass(frozen=True)
class Unit:
    """One sentence (or table) of a text: [start, end) in the ORIGINAL text and its folded form."""

    start: int
    end: int
    folded: str
    closed: bool  # ends with sentence punctuation or a line break (False: the text may still grow)


def _lines(text: str) -> list[tuple[int, int]]:
    """Logical lines [start, end): table blocks joined, a line wrapped mid-sentence joined with its continuation."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    out: list[tuple[int, int]] = []
    for start, end in spans:
        line = text[start:end]
        if out and text[out[-1][1]:start].count("\n") == 1:
            prev = text[out[-1][0]:out[-1][1]]
            prev_last = prev.rsplit("\n", 1)[-1]
            table = _TABLE_LINE.match(line) and _TABLE_LINE.match(prev_last)
            wrapped = (not _CLOSED.search(prev) and not _LIST_START.match(line) and not _TABLE_LINE.match(line)
                       and not _TABLE_LINE.match(prev_last) and not re.match(r"^[ \t]*#", prev_last)
                       and re.match(r"^[ \t]*[a-z0-9(]", line))
            if table or wrapped:
                out[-1] = (out[-1][0], end)
                continue
        out.append((start, end))
    return out


# Words after which a full stop followed by a lower-case word or a number does not end the sentence: units and
# shorthand ("500 mg. twice", "1 tab. daily").
_UNITS = {"mg", "mcg", "ml", "g", "gm", "gms", "kg", "hr", "hrs", "min", "mins", "sec", "wk", "wks", "yr", "yrs",
          "oz", "lb", "lbs", "max", "tsp", "tbsp", "iu", "cc", "mm", "cm", "sq"}


def _is_boundary(line: str, m: re.Match) -> bool:
    nxt = line[m.end():].lstrip()
    if not nxt:
        return True
    first = nxt.lstrip("*_\"'([")[:1]
    if not first or not (first.isalnum()):
        return False  # "D r. . Chen", "500 mg. , twice": punctuation follows, the sentence goes on
    punct = m.group(0)
    if not punct.startswith(".") or punct.startswith(".."):
        return True  # ! ? ... end a sentence
    if first.isdigit():
        return False  # "0. 5 mg", "Take it. 2 times a day": a number never starts a new sentence here
    word = re.search(r"([A-Za-z][A-Za-z.]*|\d)$", line[: m.start()].rstrip("*_\"')] \t"))
    if not word:
        return True
    w = word.group(1).lower().rstrip(".")
    short = len(w) == 1 or w in _ABBREVIATIONS  # "Dr. Rao", "A. K. Rao", "e.g. Amoxil", "Tab. Pan-D"
    if short:
        return False
    if first.islower():
        # "500 mg. twice a day" / "0. 5" go on; after an ordinary word a lower-case start is a new (sloppy) sentence
        return not (w in _UNITS or w.isdigit())
    if _LIST_START.match(line) and m.end() <= len(_LIST_START.match(line).group(0)) + 1:
        return False
    return True


def split_units(text: str) -> list[Unit]:
    """The sentences of `text` in order (a table block is one unit); whitespace between them is not in any unit."""
    f, index = fold(text)
    units: list[Unit] = []

    def orig(i: int) -> int:
        if index is None:
            return i
        return index[i] if i < len(index) else len(text)

    for start, end in _lines(f):
        line = f[start:end]
        if _TABLE_LINE.match(line):
            pieces = [(0, len(line))]
        else:
            pieces, pos = [], 0
            marker = _LIST_START.match(line)
            for m in _END_PUNCT.finditer(line, marker.end() if marker else 0):
                if _is_boundary(line, m):
                    pieces.append((pos, m.end()))
                    pos = m.end()
            if pos < len(line):
                pieces.append((pos, len(line)))
        for a, b in pieces:
            seg = line[a:b]
            lead = len(seg) - len(seg.lstrip())
            seg = seg.strip()
            if not seg:
                continue
            s, e = start + a + lead, start + a + lead + len(seg)
            o_start, o_end = orig(s), (orig(e - 1) + 1 if e > s else orig(s))
            # finished: more text follows, or it ends a sentence ("Azithromycin:" or a table row may go on)
            closed = e < len(f.rstrip(" \t")) or (bool(_SENTENCE_END.search(seg)) and not _may_continue(seg))
            units.append(Unit(o_start, o_end, seg, closed))
    # zero-width characters dropped by folding at a unit's edge belong to no unit: harmless (whitespace-like)
    return units


def rejoin(text: str, units: list[Unit], keep: list[bool]) -> str:
    """`text` with the units not kept removed; where units were removed the strongest break around them stays,
    elsewhere the original spacing."""
    out: list[str] = []
    prev_end: int | None = None
    gap_breaks, dropped = 0, False
    for unit, k in zip(units, keep):
        gap = text[prev_end:unit.start] if prev_end is not None else ""
        gap_breaks = max(gap_breaks, min(gap.count("\n"), 2))
        prev_end = unit.end
        if not k:
            dropped = True
            continue
        if out:
            out.append(("\n" * gap_breaks if gap_breaks else " ") if dropped else gap)
        out.append(text[unit.start:unit.end])
        gap_breaks, dropped = 0, False
    return "".join(out)
