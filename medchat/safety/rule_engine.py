"""The rule layer's engine: normalise, find concepts, fire rules."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from medchat.safety.concepts import CONCEPTS
from medchat.safety.lexicon import (
    ACTUAL, BREAKERS, FRAMES, FUZZY_TARGETS, HUMAN, IDIOMS, NEGATION_WINDOW, NEGATORS, NOW, PAST, PET,
    PHRASE_FIXES, PRESENT, PSEUDO_NEGATIONS, REAL_WORDS, TYPOS,
)
from medchat.safety.rules import RULES, C, E, Rule
from medchat.safety.texts import LEVELS, guidance_for

@dataclass(frozen=True)
class Triage:
    level: str  # "emergency" | "crisis" | "urgent" | "routine"
    reason: str  # short human explanation of what matched (or what was ignored)
    guidance: str  # text shown before the reply; "" for routine
    language: str = "en"  # detected language of the message (ISO 639-1)
    decided_by: str = "rules"  # which layer set the level: rules | learned | lexicon | none


# -----------------------------------------------------------------------------------------------
# Normalisation engine


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (Levenshtein + adjacent swaps), stops early past limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _vocabulary() -> frozenset[str]:
    """Every word the concept patterns spell out, plus the fuzzy targets (words that need no fixing)."""
    words = set(FUZZY_TARGETS | REAL_WORDS)
    for c in CONCEPTS.values():
        for p in c.patterns:
            words.update(re.findall(r"[a-z]{3,}", p.pattern))
    for pattern, _ in IDIOMS:
        words.update(re.findall(r"[a-z]{3,}", pattern))
    return frozenset(words)


VOCAB = _vocabulary()
FUZZY_LIMIT = 2  # the most edits _fix_token allows (words of 9+ letters; 1 below that)


def _deletions(word: str, k: int) -> set[str]:
    """`word` with up to k of its letters deleted (itself included)."""
    out = frontier = {word}
    for _ in range(k):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out = out | frontier
    return out


def _index_by_deletions(targets) -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for t in targets:
        for v in _deletions(t, FUZZY_LIMIT):
            index.setdefault(v, set()).add(t)
    return {v: frozenset(ts) for v, ts in index.items()}


# Two words within k edits (insertions, deletions, substitutions, adjacent swaps) become the same word after at most
# k deletions from each, so only the targets that share a deletion variant with a token can be within its limit:
# those alone are measured. Why: the distance in Python against every target with the token's first letter took
# ~0.25 ms per new word (set P, measured), a message's first triage ~1 ms.
_TARGETS_BY_DELETION = _index_by_deletions(FUZZY_TARGETS)


def _fuzzy_candidates(tok: str, limit: int) -> set[str]:
    return set().union(*(_TARGETS_BY_DELETION.get(v, ()) for v in _deletions(tok, limit)))


@functools.lru_cache(maxsize=2**16)  # a word's fix depends on the word alone; most words recur
def _fix_token(tok: str) -> str:
    """Typo table, stretched letters, g-dropping, then a conservative fuzzy match."""
    if tok in TYPOS:
        return TYPOS[tok]
    if not tok.isalpha() or tok in VOCAB:
        return tok
    if re.search(r"(\w)\1\1", tok):  # "bleeeeding" -> "bleeding" / "heeelp" -> "help"
        two, one = re.sub(r"(\w)\1{2,}", r"\1\1", tok), re.sub(r"(\w)\1{2,}", r"\1", tok)
        tok = two if two in VOCAB or one not in VOCAB else one
        if tok in VOCAB or tok in TYPOS:
            return TYPOS.get(tok, tok)
    if len(tok) >= 5 and tok.endswith("in") and tok + "g" in VOCAB:  # "sweatin", "bleedin"
        return tok + "g"
    if len(tok) < 6 or tok in REAL_WORDS:
        return tok
    limit = FUZZY_LIMIT if len(tok) >= 9 else 1
    # closest first; on a tie the target of the same length (a swapped letter, not a missing one)
    hits = sorted(
        (d, abs(len(t) - len(tok)), t) for t in _fuzzy_candidates(tok, limit)
        if t[0] == tok[0] and (d := _osa_distance(tok, t, limit)) <= limit
    )
    # only an unambiguous best candidate is used
    return hits[0][2] if hits and (len(hits) == 1 or hits[0][:2] < hits[1][:2]) else tok


def normalize(text: str) -> list[str]:
    """Text -> list of normalised sentences (lowercase words and " , " clause marks)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = re.sub(r"[’‘`´ʼ]", "'", text)
    text = re.sub(r"\bod'e?d\b", "overdosed", text)  # "she OD'd" (before "odd" is formed)
    text = re.sub(r"(\w)'(\w)", r"\1\2", text).replace("'", " ").replace("&", " and ")
    sentences = []
    # sentence breaks: . ! ? ; and newlines, but not the point of "38.5"
    for part in re.split(r"[!?;\n]+|\.(?!\d)|(?<!\d)\.", text):
        part = re.sub(r"[,:()\[\]–—…\"]|\s-+\s", " , ", part)
        tokens = []
        for tok in re.findall(r"\d+(?:\.\d+)?|[a-z]+|,", part):
            tokens.extend(_fix_token(tok).split())
        s = " ".join(tokens)
        for pattern, repl in PHRASE_FIXES:
            s = re.sub(pattern, repl, s)
        s = re.sub(r"(?:, )+,", ",", s).strip(" ,")
        if s:
            sentences.append(s)
    return sentences


def _prepare(sentence: str) -> tuple[str, bool]:
    """The sentence with figures of speech rewritten away and pseudo-negations marked; and whether an idiom was
    rewritten (a rewrite changes the sentence at its first idiom that matches, so this is "any idiom matches")."""
    idiom = False
    for pattern, repl in IDIOMS:
        rewritten = re.sub(pattern, repl, sentence)
        idiom = idiom or rewritten != sentence
        sentence = rewritten
    return re.sub(PSEUDO_NEGATIONS, "unsure", sentence), idiom


def _negated(sentence: str, start: int) -> bool:
    toks = sentence[:start].split()
    for i in range(len(toks) - 1, max(len(toks) - NEGATION_WINDOW, 0) - 1, -1):
        if toks[i] in BREAKERS:
            return False
        # "no one would miss me": "no one" is a subject, not a negation
        if toks[i] in NEGATORS and not (toks[i] == "no" and toks[i + 1:i + 2] == ["one"]):
            return True
    return False


def _context(pattern: re.Pattern | None, sentence: str) -> bool:
    """A context pattern applies only where it is not negated: "hasn't touched alcohol" explains nothing."""
    return pattern is not None and any(not _negated(sentence, m.start()) for m in pattern.finditer(sentence))


def _clause(sentence: str, start: int, end: int) -> str:
    left = sentence.rfind(" , ", 0, start)
    right = sentence.find(" , ", end)
    return sentence[left + 1 if left >= 0 else 0 : right if right >= 0 else len(sentence)]


def _about_pet(sentence: str, start: int) -> bool:
    """Is the animal the subject of the match at `start`? The nearest subject before it decides
    ("the dog is acting weird too and my youngest won't wake up": the child is the patient); with
    no subject before it, the whole sentence decides, as before."""
    if not PET.search(sentence):
        return False
    marks = [(m.start(), True) for m in PET.finditer(sentence, 0, start)]
    marks += [(m.start(), False) for m in HUMAN.finditer(sentence, 0, start)]
    if marks:
        return max(marks)[1]
    return not HUMAN.search(sentence)


# "what should I do if a kid starts choking?" is a question to prepare for -- a study frame only when the
# message looks ahead ("starting babysitting next month", "just in case"): asked alone it may be happening now.
HYPOTHETICAL_I = re.compile(
    r"\b(?:what (?:should|would|do|can|could) i do|how (?:do|would|should|can|could) i (?:help|handle|deal with|treat))"
    r"(?: \w+){0,2} (?:if|when|in case)\b"
)
FUTURE = re.compile(
    r"\b(?:next (?:week|month|year|term|summer|weekend)|starting|about to start|going to be|will be|upcoming|in case|"
    r"be prepared|be ready|prepare|before i start|babysit\w*|nanny|new job|first aid|course|training|ever happens)\b"
)
# Hyperbole: "I swear I want to die lol" about a crashed spreadsheet. Only the bare wish (not a plan, method
# or anything said to be meant), only with laughter in the same sentence and an everyday cause in the message.
LAUGH = re.compile(r"\b(?:lol|lols|lmao|lmfao|rofl|haha\w*|hehe\w*|jk|xd|ffs)\b")
MUNDANE = re.compile(
    r"\b(?:excel|spreadsheets?|computer|laptop|pc|phone|printer|wifi|internet|homework|exams?|essays?|assignments?|"
    r"code|coding|bug|game|match|team|boss|meeting|traffic|train|bus|emails?|files?|photos?|deadline|mondays?|"
    r"hair|haircut|outfit|crush|date|texts?|group chat|tiktok|netflix|episode|season|finale|cake|recipe|dinner|"
    r"printer|software|update|crashed|deleted|lost (?:my|all)|unsaved)\b"
)
SERIOUS = re.compile(
    r"\b(?:unsure joking|unsure kidding|unsure joke|seriously|for real|really want|i mean it|mean it|plan\w*|"
    r"for (?:weeks|months|years|ages)|every day|all the time|tonight|pills?|tablets?|note|honestly not)\b"
)
HYPERBOLE_MATCH = re.compile(r"^(?:wants?|wanted|wanting) to (?:die|be dead)$|^kill(?:ing)? myself$")


def _hyperbole(sentence: str, text_all: str, match: str) -> bool:
    return bool(HYPERBOLE_MATCH.match(match) and LAUGH.search(sentence) and MUNDANE.search(text_all)
                and not SERIOUS.search(text_all))


def _find_concepts(text: str) -> tuple[dict[str, str], list[str]]:
    """Concepts present in `text` -> the words that matched; plus notes on matches that were dropped."""
    prepared = [_prepare(s) for s in normalize(text)]
    sentences = [s for s, _ in prepared]
    # a figure of speech rewritten away ("dying to know", "stroke of luck"): noted, so that the learned signal
    # (which reads topics, not idioms) needs a clear margin to overrule it
    idioms = ["figure of speech (idiom)"] if any(idiom for _, idiom in prepared) else []
    whole = " . ".join(sentences)
    looks_ahead = bool(FUTURE.search(whole))
    framed = [bool(FRAMES.search(s) or (looks_ahead and HYPOTHETICAL_I.search(s))) for s in sentences]
    actual = [bool(ACTUAL.search(s)) for s in sentences]
    message_is_study = any(framed) and not any(actual)
    found: dict[str, str] = {}
    dropped: list[str] = []
    for s, is_framed, is_actual in zip(sentences, framed, actual):
        for name, c in CONCEPTS.items():
            if not c.any_pattern.search(s):
                continue
            for pattern in c.patterns:
                for m in pattern.finditer(s):
                    if c.context:
                        found.setdefault(name, m.group(0))
                        break
                    why = None
                    if _negated(s, m.start()):
                        why = "negated"
                    elif _context(c.unless, s):
                        why = "explained by context"
                    elif _context(c.recurring, s) and not NOW.search(s):
                        why = "recurring, not happening now"
                    elif PAST.search(clause := _clause(s, m.start(), m.end())) and not PRESENT.search(clause):
                        why = "past event"
                    elif not c.crisis and (message_is_study or (is_framed and not is_actual)):
                        why = "study/hypothetical question"
                    elif not c.crisis and _about_pet(s, m.start()):
                        why = "about an animal"
                    elif name == "suicidal" and _hyperbole(s, whole, m.group(0)):
                        why = "joking hyperbole"
                    if why is None:
                        found.setdefault(name, m.group(0))
                        break
                    dropped.append(f"{c.label} ({why})")
                if name in found:
                    break
    return found, list(dict.fromkeys(dropped + idioms))



def _guidance(level: str, fired: list[Rule]) -> str:
    tip = next((r.tip for r in fired if r.level == E and r.tip), "")
    # e.g. an overdose taken to die: ambulance first, then crisis lines
    return guidance_for(level, tip, crisis=any(r.level == C for r in fired))


@dataclass(frozen=True)
class RuleFindings:
    triage: Triage
    tip: str  # first-aid tip key of the first emergency rule that fired ("" if none)
    crisis_too: bool  # an emergency rule and a crisis rule both fired
    dropped: tuple[str, ...]  # why matches were ignored: "negated", "about an animal", ...


def rule_triage(text: str) -> Triage:
    """The rule layer alone: emergency / crisis / urgent / routine from English concepts and rules.
    `medchat.safety.triage` combines it with the learned signal and the language lexicon (engine.py)."""
    return rule_findings(text).triage


def rule_findings(text: str) -> RuleFindings:
    """The rule layer's verdict plus what engine.py needs to combine it: the tip and why matches were ignored."""
    found, dropped = _find_concepts(text or "")
    present = set(found)
    fired = [r for r in RULES if r.fires(present)]
    whys = tuple(dict.fromkeys(d[d.rfind("(") + 1:-1] for d in dropped))
    if not fired:
        reason = "no warning signs found"
        if dropped:
            reason += "; ignored: " + ", ".join(dropped[:4])
        return RuleFindings(Triage("routine", reason, ""), "", False, whys)
    level = min((r.level for r in fired), key=LEVELS.index)
    # reasons: the deciding level first, then a crisis that rides along with an emergency
    shown = [r for r in fired if r.level == level] + [r for r in fired if level == E and r.level == C]
    parts: dict[str, str] = {}  # label -> "label: evidence", the first rule with each label
    for r in shown:
        if r.label not in parts:
            parts[r.label] = f"{r.label}: " + " + ".join(CONCEPTS[c].label for c in r.evidence(present))
    tip = next((r.tip for r in fired if r.level == E and r.tip), "")
    return RuleFindings(Triage(level, "; ".join(list(parts.values())[:3]), _guidance(level, fired)), tip,
                        level == E and any(r.level == C for r in fired), whys)
