"""Round 11: the lexicon reads how long a child has had a fever apart from how old a baby is. (The combiner's raises
bounded by the rules' framing: tests/test_safety.py's pet test and tests/test_triage_round6.py's idioms.)"""

from __future__ import annotations

import pytest

from medchat.safety import language
from medchat.safety.engine import triage

INFANT_FEVER = "fever in a baby under 3 months"


def _lexicon_labels(text: str) -> list[str]:
    return [f.label for f in language.red_flags(text, language.detect(text))]


@pytest.mark.parametrize("text", [
    "Meine Tochter (4) hat seit 2 Tagen Fieber, trinkt aber gut",
    "Mi hijo lleva 3 días con fiebre de 38, come bien",
    "Mon fils a de la fièvre depuis 3 jours, 38,5",
    "Meu filho está com febre há 3 dias, 38 graus",
])
def test_days_of_fever_in_an_older_child_are_not_a_newborn_fever(text):
    # "seit 3 Tagen" / "lleva 3 días" / "depuis 3 jours" / "há 3 dias" say how long, not how old
    assert INFANT_FEVER not in _lexicon_labels(text)


@pytest.mark.parametrize("text", [
    "Unser Baby ist 10 Tage alt und hat 38,2 Fieber",
    "Mi bebé de 10 días tiene fiebre de 38",
    "mi bebé tiene 3 semanas y 38 de fiebre",
    "mon bébé de 12 jours a 38 de fièvre",
    "minha bebê de 15 dias está com febre de 38",
])
def test_a_baby_days_or_weeks_old_with_fever_is_still_an_emergency(text):
    assert INFANT_FEVER in _lexicon_labels(text)
    assert triage(text).level == "emergency"
