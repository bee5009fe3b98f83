"""Consultation-site boilerplate: the patterns, a conservative stripper and detectors.

Replies scraped from Q&A sites (HealthCareMagic, iCliniq, ChatDoctor, ...) wrap the medical
advice in the site's house style. A model fine-tuned on them learns to greet with the site's
name, sign as a named doctor and close with "Hope I have answered your query" -- replies that
impersonate a doctor or a site are defects. This module is the single home of those patterns:
`medchat.data` uses `strip_boilerplate` to clean training replies, `medchat.answer_checks`
uses `impersonation_findings` / `boilerplate_findings` to score generated answers, and the
live reply filter can reuse the same compiled constants.

Design: the stripper cuts only what is boilerplate and keeps every clause that carries
content. Line and paragraph breaks are kept. It works in these passes:

1. ``link`` (on the raw text): URLs, ``www.`` addresses, bare ``.com/.org/.net`` domains,
   e-mail addresses and phone numbers (10+ digits).
2. **Spacing normalisation** (not a rule, nothing removed): scraped replies glue sentences
   ("HCM.It seems", "cloths.hope this helps", "healthcaremagicThis", "Thank youDr X",
   "creamI hope", "the procedure Hope this helps"); a space (or ". ") is inserted so the
   patterns below see word and sentence boundaries. A lowercase run must be 3+ letters, so
   "iCliniq" and "e.g.x" stay whole.
3. ``doctor_claim``: first-person claims of being a doctor are cut out of the sentence ("i am
   Dr. Das", "I'm a dermatologist and", "As a doctor, I ...", "If you were my patient,", "If I was the treating doctor") and
   "my patients" / "in my (clinical) practice" / "my clinic" are depersonalised ("patients",
   "in practice", "a clinic"). Runs before the signature pass so "I am Dr. X" is not left as
   "I am".
4. ``signature`` (end of text): "Dr." plus a name and credentials with no sentence words
   after it ("Regards, Dr. Asmeet Kaur Sawhney, Dermatologist", "Dr. Ilyas Patel MD",
   "DrSudarshan MD Dermatology", a clinic address), and "Regards, <Name> MD" (a credential is
   required when there is no "Dr"). "... as your doctor prescribes" is prose, not a signature.
5. **Openers** (at the start, repeated until nothing fires)

   - ``greeting``: a leading salutation, with the patient's name if any ("Hi Dear,",
     "Hello Simran,", "HI", "hello khusbu, [welcome to ...]"). Harmless on its own, so
     `boilerplate_findings` ignores it. "Hello, There are ..." keeps "There".
   - ``site_welcome``: "Welcome to HealthcareMagic / HCM / H.C.M. / Chat Doctor / 'Ask A
     Doctor' service / the forum", "Well come to HCM", a bare "Welcome and ...".
   - ``thanks_opener``: "Thanks for your query / for posting / for writing to us at HCM /
     for using ...", made only of boilerplate words, so the cut never reaches content.
   - ``query_review``: "I have gone through (evaluated, reviewed) your query (and)", "I have
     reviewed your query and here is my advice", "I will suggest you the best possible
     treatment options".
6. **Anywhere, clause by clause** (clauses split at , ; : and or/but/and/so)

   - ``contact_ad``: a clause that advertises the site or asks the reader to contact this
     particular doctor ("you can reach me directly through the link below", "rate my answer",
     "premium features of this website", "mail us at", "send me your pictures", "please
     revert back", "get back to me with", "call me on", "follow up on healthcaremagic", "visit
     my clinic"). That clause and the rest of its sentence (which continues the request:
     "... so that I can help you better") are dropped; earlier clauses stay ("Please consult
     your dermatologist or use premium features ..." keeps "Please consult your
     dermatologist"). A long run-on clause keeps its start up to a soft boundary ("it would",
     "if", "please") just before the trigger.
   - ``closer``: a clause that is *entirely* a stock closer ("Hope I have answered your
     query", "hope this helps", "Hope you get better", "let me know if I can assist you
     further", "feel free to ask me again", "(if) you require any further assistance", "I will
     be available to answer your follow up queries"). Closers are matched against a whole
     clause made only of boilerplate words, so "I hope the cream helps your skin" (content
     words) is never touched.
   - ``site_mention``: a clause that names a consultation site and little else ("Thank you for
     choosing HealthcareMagic") is dropped; a site name left inside a content clause is cut as
     a phrase.
7. **At the end** (repeated until nothing fires)

   - ``signoff``: trailing clauses such as "Take care", "Regards", "Thanks (a lot)", "Best
     wishes", "Wish you good health (always)", "Good luck", "All the best", "Get well soon",
     "Have a nice day", "Our best wishes", "Bye", "Ok" -- only at the end, because "take care
     to avoid sunburn" mid-text is advice. Also an unpunctuated tail glued to the last
     sentence ("... if it persists take care", "... --regards").
   - ``closer`` at the end as above, and ``signature`` again for a bare 2-4 word name left
     after a removed sign-off ("... link. Hardik Pitroda").

Everything else is kept verbatim. The first letter is re-capitalised when an opener was cut
from the middle of a sentence ("I have gone through your query and hair loss is ..." ->
"Hair loss is ..."). The function is idempotent up to spacing.

`impersonation_findings` reports what still impersonates after cleaning: a named site, a
named or signing doctor, a first-person doctor claim. "See a doctor" / "your doctor" are
fine. `boilerplate_findings` reports leftover site greetings, closers, sign-offs, links and
ads (a plain "Hello" is not a finding).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

__all__ = [
    "CleanResult",
    "normalize_spacing",
    "strip_boilerplate",
    "impersonation_findings",
    "boilerplate_findings",
    "SITE_NAME_PATTERN",
    "SITE_NAME_RE",
    "HCM_SITE_CONTEXT_RE",
    "GREETING_RE",
    "SITE_WELCOME_RE",
    "THANKS_OPENER_RE",
    "QUERY_REVIEW_RE",
    "CLOSER_PATTERN",
    "SIGNOFF_PATTERN",
    "BOILERPLATE_CLAUSE_RE",
    "CONTACT_AD_RE",
    "LINK_RE",
    "DOCTOR_CLAIM_RE",
    "NAMED_DOCTOR_RE",
    "SIGNATURE_LEADIN_PATTERN",
    "RULES",
    "FINDING_RULES",
]

# All rule names `strip_boilerplate` can report, in the order of the module docstring.
RULES = (
    "link",
    "contact_ad",
    "doctor_claim",
    "closer",
    "site_mention",
    "greeting",
    "site_welcome",
    "thanks_opener",
    "query_review",
    "signature",
    "signoff",
)
# Rules that are defects when they fire on a generated answer (a plain "Hello," is not).
FINDING_RULES = tuple(r for r in RULES if r != "greeting")

_I = re.IGNORECASE
# Lookahead "word boundary or a glued capitalised word" -- scraped text has "HCMI really",
# "healthcaremagicThis". Scoped (?-i:...) keeps the capital test case-sensitive under re.I.
_END = r"(?:\b|(?=(?-i:[A-Z])))"
_PUNCT_TAIL = r"[\s,.!:;\-–—…'\"‘’“”]*"

# --------------------------------------------------------------------------------------
# Site names
# --------------------------------------------------------------------------------------
# Consultation / Q&A sites whose names must never appear in a reply. Spelling variants seen
# in scraped data ("health care magic", "healthcaremagic.com", "Chat Doctor"). "HCM" is NOT
# here: it is also the abbreviation of hypertrophic cardiomyopathy, so it only counts as a
# site in site contexts (HCM_SITE_CONTEXT_RE / the opener patterns).
SITE_NAME_PATTERN = (
    r"(?:health[\s-]?[a-z]{0,5}[\s-]?magic|i\s?cliniq|chat\s?doctor|practo|lybrate|justanswer|docsapp"
    r"|healthtap|medhelp|doctor\s?spring|zocdoc|mfine|ask\s?the\s?doctor"
    r"|['‘’\"]?ask\s+a\s+doctor['‘’\"]?\s+service)"
    r"(?:\s*\.\s*(?:com|in|org|net))?" + _END
)
SITE_NAME_RE = re.compile(r"\b" + SITE_NAME_PATTERN, _I)
# Site name including "HCM" -- only used right after "welcome to", "posting on", ... where
# it cannot be the cardiomyopathy.
_SITE_OR_HCM = (
    r"(?:" + SITE_NAME_PATTERN + r"|HCM" + _END + r"|H\.\s?C\.\s?M\.?|this\s+(?:forum|site|website|platform|service)"
    r"|the\s+(?:forum|website|platform)\b|the\s+site(?=\s*[.!,]|\s*$))"
)
HCM_SITE_CONTEXT_RE = re.compile(
    r"\b(?:welcome|well\s?come|posting|posted|writing|write|asking|ask|query|question|using|"
    r"choosing|contacting|consulting|follow\s*-?\s*up|trusting)\b(?:\s+\w+){0,3}?\s+"
    r"(?:to|on|at|in|with|through|via)?\s*HCM" + _END
    + r"|\bHCM\s+(?:forum|team|service|website|site|platform|doctors?)\b"
    r"|\b(?:thanks?|thank\s*you)\s+(?:for\s+(?:using|choosing)\s+)?HCM" + _END,
    _I,
)

# --------------------------------------------------------------------------------------
# Openers (anchored at the start of the remaining text)
# --------------------------------------------------------------------------------------
GREETING_RE = re.compile(
    r"^\W*(?:hi+|hello+|hey+|hii+|(?:my\s+)?dear|greetings|namaste|good\s+(?:morning|afternoon|evening|day))"
    r"(?:\b|(?=(?-i:[A-Z][a-z])))"  # "HIWell come", "HelloThanks"
    # "Hi there," / "Hi Dear Welcome" but not "Hello, There are ..."
    r"(?:[\s,]*(?:dear|there|friend|sir|madam|ma'?am|mam|buddy|user|all|patient)\b"
    r"(?=\s*[,.!:;]|\s*$|\s+(?-i:[A-Z])|(?-i:[A-Z])))?"
    # a single name right after the salutation, followed by punctuation: "Hi Simran,"
    r"(?:\s+(?!and\b|welcome\b|thanks?\b|thank\b)(?-i:[A-Z])[a-z]+(?=\s*[,.!]))?"
    + _PUNCT_TAIL,
    _I,
)
SITE_WELCOME_RE = re.compile(
    r"^(?:and\s+)?(?:a\s+)?(?:very\s+)?(?:warm\s+)?(?:welcome|well\s?come)\s+(?:back\s+)?(?:to|t|on|at)\s+"
    r"(?:the\s+)?" + _SITE_OR_HCM
    + r"(?:\s*(?:forum|team|service|website|site|platform))?" + _PUNCT_TAIL
    # a bare "Welcome and thanks for posting ..." / "Welcome!" opener
    + r"|^(?:and\s+)?welcome\b(?!\s+(?:to|t|on|at|back)\b)(?:\s+and\b)?" + _PUNCT_TAIL,
    _I,
)
# Words a "thanks for ..." opener is made of; anything else (a content word) stops the match
# so the cut never reaches the medical text.
_THANKS_BAG = (
    r"your|the|ur|this\s+(?:query|question|forum|site|platform)|posting|posted|writing|write|asking|choosing|using|contacting|"
    r"sharing|trusting|consulting|query|queries|question|questions|concern|concerns|in|here|to|us|"
    r"on|at|me|with|detailed|history|details|information|info|putting|forward|bringing|up|"
    r"reaching|out|a|your|health|problem|valuable|kind|nice|medical|forum|site|website|service|"
    r"platform|again|back|and|the|for|query\.|letting|know|detail|describing|providing|"
    r"giving|brief|case|answer|reply|response|message|post"
)
THANKS_OPENER_RE = re.compile(
    r"^(?:and\s+)?(?:many\s+)?(?:thanks?|thank\s*(?:you|u)|thnx|thx|thanx)"
    r"(?:\s+(?:so|very)\s+much|\s+a\s+lot)?\s+(?:for|4)"
    r"(?:\s+(?:(?:" + _THANKS_BAG + r")\b|" + _SITE_OR_HCM + r"))+" + _PUNCT_TAIL,
    _I,
)
# "hello khusbu, welcome to HCM": a short salutation (any name) right before a site welcome.
_GREETING_BEFORE_WELCOME_RE = re.compile(
    r"^\W*(?:hi+|hello+|hey+|dear|greetings|namaste)\b[^!?\n]{0,40}?"
    r"(?=(?:and\s+)?(?:welcome|well\s?come)\s+(?:back\s+)?(?:to|t|on|at)\s)",
    _I,
)
# Unpunctuated sign-off glued to the last sentence: "... if you have more problems take care".
_TRAILING_UNIT = (
    r"(?:ok(?:ay)?\W*)?(?:take\s*care|thanks?(?:\s+(?:a\s+lot|very\s+much|so\s+much))?|thank\s*(?:you|u)|regards|bye|"
    r"good\s+luck|all\s+the\s+best|have\s+a?\s*nice\s+day|get\s+well\s+soon|cheers|"
    r"thanks?\s+for\s+(?:trusting|choosing|asking|using|writing|posting|consulting)(?:\s+(?:us|me|"
    + SITE_NAME_PATTERN + r"|HCM))?|(?:our|my)\s+best\s+wishes|with\s+(?:good|best)\s+(?:health\s+)?wishes|"
    r"(?:i\s+)?wish(?:ing)?\s+you\s+(?:a\s+)?(?:good|best|speedy|quick)\s+(?:of\s+)?(?:health|recovery|luck)(?:\s+always)?)"
)
_TRAILING_SIGNOFF_RE = re.compile(
    r"(?:(?<=[a-z0-9)])\s+|\s*-{2,}\s*)" + _TRAILING_UNIT + r"(?:[\s,.!&-]+(?:and\s+)?" + _TRAILING_UNIT + r")*\W*$",
    _I,
)
QUERY_REVIEW_RE = re.compile(
    r"^(?:i\s+|we\s+)?(?:have\s+|had\s+)?(?:carefully\s+|thoroughly\s+)?"
    r"(?:gone\s+through|go\s+through|went\s+through|read|reviewed|noted|seen|checked|studied|understood|evaluated)\s+"
    r"(?:through\s+)?(?:your|ur|the|all\s+the|all\s+your)\s+"
    r"(?:query|queries|question|questions|post|message|case|history|details|complaints?|concern)"
    r"(?:\s+(?:in\s+detail|carefully|thoroughly|completely))?"
    r"(?:\s+and\s+here\s+is\s+my\s+(?:advice|opinion|reply|answer))?"
    r"(?:[\s,.!]+and\b)?" + _PUNCT_TAIL
    + r"|^i\s+will\s+(?:suggest|give|tell)\s+you\s+the\s+best\s+possible\s+(?:treatment\s+)?(?:options?|advice)"
    + _PUNCT_TAIL,
    _I,
)

# --------------------------------------------------------------------------------------
# Closers and sign-offs (matched against a whole clause)
# --------------------------------------------------------------------------------------
# Vocabulary of "hope ..." / "let me know ..." closers. A clause made only of these words
# carries no medical content.
_CLOSER_BAG = (
    r"i|this|that|it|my|the|above|information|info|answer|answers|answered|reply|advice|"
    r"suggestions?|explanation|have|has|had|will|would|should|may|might|could|can|be|been|is|"
    r"was|were|am|are|r|to|you|u|ur|your|yours|query|queries|questions?|concerns?|doubts?|"
    r"problems?|issues?|all|of|fully|completely|satisfactorily|adequately|properly|well|helps?|"
    r"helped|helpful|useful|informative|addressed|resolved?|solved?|solves|cleared|clears|"
    r"clarified|clarifies|explained|satisfied|got|get|gets|found|find|now|already|some|extent|"
    r"take|takes|care|in|detail|both|and|ok|okay|further|any|more|other|additional|assist|need|"
    r"require|anything|else|there|clarification|details|if|case|incase|again|for|with|me|us|"
    r"back|here|follow|up|followup|follow-up|later|free|feel|ask|contact|write|reach|message|"
    r"ping|discuss|revert|which|also|much|lot|a|just|wish|glad|happy|so|on|about|regarding|"
    r"same|through|by|service|we|do|let|know|waiting|available|hear|from|soon|best|possible|"
    r"given|provided|hopefully|good|great|day|satisf(?:y|ies|ied|actory)|willing|give|able|i've|ive|these|informations?|benefit|benefits|treatment|recovery|"
    r"fine|better|improve|recover|well|feel|assistance|future|unclear|clear|confusing|doubtful|answering|thing|things"
)
_BAG_WORDS = r"(?:\s+(?:" + _CLOSER_BAG + r")\b)"
CLOSER_PATTERN = (
    r"(?:"
    # "(I) hope ... answered / helps / resolved ..." -- bag words only
    r"(?:(?:i|we)\s+)?(?:do\s+)?(?:sincerely\s+|really\s+|truly\s+)?(?:hope|wish)" + _BAG_WORDS + r"{1,18}"
    # "let me know if I can assist you further"
    r"|(?:please\s+|do\s+|kindly\s+)?let\s+(?:me|us)\s+know" + _BAG_WORDS + r"{0,18}"
    # "(if you have more questions) feel free to ask/contact me again"
    r"|(?:(?:if|in\s+case|incase)" + _BAG_WORDS + r"{0,10}\s*,?\s*)?(?:please\s+|do\s+)?feel\s+free\s+to\s+\w+"
    + _BAG_WORDS + r"{0,14}"
    # "(if you have any further queries) you can ask/contact me (again)"
    r"|(?:(?:if|in\s+case|incase|for)" + _BAG_WORDS + r"{1,10}\s*,?\s*)?(?:you\s+(?:can|may)\s+|please\s+|do\s+)?"
    r"(?:ask|contact|write\s+to|message|consult)\s+(?:me|us)" + _BAG_WORDS + r"{0,10}"
    # "(if) you require any further assistance in future"
    r"|(?:(?:if|in\s+case|incase)\s+)?you\s+(?:require|need|have)" + _BAG_WORDS + r"{1,10}"
    # "do get back to me in case you need any help"
    r"|(?:please\s+|do\s+|kindly\s+)?get\s+back\s+to\s+(?:me|us)" + _BAG_WORDS + r"{0,10}"
    # "I will be available to answer your follow up queries"
    r"|(?:i|we)\s+(?:will|would|shall)\s+be\s+(?:available|glad|happy)" + _BAG_WORDS + r"{0,14}"
    # "I have tried to answer your query", "glad to help"
    r"|(?:i\s+)?(?:have\s+)?tried\s+to\s+(?:answer|address|solve)" + _BAG_WORDS + r"{0,10}"
    r"|(?:(?:i\s+am|i'm|im)\s+)?(?:glad|happy)\s+to\s+(?:help|assist)" + _BAG_WORDS + r"{0,6}"
    r"|(?:if\s+not,?\s+)?(?:i\s+am|i'm|im)\s+(?:willing|ready|available|here)\s+to\s+(?:give|provide|help|assist|answer)"
    + _BAG_WORDS + r"{0,8}"
    r"|(?:thanks?|thank\s*(?:you|u))\s+(?:again\s+)?for\s+(?:your\s+)?(?:query|question|trust|patience|"
    r"using|choosing|asking|writing|posting|consulting)" + _BAG_WORDS + r"{0,8}"
    r")"
)
# Trailing courtesies; only removed at the end of a reply.
SIGNOFF_PATTERN = (
    r"(?:"
    r"(?:with\s+)?(?:kind|best|warm|warmest)?\s*regards?"
    r"|thanks?(?:\s+(?:and|&)\s+regards|\s+(?:a\s+lot|very\s+much|so\s+much))?|thank\s*(?:you|u)(?:\s+very\s+much)?|thnx|thx|thanx|tnx"
    r"|many\s+thanks|thanking\s+you|sincerely|yours\s+(?:truly|sincerely|faithfully)"
    r"|(?:take|tk)\s*care(?:\s+of\s+(?:yourself|your\s+health))?"
    r"|(?:(?:i\s+)?wish(?:ing)?\s+you|wish)\s+(?:a\s+)?(?:good|best|better|great|speedy|quick|fast|all\s+the\s+best|the\s+best)"
    r"(?:\s+of)?(?:\s+(?:health|luck|recovery|life|day))?(?:\s+(?:and\s+)?(?:speedy\s+)?recovery)?(?:\s+always)?"
    r"|(?:i\s+)?wish\s+you\s+(?:feel|get)\s+(?:better|well)(?:\s+soon)?"
    r"|(?:best|good)\s+(?:of\s+)?(?:wishes|luck)(?:\s+to\s+you)?|best|all\s+the\s+(?:best|very\s+best)"
    r"|get\s+well\s+soon|(?:wish\s+you\s+a\s+)?speedy\s+recovery|stay\s+(?:safe|healthy|blessed)"
    r"|(?:have|wish\s+you)\s+(?:a\s+)?(?:nice|good|great|healthy)\s+(?:day|time|life|living)"
    r"|(?:may\s+)?god\s+bless(?:\s+you)?|bye(?:\s+bye)?|ok(?:ay)?\s+(?:and\s+)?bye|cheers|good\s+day"
    r"|(?:our|my)\s+best\s+wishes|with\s+(?:good|best|warm)\s+(?:health\s+)?wishes|be\s+well|ok(?:ay)?"
    r"|(?:wish\s+)?you\s+(?:a\s+)?(?:good|best)\s+(?:of\s+)?health|wish\s+you\s+(?:good|best)\s+(?:health|luck)"
    r")"
)
# A clause that consists only of closers and sign-offs.
_UNIT = r"(?:" + CLOSER_PATTERN + r"|" + SIGNOFF_PATTERN + r")"
BOILERPLATE_CLAUSE_RE = re.compile(
    r"^\W*" + _UNIT + r"(?:[\s,.!&]+(?:and\s+)?" + _UNIT + r")*\W*$", _I
)
_CLOSER_CLAUSE_RE = re.compile(
    r"^\W*" + CLOSER_PATTERN + r"(?:[\s,.!&]+(?:and\s+)?" + _UNIT + r")*\W*$", _I
)
_SIGNOFF_CLAUSE_RE = re.compile(
    r"^\W*" + SIGNOFF_PATTERN + r"(?:[\s,.!&]+(?:and\s+)?" + SIGNOFF_PATTERN + r")*\W*$", _I
)

# --------------------------------------------------------------------------------------
# Links, ads, doctor claims, signatures
# --------------------------------------------------------------------------------------
LINK_RE = re.compile(
    r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"  # e-mail
    r"|\bhttps?://\S+|\bwww\.\S+"
    r"|\b[\w-]+\.(?:com|net|org|co\.uk)\b(?:/\S*)?"  # bare domains
    r"|(?:\b(?:mob(?:ile)?|ph(?:one)?|tel|cell|contact|call|whats\s?app)\b\s*(?:no\.?|number)?\s*[:.-]?\s*)?"
    r"(?<![\w.])\+?\d[\d\s-]{8,}\d\b",  # phone numbers (10+ digits)
    _I,
)
CONTACT_AD_RE = re.compile(
    r"\b(?:reach|contact|consult|ask|write\s+to|mail|e-?mail|message|ping|meet)\s+(?:me|us)\s+"
    r"(?:directly|personally|privately|online|at|on|through|via|by|in\s+my)\b"
    r"|\b(?:rate|review)\s+my\s+(?:answer|reply|response)\b|\bvaluable\s+review\b"
    r"|\bpremium\s+(?:features?|service|membership|consultation)\b"
    r"|\b(?:private|direct|paid|premium)\s+(?:consultation|question|chat|query|message)\b"
    r"|\b(?:mail|e-?mail|send|upload|share)\s+(?:me|us|it\s+to\s+me)\b"
    r"|\b(?:review|see|check|look\s+at)\s+(?:your|the)\s+(?:pics?|pictures?|photos?|photographs?|images?)\b"
    r"|\b(?:mail|e-?mail|write|send)\s+(?:it\s+)?(?:in|at|to|on)\s*[.!]?\s*$"
    r"|\b(?:call|phone|ring|whats\s?app|text|sms)\s+(?:me|us)\b|\bget\s+back\s+to\s+me\s+with\b"
    r"|\b(?:post|send|upload|share|mail)\s+(?:\w+\s+){0,3}(?:pics?|pictures?|photos?|photographs?|images?)\s+(?:to\s+me|here|on\s+my)\b"
    r"|\bsend\s+(?:me|us)\s+(?:your|the|a)?\s*(?:pics?|pictures?|photos?|photographs?|images?|reports?)\b"
    r"|\b(?:send|mail|upload)\s+(?:in\s+)?(?:the\s+|your\s+)?(?:pics?|pictures?|photos?|photographs?|images?)\s+(?:to\s+me|at)\b"
    r"|\b(?:for\s+more\s+info\w*\s+)?(?:mail|e-?mail|write\s+to|visit|contact)\s+us\b"
    r"|\bfor\s+more\s+info\w*,?\s+(?:you\s+)?(?:can\s+|may\s+)?(?:write|mail|e-?mail|contact|visit|call|message)\b"
    r"|\b(?:please|kindly|pls|plz|you\s+can|do|may)\s+revert\b"
    r"|\b(?:below|above|following)\s+(?:mentioned\s+|given\s+)?link\b|\blink\s+(?:below|above)\b"
    r"|\bclick\s+(?:on\s+)?(?:the\s+)?(?:link|here)\b"
    r"|\bvisit\s+(?:me\s+at\s+)?my\s+(?:clinic|hospital|website|site|page|profile)\b"
    r"|\bmy\s+(?:website|profile|page|e-?mail|email\s+id|mail\s+id|contact\s+(?:no|number|details))\b"
    r"|\bfollow\s*-?\s*up\s+(?:with\s+me|on\s+" + _SITE_OR_HCM + r")",
    _I,
)
_SPECIALTY = (
    r"(?:doctor|physician|dermatologist|venereologist|cosmetologist|gyn(?:a)?ecologist|obstetrician|"
    r"surgeon|p(?:a)?ediatrician|cardiologist|psychiatrist|psychologist|neurologist|urologist|"
    r"dentist|orthop(?:a)?edi(?:st|c\s+surgeon|cian)|oncologist|endocrinologist|gastroenterologist|"
    r"pulmonologist|nephrologist|rheumatologist|ophthalmologist|radiologist|sexologist|"
    r"homeopath|homoeopath|ayurvedic\s+doctor|general\s+practitioner|gp|family\s+physician|"
    r"specialist|consultant|medical\s+(?:doctor|practitioner|professional|expert)|md|mbbs\s+doctor|"
    r"ent\s+(?:specialist|surgeon|doctor)|allergist|immunologist|internist|nutritionist|dietician|"
    r"dietitian|physiotherapist|therapist|counsel(?:l)?or|pharmacist|nurse)"
)
DOCTOR_CLAIM_RE = re.compile(
    # "I am Dr. Das", "this is Dr Kanodia", "myself Dr. X"
    r"\b(?:i\s+am|i'm|im|this\s+is|my\s+name\s+is|myself|it's|its)\s+(?:dr\b\.?|doctor\b)\s*"
    # name tokens; a "." between them only after an initial ("Dr. A. K. Rao"), so the match
    # never runs into the next sentence ("I am Dr. Rao. In ...")
    r"[A-Za-z]\w*(?:(?:(?<=\b(?-i:[A-Z]))\.)?\s+(?-i:[A-Z])\w*){0,3}"
    # "I am a (qualified) dermatologist", "I'm your doctor"
    r"|\b(?:i\s+am|i'm|im|being)\s+(?:a|an|your|the)\s+"
    r"(?:(?:qualified|certified|board[\s-]certified|practicing|practising|senior|consultant|"
    r"experienced|registered|licensed|trained|medical)\s+)*" + _SPECIALTY + r"\b"
    # "as a doctor, I ..." at a clause start (not "such as a dermatologist")
    r"|(?:^|(?<=[.!?;,:]\s)|(?<=[.!?;,:]))\s*as\s+(?:a|an)\s+"
    r"(?:(?:qualified|certified|practicing|practising|senior|experienced|treating)\s+)*" + _SPECIALTY + r"\b"
    # "my patients", "in my (clinical) practice", "in my clinic", "in my experience as a doctor"
    r"|\bif\s+you\s+(?:were|are)\s+my\s+patient\s*,?"
    r"|\bif\s+i\s+(?:was|were|am)\s+(?:the|your)\s+treating\s+" + _SPECIALTY + r"\s*,?"
    r"|\bmy\s+patients?\b|\bmy\s+(?:clinical\s+|medical\s+|private\s+)?practice\b|\bmy\s+(?:clinic|hospital|chamber|opd)\b",
    _I,
)
# A named doctor: "Dr. Smith", "Dr.Ilyas", "DrSudarshan", "Dr khushboo".
_NOT_A_NAME = {
    "will", "would", "can", "could", "may", "might", "should", "shall", "must", "and", "or", "is",
    "are", "was", "were", "to", "for", "who", "which", "that", "said", "says", "told", "tells",
    "advised", "advise", "prescribed", "prescribe", "suggested", "suggest", "recommended",
    "recommend", "visit", "if", "as", "about", "at", "in", "on", "of", "the", "a", "an", "has",
    "have", "had", "does", "did", "do", "thinks", "think", "thought", "asked", "asks", "examined",
    "examine", "check", "checked", "says.", "appointment", "visit.", "immediately", "soon",
    "first", "again", "before", "after", "because", "but", "so", "then", "when", "also", "only",
}
NAMED_DOCTOR_RE = re.compile(
    r"(?<![A-Za-z])(?:(?:dr(?:\.\s*|\s+)|(?-i:Dr)(?=(?-i:[A-Z][a-z])))(?P<name>(?-i:[A-Z])[\w'-]+|[a-z][\w'-]+)"
    r"|doctor\s+(?P<cname>(?-i:[A-Z])[a-z][\w'-]+))",
    _I,
)
SIGNATURE_LEADIN_PATTERN = (
    r"(?:(?:with\s+)?(?:kind|best|warm|warmest)?\s*regards?|thanks?|thank\s*(?:you|u)|best\s+wishes|"
    r"sincerely|yours\s+(?:truly|sincerely|faithfully)|cheers|take\s+care)"
)
_SIGNATURE_LEADIN_RE = re.compile(r"(?:^|(?<=[\s.,!]))" + SIGNATURE_LEADIN_PATTERN + r"[\s,.!:;-]*", _I)
# "Dr", "Dr.", "doctor" as a word, or "Dr" glued to a capitalised name ("DrSudarshan") -- but not
# an acronym such as "DRPLA" (a disease).
_DR_TOKEN_RE = re.compile(r"(?<![A-Za-z])(?:(?:dr|doctor)(?:\.|\b)|(?-i:Dr)(?=(?-i:[A-Z][a-z])))", _I)
# Words that appear in sentences but not in a "name, credentials, clinic address" line.
_SENTENCE_WORDS = {
    "the", "is", "are", "was", "were", "be", "been", "you", "your", "u", "ur", "to", "of", "for",
    "if", "it", "this", "that", "with", "should", "can", "will", "would", "could", "may", "please",
    "consult", "visit", "see", "take", "apply", "use", "said", "told", "who", "which", "my", "me",
    "i", "have", "has", "had", "not", "do", "does", "did", "he", "she", "they", "we", "his", "her",
    "them", "advised", "prescribed", "recommend", "recommended", "suggest", "suggested", "because",
    "as", "but", "so", "then", "when", "also", "after", "before", "about", "from", "on", "by", "or",
}
_NOT_BEFORE_SIGNATURE = {
    "the", "your", "a", "an", "my", "his", "her", "their", "our", "this", "that", "to", "with", "by", "see",
    "consult", "visit", "ask", "from", "as", "and", "or", "family", "treating", "local", "any", "other",
}
_CREDENTIAL_RE = re.compile(
    r"\b(?:MD|M\.D|MBBS|MS|DNB|DDVL|DVD|DVL|FRCS|MRCP|FCPS|DM|DO|PhD|BDS|MDS|BHMS|BAMS|DGO|MRCOG|"
    r"FRCP|DCH|DPM)\b|" + _SPECIALTY.replace("(?:doctor|", "(?:", 1) + r"|\bdermatology\b",
    _I,
)

_FILLER_RE = re.compile(r"^[\s\W_]*$")
_CLAUSE_SPLIT_RE = re.compile(r"(\s*[,;:]\s*|\s+(?:or|but|and|so|otherwise)\s+|\s+-+\s+)", _I)


@dataclass
class CleanResult:
    """Cleaned text and the names of the rules that fired (each name once, in firing order)."""

    text: str
    rules: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def normalize_spacing(text: str) -> str:
    """Un-glue scraped sentences and words without removing anything.

    "HCM.It seems" -> "HCM. It seems"; "Hi,Thanks" -> "Hi, Thanks"; "healthcaremagicThis" ->
    "healthcaremagic This"; "Thank youDr X" -> "Thank you Dr X". The lowercase run must be 3+
    letters so brand names like "iCliniq" stay whole.
    """
    text = text.replace("\u00a0", " ").replace("\r\n", "\n").replace("\r", "\n")
    # sentence glued to the next: letter/closing bracket + .!? + Capitalised word
    text = re.sub(r"(?<=[A-Za-z)\]])[ \t]*([.!?]+)(?=[\"'“‘]?[A-Z][a-z])", r"\1 ", text)
    # "Hi,Thanks" / "HCM,flaking"
    text = re.sub(r",(?=[A-Za-z])", ", ", text)
    text = re.sub(r"(?<=[a-z]{2})[ \t]*(\.+)(?=I\s)", r"\1 ", text)  # "2 weeks.I hope"
    # "healthcaremagicThis", "helpsFeel", "youDr"
    text = re.sub(r"(?<=[a-z]{3})(?=[A-Z][a-z])", " ", text)
    text = re.sub(r"(?<=[a-z]{3})(?=Dr\b)", " ", text)
    # "cloths.hope this helps" (lowercase sentence glued; not "e.g.x" or a domain)
    text = re.sub(r"(?<=[a-z]{3})[ \t]*(\.+)(?=[a-z]{3,})(?!(?:com|org|net|html?|php|gov|edu)\b)", r"\1 ", text)
    # "creamI hope this helps": a new sentence glued to the last word
    text = re.sub(r"(?<=[a-z]{3})(?=I\s)", ". ", text)
    # a closer glued to the previous sentence without a full stop: "the procedure Hope this helps"
    text = re.sub(
        r"(?<=[a-z0-9)])\s+(?=(?:Hope|Regards|Thanks|Thank you|Take care|Wishing|Wish you|Let me know|"
        r"Feel free|Best wishes|Kind regards|Good luck|All the best|Get well|Please feel free|Please let me know|"
        r"Please do not hesitate|Kindly)\b)",
        ". ",
        text,
    )
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def _tidy(text: str) -> str:
    """Collapse spaces / orphan punctuation left behind by cuts."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"(?<![.])\.\s*\.(?!\.)", ".", text)  # ". ." -> "." but keep "..."
    text = re.sub(r"\n{3,}", "\n\n", text)
    text = re.sub(r"^[\s,.;:!\-–—]+", "", text)
    text = re.sub(r"[\s,;:\-–—]+$", "", text)
    return text.strip()


def _capitalize_first(text: str) -> str:
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
        if not (ch.isspace() or ch in "\"'‘“(-"):
            return text
    return text


_SEGMENT_SPLIT_RE = re.compile(r"((?<=[.!?…])[ \t]+|[ \t]*\n\s*)")


def _segments(text: str) -> tuple[list[str], list[str]]:
    """Sentences (split after .!? and at line breaks) and the separators between them, so the
    text can be rebuilt with its line and paragraph breaks intact."""
    parts = _SEGMENT_SPLIT_RE.split(text)
    return parts[0::2], parts[1::2]


def _sep_strength(sep: str) -> int:
    return 2 if sep.count("\n") >= 2 else 1 if "\n" in sep else 0


def _rejoin(sentences: list[str], seps: list[str]) -> str:
    """Rebuild from `_segments`, skipping empty sentences; where sentences were dropped the
    strongest separator around them is kept (a paragraph break survives)."""
    out = ""
    pending = ""
    for i, sent in enumerate(sentences):
        if i > 0 and out:
            sep = seps[i - 1]
            pending = sep if not pending or _sep_strength(sep) > _sep_strength(pending) else pending
        if not sent.strip() or _FILLER_RE.match(sent):
            continue
        if out:
            out += pending.replace("\t", " ") if pending else " "
        out += sent.strip() if not out else sent.rstrip()
        pending = ""
    return out


def _add(rules: list[str], rule: str) -> None:
    if rule not in rules:
        rules.append(rule)


def _drop_clauses(sentence: str, predicate) -> tuple[str, bool]:
    """Remove the clauses of `sentence` for which predicate(clause) is true.

    Clauses are split at , ; : and at "or/but/and/so"; kept clauses keep their original
    separators, so a sentence with no boilerplate comes back byte-identical.
    """
    parts = _CLAUSE_SPLIT_RE.split(sentence)
    clauses = parts[0::2]
    seps = parts[1::2] + [""]
    keep = [not predicate(c) for c in clauses]
    if all(keep):
        return sentence, False
    out = ""
    for i, (c, s) in enumerate(zip(clauses, seps)):
        if not keep[i]:
            continue
        if out:
            # separator before this clause: the original one in front of it if its left
            # neighbour was kept, otherwise a comma
            prev_sep = seps[i - 1] if i > 0 and keep[i - 1] else ", "
            out += prev_sep
        out += c
    # keep the sentence's final punctuation if the last clause was dropped
    if out and not keep[-1]:
        end = re.search(r"[.!?…]+$", sentence.strip())
        out = out.rstrip(" ,;:") + (end.group(0) if end else "")
    return out, True


_SOFT_BOUNDARY_RE = re.compile(
    r"\b(?:it\s+would|it\s+will|if|you\s+can|you\s+may|you\s+could|please|kindly|pls|plz|also|then|so\s+that|for\s+more)\b",
    _I,
)


_CONNECTIVES = {"therefore", "so", "hence", "also", "thus", "however", "and", "but", "or", "then", "ok", "okay"}


def _cut_contact(sentence: str) -> tuple[str, bool]:
    """Drop the clauses that advertise or ask to contact this doctor. A long run-on clause
    ("it could be pityriasis versicolor it would help if u could send the pictures at ...")
    keeps its start: the cut begins at the earliest soft boundary ("it would", "if", "please",
    ...) in the 8 words before the trigger."""
    parts = _CLAUSE_SPLIT_RE.split(sentence)
    changed = False
    for i in range(0, len(parts), 2):
        clause = parts[i]
        m = CONTACT_AD_RE.search(clause)
        if not m:
            continue
        changed = True
        head = clause[: m.start()]
        parts[i] = ""
        if len(clause.split()) > 12 and len(head.split()) > 4:
            window_start = len(head) - len(" ".join(head.split()[-8:])) - 1
            soft = [b for b in _SOFT_BOUNDARY_RE.finditer(head) if b.start() >= max(0, window_start)]
            if soft:
                parts[i] = head[: soft[0].start()].rstrip()
        # the rest of the sentence continues the request ("... to me so that I can help you")
        for k in range(i + 2, len(parts), 2):
            parts[k] = ""
        break
    if not changed:
        return sentence, False
    if all(not p.strip() or p.strip().lower() in _CONNECTIVES for p in parts[0::2]):
        return "", True  # only "Therefore," was left
    clauses, seps = parts[0::2], parts[1::2]
    # rebuild: drop empty clauses with the separator in front of them
    out = ""
    for j, c in enumerate(clauses):
        if not c.strip():
            continue
        out += (seps[j - 1] if out and j > 0 else "") + c
    end = re.search(r"[.!?…]+$", sentence.strip())
    if out and end and not re.search(r"[.!?…]$", out):
        out = out.rstrip(" ,;:") + end.group(0)[0]
    return out, True


def _is_boilerplate_clause(clause: str, *, tail: bool) -> bool:
    c = clause.strip()
    if not c or _FILLER_RE.match(c):
        return False
    pattern = BOILERPLATE_CLAUSE_RE if tail else _CLOSER_CLAUSE_RE
    return bool(pattern.match(c))


def _signature_span(text: str) -> int | None:
    """Start index of a trailing doctor signature, or None."""
    window_start = max(0, len(text) - 300)
    for m in _DR_TOKEN_RE.finditer(text, window_start):
        tail = text[m.start():]
        if tail[:6].lower() == "doctor" and not re.match(r"Doctor\s+[A-Z]", tail):
            continue  # "... as your doctor prescribes" is prose, "Doctor Smith" a signature
        prev = re.search(r"([A-Za-z]+)\W*$", text[:m.start()])
        if prev and prev.group(1).lower() in _NOT_BEFORE_SIGNATURE and not re.search(r"[.,!;:\n]\s*$", text[:m.start()]):
            continue  # "consult your Dr. ...", "see the doctor ..."
        if _looks_like_signature(tail, needs_credential=False):
            return m.start()
    # "Regards, Sanjay Kumar Kanodia MD (Dermatology & STDs)" -- no "Dr", so insist on a
    # credential and a lead-in.
    for m in _SIGNATURE_LEADIN_RE.finditer(text, window_start):
        tail = text[m.end():]
        if tail.strip() and _looks_like_signature(tail, needs_credential=True):
            return m.start()
    return None


def _looks_like_signature(tail: str, *, needs_credential: bool) -> bool:
    words = re.findall(r"[A-Za-z]+", tail)
    if not words or len(words) > 25:
        return False
    if any(w.lower() in _SENTENCE_WORDS for w in words):
        return False
    # a name starts with a letter right after "Dr" (not "dr. will ...", filtered above)
    if needs_credential:
        return bool(_CREDENTIAL_RE.search(tail)) and tail.strip()[0].isupper()
    return len(words) >= 2 or bool(re.match(r"(?i)(?:dr|doctor)\.?\s*[A-Za-z]", tail))


_BARE_NAME_RE = re.compile(r"^(?-i:[A-Z][a-z]+)(?:\s+(?-i:[A-Z])[a-z]*\.?){1,3}$")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def strip_boilerplate(text: str) -> CleanResult:
    """Remove consultation-site boilerplate from one reply (see the module docstring).

    Returns the cleaned text and the names of the rules that fired (in `RULES` order).
    Content clauses are kept verbatim; only spacing is normalised.
    """
    if not isinstance(text, str) or not text.strip():
        return CleanResult(text=text.strip() if isinstance(text, str) else "", rules=[])
    rules: list[str] = []

    # 1. anywhere: links, e-mails, phone numbers (on the raw text: un-gluing would split domains)
    t, n = LINK_RE.subn(" ", text)
    if n:
        _add(rules, "link")
    t = normalize_spacing(t)
    if n:
        t = _tidy(t)

    # 2a. anywhere: first-person doctor claims ("I am Dr. X" must go before the signature
    # pass, which would otherwise take "Dr. X ..." and leave "I am")
    new = "\n".join(_cut_doctor_claims(line) if line.strip() else line for line in t.split("\n"))
    if new != t:
        _add(rules, "doctor_claim")
        t = new

    # 2. end: signatures first, before sentence splitting ("Dr." would split the name)
    t = _strip_tail(t, rules, signatures_only=True)

    # 3. start: greeting / welcome / thanks / "I have gone through your query"
    t = _strip_openers(t, rules)

    # 4. anywhere: clause-level ads, doctor claims, closers, site names
    sentences, seps = _segments(t)
    for idx, sent in enumerate(sentences):
        sent, changed = _cut_contact(sent)
        if changed:
            _add(rules, "contact_ad")
        sent, changed = _drop_clauses(sent, lambda c: _is_boilerplate_clause(c, tail=False))
        if changed:
            _add(rules, "closer")
        sent, changed = _drop_clauses(
            sent, lambda c: bool(SITE_NAME_RE.search(c) or HCM_SITE_CONTEXT_RE.search(c)) and _mostly_site(c)
        )
        if changed:
            _add(rules, "site_mention")
        sentences[idx] = sent
    t = _rejoin(sentences, seps)

    # 5. a site name still inside a content clause is cut as a phrase (before the tail pass,
    # so "... thanks for trusting healthcaremagic, take care" is left as a plain sign-off)
    t2 = SITE_NAME_RE.sub("", t)
    if t2 != t:
        _add(rules, "site_mention")
        t = t2
    # 6. end: sign-offs, closers, signatures, bare names
    t = _strip_tail(t, rules, signatures_only=False)

    t = _capitalize_first(_tidy(t))
    return CleanResult(text=t, rules=[r for r in RULES if r in rules])


def _mostly_site(clause: str) -> bool:
    """A clause that names a site and has at most a few other content words is site
    advertising ("Thank you for choosing HealthcareMagic"); longer clauses keep their content
    and only lose the name (step 6)."""
    rest = HCM_SITE_CONTEXT_RE.sub(" ", SITE_NAME_RE.sub(" ", clause))
    words = [w for w in re.findall(r"[A-Za-z]+", rest) if w.lower() not in _THANKS_WORDS]
    return len(words) <= 3


_THANKS_WORDS = set(_THANKS_BAG.split("|")) | {"thanks", "thank", "you", "u", "welcome", "for", "of", "visiting"}


def _cut_doctor_claims(line: str) -> str:
    """Cut first-person doctor claims out of one line; depersonalise "my patients"."""
    cut = "\x00"  # marks where a claim was cut, to fix what follows it

    def repl(m: re.Match) -> str:
        low = m.group(0).lower().strip()
        if low.startswith("my patient"):
            return "patients" if low.endswith("s") else "a patient"
        if low.startswith("my"):  # my practice / my clinic
            return "practice" if "practice" in low else "a clinic"
        return cut  # "I am Dr. X", "I'm a dermatologist", "As a doctor,", "If you were my patient,"

    out = DOCTOR_CLAIM_RE.sub(repl, line)
    if out == line:
        return line
    # after a cut: drop a dangling "and" / punctuation ("I'm a dermatologist and this ..." -> "this ...")
    out = re.sub(r"\x00[ \t]*(?:,[ \t]*)?(?:and\b[ \t]*)?(?:,[ \t]*)?", cut, out)
    # a cut at a sentence start: capitalise what now starts the sentence
    out = re.sub(r"(^|[.!?][ \t]+)[ \t]*\x00[ \t]*([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)
    out = out.replace(cut, "")
    out = _tidy(out)
    return _capitalize_first(out) if out else ""


# Verbs that continued "I have gone through your query and ..." with "I" as their subject.
_I_VERB_RE = re.compile(
    r"(?:would|will|can|could|should|may|might|must|suggest|recommend|advise|think|feel|found|noted|"
    r"understand|want|am|have|believe|see|agree|guess)\b",
    _I,
)


def _strip_openers(t: str, rules: list[str]) -> str:
    cut_any = False
    for _ in range(8):
        before = t
        for rule, rx in (
            ("greeting", _GREETING_BEFORE_WELCOME_RE),
            ("greeting", GREETING_RE),
            ("site_welcome", SITE_WELCOME_RE),
            ("thanks_opener", THANKS_OPENER_RE),
            ("query_review", QUERY_REVIEW_RE),
        ):
            m = rx.match(t)
            if m and m.end() > 0:
                # a greeting that eats the whole reply ("Hello") leaves nothing -- fine
                t = t[m.end():]
                if rule == "query_review" and re.search(r"(?i)\band\W*$", m.group(0)) and _I_VERB_RE.match(t):
                    # "I have gone through your query and would recommend ..." -> "I would recommend ..."
                    t = "I " + t
                _add(rules, rule)
                cut_any = True
        t = t.lstrip()
        if t == before:
            break
    return _capitalize_first(t) if cut_any else t


def _strip_tail(t: str, rules: list[str], *, signatures_only: bool) -> str:
    for _ in range(12):
        t = t.rstrip()
        start = _signature_span(t)
        if start is not None:
            t = _tidy(t[:start])
            _add(rules, "signature")
            continue
        if signatures_only:
            break
        sentences, seps = _segments(t)
        while sentences and not sentences[-1].strip():
            sentences.pop()
        if not sentences:
            break
        last = sentences[-1]
        m = _TRAILING_SIGNOFF_RE.search(t)
        if m:
            # drop a conjunction left dangling: "..., take care and [have a nice day]"
            t = re.sub(r"(?i)[\s,]+(?:and|&|or)\s*$", "", t[: m.start()])
            if re.search(r"[.!?]", m.group(0)) and not re.search(r"[.!?…]$", t):
                t += "."  # the sign-off carried the sentence's full stop
            _add(rules, "signoff")
            continue
        new, changed = _drop_last_clauses(last, rules)
        if changed:
            sentences[-1] = new
            t = _rejoin(sentences, seps)
            continue
        # a bare name line after a removed sign-off: "... link. Hardik Pitroda"
        if len(sentences) > 1 and rules and rules[-1] in ("signoff", "closer", "contact_ad", "signature") \
                and _BARE_NAME_RE.match(last.strip()) and not re.search(r"[.!?]$", last.strip()):
            t = _rejoin(sentences[:-1], seps)
            _add(rules, "signature")
            continue
        break
    return t


def _drop_last_clauses(sentence: str, rules: list[str]) -> tuple[str, bool]:
    """Drop trailing clauses of the final sentence that are closers/sign-offs."""
    parts = _CLAUSE_SPLIT_RE.split(sentence)
    clauses = parts[0::2]
    seps = parts[1::2]
    changed = False
    while clauses:
        if _FILLER_RE.match(clauses[-1]) and len(clauses) > 1:
            # trailing separator ("have a nice day,"): look past the empty clause
            if not _is_boilerplate_clause(clauses[-2], tail=True):
                break
            clauses.pop()
            seps.pop()
            continue
        if not _is_boilerplate_clause(clauses[-1], tail=True):
            break
        c = clauses.pop()
        changed = True
        _add(rules, "closer" if _CLOSER_CLAUSE_RE.match(c.strip()) else "signoff")
        if seps:
            seps.pop()
    if not changed:
        return sentence, False
    out = ""
    for i, c in enumerate(clauses):
        out += c + (seps[i] if i < len(clauses) - 1 else "")
    out = out.rstrip(" ,;:&-")
    end = re.search(r"[.!?…]+$", sentence.strip())
    if out.strip() and end and not re.search(r"[.!?…]$", out):
        out += end.group(0)[0]
    return out, True


def impersonation_findings(text: str) -> list[str]:
    """Reasons `text` impersonates a site or a doctor (empty list = fine).

    - names a consultation site ("healthcaremagic", "iCliniq", "welcome to HCM", ...)
    - names or signs as a specific doctor ("Dr. Smith", "Regards, Dr. X")
    - claims to be a doctor ("I am a dermatologist", "as a doctor, I", "my patients")
    "See a doctor", "your doctor", "the doctor will ..." are fine.
    """
    if not isinstance(text, str) or not text:
        return []
    t = normalize_spacing(text)
    out: list[str] = []
    for m in SITE_NAME_RE.finditer(t):
        out.append(f"names a consultation site: {m.group(0).strip()!r}")
    for m in HCM_SITE_CONTEXT_RE.finditer(t):
        out.append(f"names a consultation site: {m.group(0).strip()!r}")
    if (signature := _signature_span(t)) is not None:
        out.append(f"signs as a doctor: {t[signature:].strip()[:60]!r}")
    for m in NAMED_DOCTOR_RE.finditer(t):
        name = m.group("name") or m.group("cname")
        if name.lower().rstrip(".,") in _NOT_A_NAME:
            continue
        out.append(f"names a doctor: {m.group(0).strip()!r}")
    for m in DOCTOR_CLAIM_RE.finditer(t):
        out.append(f"claims to be a doctor: {m.group(0).strip()!r}")
    # de-duplicate, keep order
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def boilerplate_findings(text: str) -> list[str]:
    """Leftover site boilerplate in `text` (for evaluation): the rule names of
    `strip_boilerplate` that would fire, except a plain greeting and doctor claims (those
    are reported by `impersonation_findings`)."""
    if not isinstance(text, str) or not text.strip():
        return []
    rules = strip_boilerplate(text).rules
    return [r for r in rules if r in FINDING_RULES and r != "doctor_claim"]


# --------------------------------------------------------------------------------------
# Live replies: whole sentences that present the writer as a doctor, an expert or a service,
# or name an individual doctor
# --------------------------------------------------------------------------------------
# `strip_boilerplate` cuts claims out of a sentence and keeps the rest: right for training
# replies written by real doctors ("I'm a dermatologist and this looks like eczema" keeps
# "this looks like eczema"). A live reply is written by a model that is nobody: a sentence
# that presents it as a doctor, an expert or a service, or sends the user to a named doctor,
# is removed whole ("I am Dr. Smith, a licensed physician." must not become "A licensed
# physician."). `impersonation_reason` is matched on the folded sentence (medchat.sentences),
# so look-alike letters, zero-width characters and markdown do not hide a claim.
_ROLE = (
    r"(?:" + _SPECIALTY[3:-1] + r"|clinician|expert|practitioner|healer|naturopath|herbalist|medic|midwife|"
    r"paramedic|chiropractor|osteopath|acupuncturist|healthcare\s+(?:provider|professional|worker)|"
    r"health\s+(?:professional|expert|advisor|adviser|coach|practitioner)|medical\s+(?:advisor|adviser|officer|"
    r"consultant|specialist)|nurse\s+practitioner|registrar|resident|physician\s+assistant|m\.?d|mbbs|"
    r"[a-z]+ologist|[a-z]+iatrist|[a-z]+opath|[a-z]{3,}ician)"
)
_ROLES = (
    r"(?:doctors|physicians|clinicians|experts|specialists|consultants|surgeons|nurses|pharmacists|practitioners|"
    r"professionals|therapists|counsell?ors|dietitians|dieticians|nutritionists|medics|healers|gps|mds|"
    r"[a-z]+ologists|[a-z]+iatrists|[a-z]+opaths|[a-z]{3,}icians)"
)
# up to a few describing words ("board-certified", "holistic medicine") -- never a word that
# turns the phrase into something else ("I am not a doctor", "I am sorry your doctor ...")
_ADJ = (
    r"(?:(?!(?:not|no|never|a|an|the|your|my|our|his|her|their|that|this|who|which|to|and|or|but|if|when|"
    r"because|so|sorry|afraid|glad|happy|here|just|only|going|able|unable|sure|unsure|aware|concerned|worried|"
    r"like|such|than|as|of|for|with|in|on|at|by|from|about|is|are|was|were|be|been|can|will|would|should|may|"
    r"might|must|do|does|did|have|has|had)\b)[\w'-]+\s+)"
)
_NOT_A_CLAIM_AFTER = (
    r"(?!\s+(?:would|will|may|might|can|could|should|has|have|had|did|does|do|is|are|was|were|advises?|advised|"
    r"prescribes?|prescribed|recommends?|recommended|suggests?|suggested|says?|said|tells?|told|directs?|directed|"
    r"instructs?|instructed|orders?|ordered|explains?|explained|wants?|wanted|needs?|needed|knows?|knew|"
    r"decides?|decided|thinks?|thought|sees?|saw|checks?|checked|examines?|examined)\b)"
)
_SERVICE_NOUN = (
    r"(?:team|teams|staff|panel|clinic|clinics|hospital|hospitals|centre|center|practice|service|services|"
    r"platform|website|site|app|network|consultations?|helpline|department|experts?|specialists?)"
)
SELF_PRESENTATION_RES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (reason, re.compile(rx, _I)) for reason, rx in (
        ("claims to be a doctor", DOCTOR_CLAIM_RE.pattern),
        # I am a (board-certified) dermatologist / I'm your doctor / I was a nurse / I work as a GP
        ("claims to be a doctor",
         r"\b(?:i\s*am|i'm|i\s+m|im|i'?ve\s+been|i\s+have\s+been|i\s+was|i\s+work(?:ed)?\s+as|being)\s+"
         r"(?:also\s+|actually\s+|really\s+|indeed\s+|myself\s+)?(?:a|an|your|the|one\s+of\s+(?:the|your))\s+"
         + _ADJ + r"{0,4}" + _ROLE + r"\b"),
        # I am / this is / my name is Dr. X; you are talking to a doctor
        ("claims to be a doctor",
         r"\b(?:i\s*am|i'm|im|this\s+is|my\s+name\s+is|myself|it's|here\s+is|signed|yours)\s*,?\s*"
         r"(?:dr\b|doctor\b|prof\b|professor\b)"
         r"|\byou(?:'re|\s+are)\s+(?:now\s+)?(?:speaking|talking|chatting|consulting)\s+(?:with|to)\s+(?:a|an|your)\s+"
         + _ADJ + r"{0,3}" + _ROLE + r"\b"),
        # I'm Sarah, your nurse
        ("claims to be a doctor",
         r"\b(?:i\s*am|i'm|im|this\s+is|my\s+name\s+is)\s+(?-i:[A-Z])\w+(?:\s+(?-i:[A-Z])\w+){0,2},?\s+"
         r"(?:and\s+i\s*(?:am|'m)\s+)?(?:a|an|your|the)\s+" + _ADJ + r"{0,3}" + _ROLE + r"\b"),
        # As a holistic medicine expert, ... / As your physician, ... / Speaking as a doctor, ...
        ("claims to be a doctor",
         r"(?:^|[.!?;:,(\"]\s*|\b(?:and|but|so|speaking|talking|writing|answering|replying|here|me)\s+)"
         r"as\s+(?:a|an|your|the|one)\s+" + _ADJ + r"{0,4}" + _ROLE + r"\b" + _NOT_A_CLAIM_AFTER),
        # As doctors, we ... / We doctors ... / We are a team of dermatologists
        ("claims to be a doctor",
         r"\bas\s+" + _ADJ + r"{0,2}" + _ROLES + r"\s*,?\s*we\b"
         r"|\bwe\s+(?:are\s+)?(?:a\s+team\s+of\s+|all\s+|both\s+)?" + _ADJ + r"{0,2}" + _ROLES + r"\b"
         r"|\bwe\s+(?:here\s+)?at\s+(?-i:[A-Z])\w+"),
        # Regards, Dr. / Best wishes, doctor
        ("signs as a doctor", r"^\W*" + SIGNATURE_LEADIN_PATTERN + r"\W+(?:dr|doctor|d\s?r)\b"),
        # Dermatologist here. / The expert in me says
        ("claims to be a doctor",
         r"(?:^|[.!?,:;]\s*)(?:hi|hello|hey)?\s*,?\s*(?:a\s+|your\s+)?" + _ADJ + r"{0,2}" + _ROLE + r"\s+here\b"
         r"|\bthe\s+" + _ADJ + r"{0,2}" + _ROLE + r"\s+in\s+me\b"),
        # first-person clinical practice
        ("claims to be a doctor",
         r"\bi\s*(?:have|'ve)\s+(?:successfully\s+|personally\s+)?(?:treated|seen|examined|diagnosed|operated\s+on|"
         r"cured|helped)\s+(?:\w+\s+){0,3}patients\b"
         r"|\bi\s*(?:have|'ve)\s+been\s+(?:practi[cs]ing|treating|working\s+as)\b"
         r"|\b(?:my|i\s+have|i've)\s+(?:\w+\s+){0,3}years\s+(?:of\s+)?(?:clinical|medical)\s+(?:experience|practice)"
         r"|\bin\s+my\s+(?:\w+\s+){0,2}experience\s+as\s+(?:a|an)\b"
         r"|\bi\s*(?:will|'ll|would|'d|shall|am\s+going\s+to|can|could|may)\s+(?:also\s+|now\s+)?prescribe\b"
         r"|\bi\s*(?:am|'m)\s+prescribing\b|\bi\s*(?:have|'ve)?\s*prescribed\s+(?:you|this|it|these)\b"
         r"|\blet\s+me\s+prescribe\b|\bmy\s+prescription\b"
         r"|\bi\s*(?:will|'ll|would|'d)\s+(?:like\s+to\s+)?examine\s+you\b"),
        # our experts / one of our doctors / our team of doctors / contact us / book with us
        ("presents itself as a service",
         r"\b(?:our|one\s+of\s+our)\s+" + _ADJ + r"{0,3}(?:" + _ROLES + r"|" + _ROLE + r"|" + _SERVICE_NOUN + r")\b"
         r"|\b(?:contact|call|e-?mail|message|text|book\s+(?:\w+\s+){0,3}with|consult\s+with|consult|"
         r"speak\s+(?:with|to)|talk\s+(?:with|to)|chat\s+with|visit|write\s+to|reach)\s+(?:us|me)\b"
         r"|\b(?:this|the)\s+(?:online\s+)?(?:consultation\s+)?(?:service|platform)'?s?\s+(?:doctors|experts)\b"),
    )
)
# Words that follow "Dr" / "Doctor" without being a name ("your Dr will", "a doctor visit").
_NOT_A_NAME_LIVE = _NOT_A_NAME | {
    "office", "offices", "visit", "visits", "appointment", "appointments", "clinic", "surgery", "practice", "note",
    "notes", "letter", "prescription", "checkup", "check-up", "asap", "now", "today", "tomorrow", "right", "straight",
    "promptly", "quickly", "recommended", "approved", "advice", "consultation", "when", "where", "whether", "how",
    "what", "why", "not", "know", "knows", "first.", "soon.", "immediately.", "today.", "now.", "or", "nor", "please",
    "anyway", "too", "yet", "though", "instead", "urgently", "within", "during", "since", "until", "unless", "whose",
    "whom", "there", "here", "to", "orders", "order", "ordered", "explain", "explained", "explains", "discuss",
    "find", "look", "looks", "take", "takes", "give", "gives", "help", "helps", "can't", "won't", "doesn't", "isn't",
    "wasn't", "didn't", "who's", "will.", "visit", "exam", "examination", "review", "referral", "refer", "test",
    "tests", "s", "'s", "en", "des", "la", "le", "recommends", "recommendation", "suggests", "advises", "may",
    "says", "thinks", "sees", "gave", "wrote", "writes", "confirmed", "confirms", "diagnosed", "diagnoses",
}
# Capitalised words after "Dr" / "Doctor" that are not names (headings, a new sentence after "Ask your Dr.").
_CAPITALISED_NOT_A_NAME = {
    "if", "when", "or", "and", "who", "the", "a", "an", "visit", "visits", "appointment", "appointments", "office",
    "recommended", "advice", "consultation", "immediately", "now", "today", "soon", "first", "as", "for", "to",
    "about", "before", "after", "is", "are", "will", "can", "may", "should", "it", "they", "you", "we", "this",
    "these", "those", "that", "there", "here", "what", "how", "why", "where", "in", "on", "at", "of", "with", "by",
    "from", "your", "my", "our", "his", "her", "their", "also", "but", "so", "then", "please", "resources",
}
NAMED_CLINICIAN_RE = re.compile(
    # Dr. Smith, Dr Serafin, Dr.Smith, DrSudarshan, D r. Smith, Dr. A. K. Rao, dr smith
    r"(?<![A-Za-z-])(?:(?-i:D\s?r)[\s.]*(?=(?-i:[A-Z]))|dr(?:[\s.]*\.[\s.]*|\s+)(?=[A-Za-z]))(?P<name>[A-Za-z][\w'-]*\.?)"
    # Doctor Mehra, Prof. Jenkins, Professor Lee
    r"|(?<![A-Za-z])(?:doctor|prof\.?|professor)\s+(?P<cname>(?-i:[A-Z])[\w'-]+)"
    # Jane Doe, MD / Smith MBBS
    # (not "DMD", Duchenne muscular dystrophy; a single word before a credential only with a comma)
    r"|(?-i:\b[A-Z][a-z]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-z'-]+){1,2}),?\s+(?-i:M\.?D|MBBS|FRCS|FRCP|MRCP|DNB|DDVL|PhD|"
    r"DNP|PA-C|DDS|DPM|PharmD|FACP|FAAD|FACS|FRACP)(?![A-Za-z])"
    r"|(?-i:\b[A-Z][a-z]+),\s+(?-i:M\.?D|MBBS|FRCS|FRCP|MRCP|DNB|DDVL|PhD|RN|DNP|PA-C|DDS|DPM|PharmD)(?![A-Za-z])"
    # any case with a comma: "JANe DOE, Md"
    r"|\b[a-z]+(?:\s+[a-z]\.)?(?:\s+[a-z'-]+){0,2},\s*(?:m\.d\.?|md|mbbs|frcs|frcp|mrcp|phd)(?![a-z])",
    _I,
)


def _names_a_clinician(s: str) -> str | None:
    for m in NAMED_CLINICIAN_RE.finditer(s):
        name = m.group("name") or m.group("cname")
        if name is None:
            return m.group(0).strip()  # name + credential
        word = name.lower().rstrip(".,")
        if re.match(r"[A-Z]\.", name) or (name[0].isupper() and word not in _CAPITALISED_NOT_A_NAME
                                             and word not in _NOT_A_NAME_LIVE):
            return m.group(0).strip()  # "Dr. A. K. Rao", "Dr Serafin", "Doctor Mehra"
        if name[0].islower() and word not in _NOT_A_NAME_LIVE and name.lower() not in _NOT_A_NAME_LIVE:
            return m.group(0).strip()  # "dr smith"
    return None


@functools.lru_cache(maxsize=4096)  # a streamed reply asks again about the same finished sentences on every chunk
def impersonation_reason(sentence: str) -> str | None:
    """Why a live-reply sentence must not be shown (claims to be a doctor, presents itself as a service, names a
    doctor), or None. `sentence` may carry markdown and look-alike characters; it is folded first."""
    from medchat.sentences import folded, plain, unspaced  # lazy: keeps this module import-light

    s = plain(folded(sentence))
    for text in (s, unspaced(s)):
        if text is None:
            continue
        for reason, rx in SELF_PRESENTATION_RES:
            if m := rx.search(text):
                return f"{reason}: {m.group(0).strip()!r}"
        if site := SITE_NAME_RE.search(text):
            return f"names a consultation site: {site.group(0).strip()!r}"
        if name := _names_a_clinician(text):
            return f"names a doctor: {name!r}"
    return None


# An unfinished sentence that may still become a claim or a name ("I am Dr", "As a holistic", "one of our"):
# streaming shows it only once it is finished.
_OPEN_CLAIM_RE = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:i\s*am|i'm|im|i\s+was|i\s+have|i've|i\s+work|as\s+(?:a|an|your|the|one)|speaking|"
    r"this\s+is|my\s+name|myself|we|you(?:'re|\s+are)\s+(?:now\s+)?(?:speaking|talking|chatting)|"
    + SIGNATURE_LEADIN_PATTERN + r")\b"
    # a half-written "Dr" / "Doctor" / "Prof" at the end: "Regards, D", "see Doct"
    r"|(?<![A-Za-z])(?:d|dr|do|doc|doct|docto|doctor|p|pr|pro|prof|profe|profes|profess|professo|professor)\W*$"
    r"|\b(?:our|one\s+of\s+our)\b"
    # "Jane Doe" / "Jane Doe, M" may be followed by ", MD"
    r"|(?-i:[A-Z][a-z]+\s+[A-Z][a-zA-Z]+)(?:,?\s*(?-i:[A-Z])\.?)?\W*$"
    r"|\b[a-z]+\s+[a-z]+,\s*(?:m|md|m\.|m\.d|mb|mbb|mbbs|ph|phd|fr|frc)\.?\W*$",
    _I,
)


def may_become_impersonation(sentence: str) -> bool:
    from medchat.sentences import folded, plain

    return bool(_OPEN_CLAIM_RE.search(plain(folded(sentence))))
