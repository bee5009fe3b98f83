"""What the user sees from the safety layer. Written here, by code; never left to the model."""

from __future__ import annotations

LEVELS = ("emergency", "crisis", "urgent", "routine")

# -----------------------------------------------------------------------------------------------
# What the user sees. Written here, by code; never left to the model.

DISCLAIMER = (
    "⚕️ medchat is an AI assistant, not a doctor. This is general information, not a diagnosis or "
    "medical advice. Always consult a qualified healthcare professional; in an emergency call your "
    "local emergency number."
)

EMERGENCY_GUIDANCE = (
    "🚨 **This could be a medical emergency. Call emergency services now** — 911 (US/Canada), "
    "112 (EU), 999 (UK) or your local emergency number. Don't wait for an online answer and don't "
    "drive yourself.\n\n"
    "While you wait:\n"
    "{tip}"
    "- Follow the call handler's instructions and unlock the door for the ambulance.\n"
    "- Stay with the person, or ask someone to stay with you.\n"
    "- If they stop responding and aren't breathing normally, start CPR — the call handler will "
    "talk you through it."
)

CRISIS_GUIDANCE = (
    "💙 **I'm really sorry you're going through this. You don't have to face it alone, and "
    "reaching out matters.** Please talk to someone right now:\n"
    "- **US:** call or text **988** (Suicide & Crisis Lifeline)\n"
    "- **UK & Ireland:** call Samaritans on **116 123** (free, any time)\n"
    "- **Elsewhere:** find a free, confidential helpline at **findahelpline.com**\n\n"
    "If you are in immediate danger or have already hurt yourself, call emergency services now "
    "(911 / 112 / 999 or your local number). If you can, stay near someone you trust and put "
    "distance between yourself and anything you could use to hurt yourself. If this is about "
    "someone else, stay with them if it's safe and help them reach one of these lines."
)

URGENT_GUIDANCE = (
    "⚠️ **Please get this checked soon:** contact your doctor, an urgent care / walk-in clinic or "
    "an out-of-hours service (e.g. NHS 111 in the UK) within the next 24 hours — and call "
    "emergency services if it gets worse or new severe symptoms appear."
)

# First-aid lines for "while you wait", per emergency rule. Only well-established, generic steps.
TIPS = {
    "stroke": "- Note the time the symptoms started — the hospital will need it.\n",
    "heart": (
        "- Sit down and rest. If you're not allergic to aspirin and have some, ask the call "
        "handler about chewing one adult aspirin (300–325 mg).\n"
    ),
    "allergy": (
        "- Use an adrenaline (epinephrine) auto-injector such as an EpiPen now if there is one. "
        "Lie down with legs raised, or sit up if breathing is hard.\n"
    ),
    "breathing": "- Sit upright and loosen tight clothing; use a prescribed reliever inhaler if there is one.\n",
    "choking": (
        "- If they can't cough, speak or breathe: up to 5 firm back blows between the shoulder "
        "blades, then up to 5 abdominal thrusts (chest thrusts for a baby under 1); repeat.\n"
    ),
    "bleeding": (
        "- Press firmly on the wound with a clean cloth and keep pressing; don't remove anything "
        "stuck in it.\n"
    ),
    "unconscious": "- If they are breathing, put them on their side (recovery position) and keep checking their breathing.\n",
    "seizure": (
        "- Move hard objects away and cushion the head; don't hold them down or put anything in "
        "their mouth. Once it stops, roll them onto their side.\n"
    ),
    "poison": (
        "- Keep the packet or bottle to show the paramedics; don't make them vomit. "
        "(US Poison Control: 1-800-222-1222.)\n"
    ),
    "burn": (
        "- Cool the burn under cool (not ice-cold) running water for 20 minutes, take off jewellery "
        "near it, and cover loosely with cling film or a clean plastic bag.\n"
    ),
}



def all_guidance_texts() -> list[str]:
    """Every guidance block `triage` can emit, longest first: what code adds above a reply, so that callers
    (history building, re-finalizing saved replies) can take it out again without re-triaging. A message in
    another language gets one line in that language before the block (or a note alone): those lines are listed
    too, so removing every listed text removes the whole addition."""
    from medchat.safety.language import all_notes  # data-driven; imported late to keep texts import-light

    texts = [_emergency_guidance(tip, crisis) for tip in ("", *TIPS.values()) for crisis in (False, True)]
    texts += [CRISIS_GUIDANCE, URGENT_GUIDANCE, *all_notes()]
    return sorted({t.strip() for t in texts}, key=len, reverse=True)


def guidance_for(level: str, tip: str = "", crisis: bool = False, language_line: str = "") -> str:
    """The block shown above the reply for a triage level: emergency guidance with one first-aid tip (key of TIPS)
    and, with `crisis`, the crisis lines after it; a line in the user's language first when there is one."""
    if level == "emergency":
        text = _emergency_guidance(TIPS.get(tip, ""), crisis)
    else:
        text = {"crisis": CRISIS_GUIDANCE, "urgent": URGENT_GUIDANCE}.get(level, "")
    return f"{language_line}\n\n{text}" if language_line and text else text


def _emergency_guidance(tip: str, crisis: bool) -> str:
    """Emergency guidance with one first-aid tip; with `crisis`, the crisis lines follow (ambulance first)."""
    text = EMERGENCY_GUIDANCE.format(tip=tip)
    return text + "\n\n" + CRISIS_GUIDANCE if crisis else text
