"""Model output cleaning and final reply assembly."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from medchat.safety.engine import Triage, triage
from medchat.safety.texts import DISCLAIMER

# -----------------------------------------------------------------------------------------------
# Model output cleaning and final reply assembly

# Turn headers the model may leak. Assistant headers are removed (the text after them is the
# reply); a user/system header means the model began writing the next turn: cut there.
_ASSISTANT_HEADER = re.compile(
    r"^[ \t]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:assistant|doctor|chatdoctor|response|answer|bot|ai|model)(?:\*\*)?"
    r"[ \t]*(?::(?:\*\*)?[ \t]*|\n|$)",
    re.IGNORECASE | re.MULTILINE,
)
_USER_HEADER = re.compile(
    r"^[ \t]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:user|patient|human|system|instruction|input|question)(?:\*\*)?"
    r"[ \t]*(?::|\n|$)",
    re.IGNORECASE | re.MULTILINE,
)
_SPECIAL = re.compile(r"<\|[^|<>]{1,40}\|>")
_END_OF_TURN = re.compile(r"<\|(?:eot_id|im_end|end_of_text|endoftext|eom_id|end)\|>|</s>")
# "<|start_header_id|>assistant<|end_header_id|>" and "<|im_start|>assistant": header + role
_HEADER_BLOCK = re.compile(
    r"<\|start_header_id\|>\s*(\w+)\s*<\|end_header_id\|>\s*|<\|im_start\|>\s*(\w+)?[ \t]*\n?", re.IGNORECASE
)


def clean_model_output(text: str, special_tokens: Iterable[str] = ()) -> str:
    """Strip special tokens and leaked role headers; cut where the model starts another turn."""
    text = (text or "").replace("\r\n", "\n")
    # a chat-template header for a user/system turn after some reply text = the next turn: cut
    for m in _HEADER_BLOCK.finditer(text):
        role = (m.group(1) or m.group(2) or "").lower()
        if role and role != "assistant" and _SPECIAL.sub("", text[: m.start()]).strip():
            text = text[: m.start()]
            break
    text = _HEADER_BLOCK.sub("", text)
    # text after an end-of-turn token is not this reply (leading ones are just dropped)
    for m in _END_OF_TURN.finditer(text):
        if _SPECIAL.sub("", text[: m.start()]).strip():
            text = text[: m.start()]
            break
    for tok in special_tokens or ():
        if tok and len(tok) > 1:
            # another template's end-of-turn token (Gemma's "<end_of_turn>", "</s>") ends the reply too
            if re.search(r"eot|end|</s>", tok, re.IGNORECASE) and (i := text.find(tok)) >= 0 and text[:i].strip():
                text = text[:i]
            text = text.replace(tok, "")
    text = _SPECIAL.sub("", text)
    text = re.sub(r"<\|[^>]*$", "", text)  # a special token cut in half by streaming
    # the next user turn written by the model: cut at its header (if there is reply text before it)
    if m := _USER_HEADER.search(text):
        # a user header before any reply text: drop just the header
        text = text[: m.start()] if text[: m.start()].strip() else text[m.end():]
    text = _ASSISTANT_HEADER.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# A model-written disclaimer sentence (ours is added by code, exactly once).
_MODEL_DISCLAIMER = re.compile(
    r"(?:^|(?<=[.!?\n]))[ \t]*(?:\*\*|_)?(?:⚕️?\s*)?(?:disclaimer\b[^\n]*"
    r"|[^.!?\n]*\b(?:not (?:a )?(?:substitute|replacement) for (?:professional )?(?:medical )?(?:advice|care|diagnosis)"
    r"|(?:is|does) not (?:constitute |replace )?(?:professional )?medical advice"
    r"|for (?:general )?informational purposes only)\b[^.!?\n]*[.!?]?)(?:\*\*|_)?",
    re.IGNORECASE,
)


# A heading or lead-in line ("**Treatment:**", "### Dosage", "Prescription:") whose whole section was removed would
# be left dangling: it goes with its section.
_LEAD_IN = re.compile(r"^(?:#{1,6}\s.*|\*\*[^*]+\*\*|__[^_]+__|.*:\W*)$")


def filter_sentences(text: str, streaming: bool = False) -> tuple[str, list[str], list[str]]:
    """Remove the whole sentences that prescribe or impersonate: (text, dosing sentences, impersonation reasons).

    Sentences come from `medchat.sentences` (never cut at "0.5", "e.g." or "Dr."), so nothing is left half. With
    `streaming` (the text is a prefix of a reply still being generated) the unfinished last sentence is held back
    while it may still become a dose or a claim ("Take Amoxil 5", "I am Dr"), so no prefix of a stream shows what
    the full reply removes.
    """
    from medchat.boilerplate import impersonation_reason, may_become_impersonation
    from medchat.dosing import continues_dosing, is_dosing_instruction, may_become_dosing
    from medchat.sentences import rejoin, split_units

    units = split_units(text)
    keep, dosing, impersonation = [], [], []
    previous_was_dose = False
    for unit in units:
        sentence = text[unit.start:unit.end]
        # "Apply it on the face twice daily." right after a removed prescription continues it
        if is_dosing_instruction(sentence) or (previous_was_dose and continues_dosing(sentence)):
            dosing.append(sentence)
            keep.append(False)
            previous_was_dose = True
            continue
        previous_was_dose = False
        if reason := impersonation_reason(sentence):
            impersonation.append(reason)
            keep.append(False)
        elif streaming and not unit.closed and (may_become_dosing(sentence) or may_become_impersonation(sentence)):
            keep.append(False)  # held back: not shown until the sentence ends
        else:
            keep.append(True)
    if all(keep):
        return text, [], []
    # lead-ins whose section is gone: the units after them up to the next lead-in or paragraph break
    for i, unit in enumerate(units):
        if not keep[i] or not _LEAD_IN.match(text[unit.start:unit.end].strip()):
            continue
        section = []
        for j in range(i + 1, len(units)):
            gap = text[units[j - 1].end:units[j].start]
            if section and gap.count("\n") >= 2:
                break
            if _LEAD_IN.match(text[units[j].start:units[j].end].strip()):
                break
            section.append(j)
        if section and not any(keep[j] for j in section):
            keep[i] = False
    return rejoin(text, units, keep), dosing, impersonation


@lru_cache(maxsize=1024)  # streaming: every finished paragraph comes again with each new chunk
def _strip_boilerplate(paragraph: str) -> str:
    from medchat.boilerplate import strip_boilerplate  # lazy: keeps `import medchat.safety` light

    return strip_boilerplate(paragraph).text


def _clean_body(model_text: str, streaming: bool = False) -> str:
    text = clean_model_output(model_text)
    if not text:
        return ""
    from medchat.dosing import ASK_FOR_DOSE

    text = text.replace(DISCLAIMER, "").replace(ASK_FOR_DOSE, "")
    # Whole sentences first: a dose or a claim goes with its sentence (strip_boilerplate would cut a claim out of
    # its sentence and keep the rest, "I am Dr. Smith, a licensed physician." -> "A licensed physician.").
    # Never show a specific dose or schedule: the assistant has examined nobody (medchat.dosing).
    text, prescribed, _ = filter_sentences(text, streaming)
    paragraphs = []
    # cleaned per paragraph so the model's line breaks and lists survive
    for para in re.split(r"\n\s*\n", text):
        para = _MODEL_DISCLAIMER.sub("", para)
        para = _strip_boilerplate(para) if para.strip() else ""
        if para.strip():
            paragraphs.append(para.strip())
    if prescribed:
        paragraphs.append(ASK_FOR_DOSE)
    return "\n\n".join(paragraphs)


def finalize_reply(user_text: str, model_text: str, triage_result: Triage | None = None, *,
                   streaming: bool = False) -> str:
    """The text the app shows: triage guidance, the cleaned model text, the disclaimer (once, last).

    Prefix-consistent: for every prefix of a streamed reply the layout is the same, so the app
    calls this on each chunk. `triage_result` saves re-triaging the same message per chunk.
    `streaming=True` says `model_text` is an unfinished prefix: its last sentence is held back
    while it may still become a dose or a claim ("Take Amoxil 5", "I am Dr"); call once more
    without it when the stream ends, so a last sentence without a full stop is shown.
    """
    t = triage_result if triage_result is not None else triage(user_text or "")
    parts = [t.guidance.strip(), _clean_body(model_text, streaming), DISCLAIMER]
    return "\n\n".join(p for p in parts if p)


def reply_body(model_text: str, streaming: bool = False) -> str:
    """The model's text as the app shows it (cleaned), without guidance or disclaimer: the chat service shows it as
    its own message, apart from what the app adds (`medchat.chat`). `streaming` as in `finalize_reply`."""
    return _clean_body(model_text, streaming)
