"""The model's words of a reply saved as the app showed it (samples.jsonl): for re-finalizing saved samples only.

The live chat never needs this: it keeps the model's text and the app's additions in separate messages
(`medchat.chat`). A saved sample has only the final text, so the known additions are taken out again.
"""

from __future__ import annotations

import re

from medchat.safety.texts import DISCLAIMER, all_guidance_texts

_SEPARATOR_LINE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|—+)\s*$", re.MULTILINE)


def strip_app_additions(reply: str) -> str:
    """The model's own words of a reply that went through ``finalize_reply``: any triage guidance block, the dosing
    note and the disclaimer are removed (every guidance text is known, so the user's message is not needed)."""
    from medchat.dosing import ASK_FOR_DOSE

    text = reply or ""
    for piece in [*all_guidance_texts(), DISCLAIMER, ASK_FOR_DOSE]:
        piece = piece.strip()
        if piece and piece in text:
            text = text.replace(piece, "")
    text = _SEPARATOR_LINE.sub("", text)
    # Emphasis markers left behind by a wrapped disclaimer ("*...*", "_..._").
    text = re.sub(r"(?m)^\s*[*_>]+\s*$", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
