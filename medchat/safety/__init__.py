"""Safety layer: triage, disclaimer, input validation, output cleaning, final reply assembly.

One module per concern: `texts` (what the user sees), `validation` (user input), `lexicon`, `concepts`,
`rules` and `rule_engine` (the precise rule layer of triage), `catalogue` + `learned` (the red-flag catalogue in
data/catalogue/*.yaml and the learned signal over it), `language` (detection, lexicon, notes; data/languages.yaml),
`engine` (the three combined: `triage`), `reply` (output cleaning and reply assembly), `report` (the CLI).

Medical safety is a product feature, so none of it is left to the model:

- `triage(text)` reads the *user's* message (rules, a learned nearest-exemplar signal over the red-flag
  catalogue, a per-language lexicon; engine.py; offline, CPU) and says whether it looks like an emergency,
  a mental-health crisis, something to see a doctor about within a day, or routine. Emergency / crisis
  guidance is shown first whatever the model then says. `warm_up()` loads the learned signal at app start.
- `finalize_reply(...)` builds the text the app shows: guidance, the cleaned model text (special
  tokens, leaked role headers, doctor claims and signatures removed), then the disclaimer,
  exactly once, always last. It is cheap and prefix-consistent, so the app calls it on every
  streamed chunk.
- `validate_user_message(...)` rejects empty / over-long input and drops control characters.

How the rule layer works (read top to bottom, the tables are the knowledge, the engine is ~100 lines):

1. normalise: lowercase, drop apostrophes ("can't" -> "cant"), split into sentences, fix common
   typos from a table ("pian" -> "pain"), g-dropping ("sweatin"), stretched letters
   ("bleeeeding") and, conservatively, one-letter slips of known medical words ("cheast").
2. rewrite hyperbole idioms to neutral words ("this homework is killing me", "dying to know").
3. find CONCEPTS (symptoms in lay wording) in each sentence. A concept is written as word
   *classes*, not phrases (any face part + any droop word; any household product class + any
   swallowing verb; any person + "wants to die"), so new wording of a known sign still matches.
   A match is skipped when it is
   - negated just before it in the same clause ("no chest pain"; "no one" is a subject, not a negation),
   - explained by context in the sentence ("slurring" when drunk; an explaining context that is
     itself negated, "hasn't touched alcohol", explains nothing),
   - described as a recurring / conditional pattern ("sometimes I can't breathe when I'm stressed",
     "my lips swell whenever I eat strawberries") unless the sentence says it is happening now,
   - in a clause about the past ("had a heart attack 5 years ago") unless the clause says it is
     happening again / now,
   - in a study / hypothetical / fiction question ("for my nursing exam, what are the signs of a
     stroke?") unless the message also describes a real person right now. Crisis concepts are
     never dropped for framing: a crisis line shown to a student costs little.
   - about an animal ("my dog is choking"): decided by the nearest subject before the match, so in
     "the dog is acting weird and my youngest won't wake up" the child's sign still counts.
4. RULES combine co-occurring concepts (symptom clusters) into a level; the highest level wins.
   An emergency that also matches a crisis (an overdose taken "because I want to die") gets the
   emergency guidance followed by the crisis lines.

Run `python -m medchat.safety --report [FILE]` to see recall / false alarms on labelled cases.
"""

from medchat.safety.reply import clean_model_output, finalize_reply
from medchat.safety.report import load_cases, score_cases
from medchat.safety.engine import Triage, triage, warm_up
from medchat.safety.texts import (
    CRISIS_GUIDANCE,
    DISCLAIMER,
    EMERGENCY_GUIDANCE,
    LEVELS,
    TIPS,
    URGENT_GUIDANCE,
    all_guidance_texts,
)
from medchat.safety.validation import InputError, validate_user_message

__all__ = [
    "Triage",
    "triage",
    "warm_up",
    "LEVELS",
    "TIPS",
    "DISCLAIMER",
    "EMERGENCY_GUIDANCE",
    "CRISIS_GUIDANCE",
    "URGENT_GUIDANCE",
    "all_guidance_texts",
    "finalize_reply",
    "clean_model_output",
    "InputError",
    "validate_user_message",
    "load_cases",
    "score_cases",
]
