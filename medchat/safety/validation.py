"""Input validation of user messages."""

from __future__ import annotations

import unicodedata

# -----------------------------------------------------------------------------------------------
# Input validation


class InputError(ValueError):
    """A user message that cannot be sent to the model; str(err) is a friendly message."""


def validate_user_message(text: str, max_chars: int = 4000) -> str:
    """Cleaned message (control characters removed, whitespace trimmed) or InputError.

    HTML is left alone: the UI renders it as text.
    """
    if not isinstance(text, str):
        raise InputError("Please type a message — it was empty.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if not cleaned.strip():
        if text.strip() and cleaned != text:
            raise InputError("Your message contained only control characters. Please type your question as text.")
        raise InputError("Please type a message — it was empty.")
    cleaned = cleaned.strip()
    if len(cleaned) > max_chars:
        raise InputError(
            f"Your message is {len(cleaned)} characters long; the limit is {max_chars} characters. "
            "Please shorten it (a summary of the main symptoms is enough)."
        )
    return cleaned
