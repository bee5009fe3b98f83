"""Language handling of triage (medchat/safety/language.py + engine.py): detection, the per-language lexicon, a
line of advice in the user's language, and the note for a language triage cannot read. Messages are new wording,
not catalogue phrasings."""

from __future__ import annotations

import pytest

from medchat.safety import language, triage
from medchat.safety.saved_replies import strip_app_additions as strip_guidance

FLAGGED = {"emergency", "crisis"}


@pytest.mark.parametrize("text,code", [
    ("my chest hurts when I breathe in", "en"),
    ("tengo fiebre y me duele la cabeza desde ayer", "es"),
    ("j'ai mal au ventre depuis ce matin et je suis fatigué", "fr"),
    ("estou com dor nas costas há uma semana", "pt"),
    ("ich habe seit gestern Kopfschmerzen und mir ist schlecht", "de"),
    ("मुझे दो दिन से बुखार है", "hi"),
    ("عندي صداع منذ يومين", "ar"),
    ("我头疼了两天", "zh"),
    ("頭が痛いです", "ja"),
    ("у меня болит голова", "ru"),
    ("Nina maumivu ya kichwa na homa kwa siku mbili", "sw"),
    ("how do you do CPR on a baby? want to be prepared", "en"),
])
def test_detects_the_language(text, code):
    assert language.detect(text) == code


# The five presentations that must be caught in every supported language, in new wording.
RED_FLAGS = {
    "es": ["siento una presión horrible en el pecho que me baja por el brazo", "a mi abuelo se le torció la boca y no puede hablar",
           "mi bebé se atragantó y no respira", "me corté la muñeca con un cristal y sangra muchísimo sin parar",
           "esta noche me voy a quitar la vida"],
    "fr": ["mon père a une douleur thoracique qui serre très fort", "ma tante a le visage de travers et n'arrive plus à parler",
           "mon fils s'étouffe avec une cacahuète", "il saigne énormément de la jambe",
           "je vais me suicider ce soir"],
    "pt": ["minha mãe está com dor forte no peito e suando", "meu avô ficou com a boca torta e a fala enrolada",
           "o bebê engasgou com leite e não consegue respirar", "cortei a perna e o sangue não para de jorrar",
           "eu vou me matar hoje à noite"],
    "de": ["mein Opa hat plötzlich starke Brustschmerzen", "ihr Gesicht hängt auf einer Seite und sie kann nicht mehr sprechen",
           "mein Sohn hat sich verschluckt und atmet nicht", "die Wunde blutet stark und hört nicht auf",
           "ich will mich heute umbringen"],
    "hi": ["मेरी माँ के सीने में तेज़ दर्द हो रहा है", "दादाजी का चेहरा एक तरफ टेढ़ा हो गया और वो बोल नहीं पा रहे",
           "बच्चा सांस नहीं ले पा रहा है", "हाथ से बहुत खून बह रहा है", "मैं आत्महत्या करना चाहता हूँ"],
    "ar": ["أشعر بألم قوي في صدري", "وجه جدي مائل فجأة ولا يستطيع الكلام", "ابني يختنق ولا يتنفس",
           "عندي نزيف قوي من يدي", "أريد أن أقتل نفسي"],
    "zh": ["我胸口特别疼，还出冷汗", "我奶奶突然嘴歪了，说话不清楚", "孩子被糖噎住了，不能呼吸",
           "腿上的伤口血止不住", "我不想活了，今晚就结束"],
}


@pytest.mark.parametrize("code,text", [(c, t) for c, ts in RED_FLAGS.items() for t in ts])
def test_red_flags_in_other_languages_get_guidance_in_that_language(code, text):
    t = triage(text)
    assert t.level in FLAGGED, t
    assert t.language == code
    line = language.advice_line(code, t.level)
    assert line and t.guidance.startswith(line)  # first the user's language...
    assert "Call emergency services now" in t.guidance or "988" in t.guidance  # ...then the full English guidance


@pytest.mark.parametrize("text", [
    "este trabajo me está matando, ¿cómo descanso mejor?",
    "pour un devoir, quels sont les symptômes d'un AVC ?",
    "mein Hund hat eine Socke gefressen",
    "我爸爸五年前心梗过，现在很好，可以游泳吗？",
])
def test_lookalikes_in_other_languages_stay_calm(text):
    assert triage(text).level not in FLAGGED


def test_unreadable_language_gets_the_multilingual_note():
    t = triage("Nina maumivu ya kichwa na homa kwa siku mbili")  # Swahili: neither rules nor encoder read it
    assert t.level == "routine" and t.language == "sw"
    assert t.guidance.startswith("Ikiwa ni dharura")  # its own line first
    assert language.multilingual_note() in t.guidance and "112" in t.guidance
    # an unknown script gets the multilingual note alone
    t = triage("ምንም አልገባኝም እባክህ እርዳኝ")  # Amharic
    assert t.guidance == language.multilingual_note()


def test_readable_routine_messages_get_no_note():
    assert triage("¿cuánta agua debo beber al día?").guidance == ""
    assert triage("how much water should I drink a day?").guidance == ""


def test_every_language_text_is_stripped_from_history():
    """What triage adds for another language comes out again with the rest of the code-added text."""
    for text in [RED_FLAGS["es"][0], RED_FLAGS["zh"][4], "Nina maumivu ya kichwa na homa kwa siku mbili"]:
        t = triage(text)
        assert strip_guidance(t.guidance + "\n\nThe model's words.") == "The model's words."


def test_lexicon_file_errors_name_the_entry(tmp_path, monkeypatch):
    bad = tmp_path / "languages.yaml"
    bad.write_text("languages:\n  xx:\n    red_flags:\n      - {level: emergency, label: x, pattern: '(unclosed'}\n"
                   "multilingual_note: hi\n", encoding="utf-8")
    monkeypatch.setattr(language, "LANGUAGES_FILE", bad)
    language._tables.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"languages\.xx\.red_flags\[0\]"):
            language.languages()
    finally:
        language._tables.cache_clear()
