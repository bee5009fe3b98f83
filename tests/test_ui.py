"""The chat window's display codec: text shows as text, and what comes back from the browser is exactly what
was typed or generated."""

from __future__ import annotations

import pytest

from medchat.ui import display_decode, display_encode

CASES = [
    'Plain <b>bold</b> <img src=x onerror="alert(1)"> and ![pic](http://evil.example/p.png)',
    "I typed &lt; and &amp; and &#33;[ literally, plus 5 < 6 & 7 > 3",
    "Code stays: `<b>x</b>` and\n```\n<script>alert(1)</script> & ![a](b)\n```\nafter <i>",
    "an unclosed ``` fence <b> & more",
    "",
]


@pytest.mark.parametrize("text", CASES)
def test_the_codec_is_exact_and_leaves_no_live_markup(text):
    shown = display_encode(text)
    assert display_decode(shown) == text
    outside_code = shown.split("`")[0]
    assert "<" not in outside_code and "![" not in outside_code


def test_code_spans_are_shown_verbatim():
    assert display_encode("use `a<b && c`") == "use `a<b && c`"
    assert display_encode("<b>") == "&lt;b>"
