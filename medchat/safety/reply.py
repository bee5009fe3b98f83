"""Model output cleaning and final reply assembly."""

from __future__ import annotations

import re
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


def _clean_body(model_text: str) -> str:
    text = clean_model_output(model_text)
    if not text:
        return ""
    from medchat.boilerplate import strip_boilerplate  # lazy: keeps `import medchat.safety` light
    from medchat.dosing import ASK_FOR_DOSE, strip_dosing

    paragraphs, prescribed = [], False
    # cleaned per paragraph so the model's line breaks and lists survive
    for para in re.split(r"\n\s*\n", text):
        para = para.replace(DISCLAIMER, "").replace(ASK_FOR_DOSE, "")
        para = _MODEL_DISCLAIMER.sub("", para)
        para = strip_boilerplate(para).text if para.strip() else ""
        # Never show a specific dose or schedule: the assistant has examined nobody (medchat.dosing).
        dosing = strip_dosing(para)
        prescribed |= bool(dosing.removed)
        if dosing.text.strip():
            paragraphs.append(dosing.text.strip())
    if prescribed:
        paragraphs.append(ASK_FOR_DOSE)
    return "\n\n".join(paragraphs)


def finalize_reply(user_text: str, model_text: str, triage_result: Triage | None = None) -> str:
    """The text the app shows: triage guidance, the cleaned model text, the disclaimer (once, last).

    Prefix-consistent: for every prefix of a streamed reply the layout is the same, so the app
    calls this on each chunk. `triage_result` saves re-triaging the same message per chunk.
    """
    t = triage_result if triage_result is not None else triage(user_text or "")
    parts = [t.guidance.strip(), _clean_body(model_text), DISCLAIMER]
    return "\n\n".join(p for p in parts if p)
