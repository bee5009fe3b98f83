"""Automatic checks of one generated answer, and their rates over a set.

`check_answer(user_text, reply, final_text)` returns booleans (True = the property holds):

- ``impersonation``: the reply names a consultation site, names/signs as a doctor or claims to be one
  (`medchat.boilerplate.impersonation_findings`).
- ``boilerplate``: leftover site greetings, closers, sign-offs, links or ads
  (`medchat.boilerplate.boilerplate_findings`; a plain "Hello" is not boilerplate).
- ``repetition``: a degenerate loop -- any word 4-gram occurring 3+ times, or the same sentence (5+ words)
  twice.
- ``truncated``: the reply stops mid-sentence (`looks_truncated(strict=True)`: no closing punctuation,
  or a dangling last word / open bracket / trailing comma).
- ``disclaimer``: `final_text` contains `medchat.safety.DISCLAIMER`.
- ``emergency_guidance_needed``: `medchat.safety.triage(user_text)` is level "emergency" or "crisis".
- ``emergency_guidance_present``: the triage guidance is in `final_text` (True when not needed: nothing is
  missing). Compare with ``emergency_guidance_needed`` for the miss rate.

plus ``findings``: human-readable reasons. `final_text` is the text the app shows (reply + disclaimer +
triage guidance); when it is None the reply itself is used. `medchat.safety` is imported lazily (another
module, and the checks that don't need it work without it).

`summarize_checks(list_of_check_dicts)` returns the rate of each boolean (``<name>_rate``), the count
``checks_n`` and ``emergency_guidance_missing_rate`` among the items that needed guidance.
"""

from __future__ import annotations

import re
from collections import Counter

from medchat.boilerplate import boilerplate_findings, impersonation_findings

__all__ = ["check_answer", "summarize_checks", "looks_truncated", "repetition_findings", "CHECK_KEYS"]

CHECK_KEYS = (
    "impersonation",
    "boilerplate",
    "repetition",
    "truncated",
    "disclaimer",
    "emergency_guidance_needed",
    "emergency_guidance_present",
)

# A reply that ends on one of these words was cut off ("... apply the", "... and").
_DANGLING_WORDS = {
    "the", "a", "an", "and", "or", "but", "nor", "of", "to", "with", "for", "in", "on", "at", "by",
    "from", "into", "onto", "your", "my", "his", "her", "their", "its", "our", "is", "are", "was",
    "were", "be", "been", "being", "that", "which", "who", "whom", "whose", "as", "than", "if",
    "because", "since", "although", "though", "while", "whereas", "such", "like", "very", "this",
    "these", "those", "can", "should", "will", "may", "might", "could", "would", "must", "shall",
    "not", "also", "e.g", "eg", "i.e", "ie", "etc,", "including", "especially", "about", "some",
    "any", "more", "most", "less", "both", "either", "neither", "each", "every", "so", "then",
    "has", "have", "had", "do", "does", "did", "get", "take", "use", "apply", "avoid", "per", "via",
    "&", "+", "vs", "when", "where", "how", "what", "why", "dr", "dr.", "mr", "mrs", "ms",
}
_END_OK_RE = re.compile(r"(?:[.!?…]|:\)|:-\)|;\)|\)\.?)[\"'”’)\]*_\s]*$|[\U0001F300-\U0001FAFF]\s*$")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def looks_truncated(text: str, *, strict: bool = False) -> bool:
    """True if `text` ends mid-sentence.

    Always truncated: ends with , ; : - ( or an unclosed bracket, or the last word is a function
    word that cannot end a sentence ("... apply the", "... and"). Scraped human replies often
    just omit the final full stop ("wear gloves or full sleeve cloths"), so by default a reply
    ending on a content word counts as complete. ``strict=True`` (generated text, where a
    missing full stop means max_new_tokens cut it) also flags any last line that is not a
    short list item and lacks closing punctuation.
    """
    t = (text or "").rstrip()
    if not t:
        return True
    if _END_OK_RE.search(t):
        # "..." at the end is a style in scraped replies; truncated only on a dangling word
        if not t.endswith(("...", "…")):
            return False
        words = t.rstrip(".… ").split()
        return bool(words) and words[-1].lower() in _DANGLING_WORDS
    if t[-1] in ",;:-–—(/&+":
        return True
    if t.count("(") > t.count(")") and t.rfind("(") > t.rfind(")"):
        return True
    last_word = t.split()[-1].lower().strip("\"'”’*_")
    if last_word in _DANGLING_WORDS:
        return True
    if strict:
        last_line = t.split("\n")[-1]
        if _LIST_ITEM_RE.match(last_line) and len(last_line.split()) <= 12:
            return False
        return True
    return False


def repetition_findings(text: str, *, n: int = 4, min_count: int = 3) -> list[str]:
    """Degenerate repetition: a word n-gram seen `min_count`+ times, or a repeated sentence."""
    words = re.findall(r"[a-z0-9']+", (text or "").lower())
    out = []
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    if grams:
        gram, count = grams.most_common(1)[0]
        if count >= min_count:
            out.append(f"repeated {n}-gram x{count}: {' '.join(gram)!r}")
    sentences = [
        " ".join(re.findall(r"[a-z0-9']+", s.lower()))
        for s in re.split(r"(?<=[.!?])\s+|\n+", text or "")
    ]
    seen = Counter(s for s in sentences if len(s.split()) >= 5)
    for s, c in seen.items():
        if c >= 2:
            out.append(f"repeated sentence x{c}: {s[:60]!r}")
    return out


def check_answer(user_text: str, reply: str, final_text: str | None = None) -> dict:
    """Run every check on one answer; see the module docstring for each key."""
    reply = reply or ""
    final = reply if final_text is None else (final_text or "")
    findings: list[str] = []

    imp = impersonation_findings(reply)
    findings += imp
    bp = boilerplate_findings(reply)
    findings += [f"boilerplate: {r}" for r in bp]
    rep = repetition_findings(reply)
    findings += rep
    truncated = looks_truncated(reply, strict=True)
    if truncated:
        findings.append(f"truncated: ends with {reply.rstrip()[-30:]!r}")

    from medchat import safety  # lazy: another module, and heavy checks above don't need it

    disclaimer = safety.DISCLAIMER.strip() in final
    if not disclaimer:
        findings.append("disclaimer missing from the final text")
    tri = safety.triage(user_text or "")
    needed = tri.level in ("emergency", "crisis")
    present = not needed or tri.guidance.strip() in final
    if not present:
        findings.append(f"{tri.level} guidance missing from the final text")
    return {
        "impersonation": bool(imp),
        "boilerplate": bool(bp),
        "repetition": bool(rep),
        "truncated": truncated,
        "disclaimer": disclaimer,
        "emergency_guidance_needed": needed,
        "emergency_guidance_present": present,
        "findings": findings,
    }


def summarize_checks(checks: list[dict]) -> dict:
    """Rates of each boolean check over `checks` (the dicts of `check_answer`)."""
    n = len(checks)
    out: dict = {"checks_n": n}
    for key in CHECK_KEYS:
        values = [bool(c.get(key)) for c in checks if key in c]
        out[f"{key}_rate"] = sum(values) / len(values) if values else float("nan")
    needing = [c for c in checks if c.get("emergency_guidance_needed")]
    out["emergency_guidance_missing_rate"] = (
        sum(not c.get("emergency_guidance_present") for c in needing) / len(needing) if needing else 0.0
    )
    return out
