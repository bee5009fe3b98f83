"""Concepts: symptoms in lay wording, as word classes (the rule layer's knowledge)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from medchat.safety.lexicon import HABITUAL, STRESS_TRIGGERED

# -----------------------------------------------------------------------------------------------
# Concepts: symptoms in lay wording. Regexes run on the normalised sentence (lowercase, no
# apostrophes, typos fixed, commas kept as " , " so gaps never cross a clause).


def _gap(n: int) -> str:
    """Up to n filler words inside one clause."""
    return rf"(?: \w+){{0,{n}}}"


G2, G3, G4, G5, G6 = (_gap(n) for n in (2, 3, 4, 5, 6))
# swelling in lay words: "swollen", "puffed up", "huge", "ballooned", "twice the size", "feels too big"
SWOLLEN = (
    r"(?:swell\w*|swollen|puff\w*|blow\w* up|blown up|huge|massive|enormous|ballooned|balloon\w*|like a balloon|"
    r"(?:twice|double) (?:the|its|their|his|her|normal) size|too big|fat|bigger|fattened)"
)
NOT = r"(?:not|isnt|wont|doesnt|dont|cant|didnt|hasnt|havent|arent|wasnt|never|no longer)"
WHOSE = r"(?:my|his|her|their|the|your|our)"
PERSON_OBJ = r"(?:him|her|them|myself|himself|herself|themselves)"
# Medicines, and household things that poison a child (why: a list of brand words never ends; the
# classes do -- "<anything> cleaner / liquid / pods / tablets", solvents, batteries, magnets).
MEDICINES = (
    r"(?:pills?|tablets?|meds|medication|medicines?|capsules?|paracetamol|tylenol|acetaminophen|ibuprofen|aspirin|"
    r"painkillers?|sleeping pills|antidepressants?|insulin|opioids?|oxy\w*|methadone|vitamins|iron tablets|gummies)"
)
# "overdosed on netflix / chocolate / sun": an excess of something that is not a drug is hyperbole (round 9)
EVERYDAY_EXCESS = (
    r"netflix|tv|telly|youtube|tiktok|social media|box ?sets?|series|anime|films|movies|gaming|games|sugar|chocolate|"
    r"sweets|cake|pizza|carbs|cheese|christmas|love|sleep|sun|sunshine|work|coffee|revision|exercise|the gym|cardio|"
    r"music|reality tv|memes|romance|drama|nostalgia|cuteness|food|junk food|crisps|candy|kdramas?|dramas"
)
NOT_A_DRUG = rf"(?! on (?:(?:too much|so much|the|my|all the) )?(?:{EVERYDAY_EXCESS}))"
# "grandad's tablets" -> "grandads tablets" after normalisation
RELATIVES = (
    r"(?:(?:mum|mom|dad|grandma|grandpa|grandad|granddad|nan|nana|gran|granny|grandmother|grandfather|parent|sister|"
    r"brother|aunt|auntie|uncle|mother|father|neighbour|neighbor|visitor|babysitter|someone else)s)"
)
HOUSEHOLD = (
    r"(?:bleach|detergent|disinfectant|dettol|ammonia|caustic(?: soda)?|lye|white spirit|turps|turpentine|petrol|gasoline|"
    r"kerosene|paraffin|lamp oil|lighter fluid|(?:paint )?thinners?|nail (?:polish|varnish) remover|acetone|antifreeze|"
    r"screen ?wash|de ?icer|weed ?killer|slug pellets|pesticides?|insecticides?|rat poison|fertili[sz]ers?|"
    r"essential oils?|mouthwash|hand saniti[sz]ers?|methanol|e ?liquid|vape (?:juice|liquid)|nicotine(?: liquid)?|"
    r"button batter(?:y|ies)|batter(?:y|ies)|magnets?|"
    r"(?:dishwasher|washing up|washing|laundry|toilet|window|oven|drain|floor|bathroom|kitchen|surface|glass|carpet|"
    r"multi ?purpose|cleaning|descal\w*|limescale|bleach) (?:liquid|cleaner|detergent|tablets?|tabs?|pods?|capsules?|"
    r"powder|fluid|spray|gel|products?|solution|stuff|block)|cleaners?|chemicals?|poison\w*|"
    # "<anything> unblocker / remover / descaler / polish / killer"
    r"(?!pain )\w+ (?:unblocker|remover|descaler|degreaser|freshener|polish|killers?|repellent|softener))"
)
BURN_AREA = r"(?:arms?|legs?|chest|back|tummy|stomach|belly|face|neck|hands?|feet|foot|thighs?|shoulders?)"
# Accidents and sport: "scared I'll hurt myself at the gym again" is not self-harm.
ACCIDENT = (
    r"gym|lifting|lift|workout|exercis\w*|warm\w* up|stretch\w*|sports?|football|rugby|running|training|fell|fall|"
    r"falling|slip\w*|trip\w*|accident\w*|by mistake|cooking|kitchen|diy|ladder|bike|cycling|ski\w*|climbing|skating"
)
BODY_SIDE = r"(?:one|left|right|the left|the right|his left|his right|her left|her right|my left|my right)"
# face drooping: any of these parts + any of these words (why: people describe a facial droop in many ways,
# "mouth hanging down", "smile lopsided", "cheek has sagged", "eyelid lower on one side")
FACE_PART = r"(?:face|mouth|smile|lips?|eyelids?|cheeks?|corner of (?:his|her|my|their|the) mouth)"
DROOP = (
    r"(?:droop\w*|dropping|sag\w*|slipped|slipping|slumped|hanging(?! open)|hangs(?! open)|gone down|pulled down|"
    r"sl(?:id|ides|iding)(?: down)?|(?:dropped|fallen|fell)(?: down)? (?:on|to) (?:one|the|his|her|my) (?:side|left|right)|"
    r"lower on (?:one|that|the left|the right|the other|his left|his right|her left|her right) side|lopsided|uneven|"
    r"crooked|slanted|skewed|wonky|twisted|one sided|paralys\w*|paralyz\w*|frozen|numb)"
)


@dataclass(frozen=True)
class Concept:
    label: str  # words used in Triage.reason
    patterns: tuple  # compiled regexes
    unless: re.Pattern | None = None  # sentence-level context that explains the match away (if not negated)
    crisis: bool = False  # never dropped for study/hypothetical framing
    # a general / conditional pattern ("whenever I'm stressed", "every time I eat strawberries") that
    # explains the match away -- unless the sentence says it is happening now (NOW)
    recurring: re.Pattern | None = None
    # context for a rule's none_of only: matched as written (no negation / past / framing checks) and never noted
    # as dropped (a dropped note makes engine.py ask the learned signal for a clear margin)
    context: bool = False
    # all the patterns in one alternation: a sentence it does not match is skipped without trying each pattern
    # (measured: the rule layer's concept loop 2.3 -> 1.0 ms a message on set N); it matches wherever one does
    any_pattern: re.Pattern | None = None


def concept(label: str, *patterns: str, unless: str | None = None, crisis: bool = False,
            recurring: str | None = None, context: bool = False) -> Concept:
    compiled = tuple(re.compile(rf"\b(?:{p})\b") for p in patterns)
    return Concept(
        label,
        compiled,
        re.compile(rf"\b(?:{unless})\b") if unless else None,
        crisis,
        re.compile(rf"\b(?:{recurring})\b") if recurring else None,
        context,
        re.compile("|".join(p.pattern for p in compiled)),
    )


CONCEPTS = {
    # --- heart
    "chest_pain": concept(
        "chest pain",
        rf"(?:chest|breastbone|sternum){G3} (?:pain|pains|painful|ache|aches|aching|hurts?|hurting|pressure|tight|"
        r"tightness|heavy|heaviness|squeez\w*|crushing|burning|discomfort|sore|agony)",
        rf"(?:pain|pains|ache|aching|pressure|tightness|heaviness|squeezing|crushing|discomfort|weight|band|"
        rf"elephant|vice|hurts?|hurting){G5} (?:chest|breastbone|sternum)",
        # lay pressure words: "heavy squeezing thing in the middle of my chest", "tight heavy feeling across my chest"
        rf"(?:heavy|tight|squeez\w*|pressing|crush\w*|clench\w*|gripping){G6} (?:chest|breastbone|sternum)",
        r"heart (?:pain|hurts|ache)",
        r"(?:clutch\w*|grabb\w*|grip\w*|holding|clasp\w*) (?:at )?(?:his|her|my|their|the) chest",
    ),
    "chest_severe": concept(
        "crushing / heavy chest pressure",
        rf"(?:crushing|squeez\w*|elephant|vice|heavy weight|tight band|band|heaviness){G5} chest",
        rf"(?:crushing|squeez\w*|pressing|clench\w*|gripping){G6} (?:middle|centre|center) of {WHOSE} chest",
        rf"chest{G3} (?:crushing|squeez\w*|like a vice|heavy|heaviness|like a weight)",
        rf"chest{G5} (?:vice|vise|clamp\w*|crush\w*|squeez\w*|elephant|heavy weight|weight on it)",
    ),
    "radiating": concept(
        "pain spreading to arm/jaw",
        rf"(?:down|into|up|radiat\w*|spread\w*|shooting|going to|moving to){G3} (?:left |right )?"
        r"(?:arm|arms|jaw|neck|shoulders?)",
        rf"(?:radiat\w*|spread\w*|through){G3} (?:back|shoulder blades?)",
        rf"left arm{G3} (?:numb\w*|tingl\w*|heavy|hurts?|hurting|aching|aches|pain|weak)",
        rf"(?:arm|jaw){G3} (?:numb\w*|tingl\w*|heavy)",
        rf"(?:pain|ache|numbness|tingling) in {WHOSE} (?:left arm|jaw)",
    ),
    "sweating": concept("sweating", r"sweat(?:ing|y|s)?|sweating buckets|clammy|drenched|perspir\w*|cold sweat"),
    "nausea": concept("nausea/vomiting", r"nause\w*|feel\w* sick|vomit\w*|retch\w*|throwing up"),
    "faint": concept(
        "feeling faint",
        r"fainted|fainting|faintness|feel\w* faint|felt faint|(?:going to|about to) faint|light ?headed|dizz\w*|"
        r"pass(?:ing)? out|passed out|black(?:ing|ed)? out|going to collapse|about to collapse",
    ),
    "palpitations": concept(
        "racing heart",
        rf"(?:heart|pulse|heartbeat|heart rate){G3} (?:racing|pounding|thumping|going (?:really |so |very )?"
        r"(?:fast|crazy|mad)|beating (?:really |very |so )?(?:fast|hard)|irregular|all over the place|fluttering)",
        rf"(?:heart|pulse|heart rate){G3} (?:1[4-9]\d|2\d\d)",
        r"palpitations|racing heart",
    ),
    "mi_named": concept(
        "heart attack",
        r"(?:having|just had|going into|in the middle of) (?:a |an )?(?:heart attack|cardiac arrest|mi)",
        r"(?:think|pretty sure|worried|scared|afraid|might be|could be|is this) (?:\w+ ){0,3}(?:a )?heart attack",
    ),
    "cardiac_arrest": concept(
        "no pulse / heart stopped",
        r"cardiac arrest|no pulse|heart (?:has )?stopped|(?:doing|giving|started|start|need to do) cpr",
    ),
    # --- breathing
    "breathless": concept(
        "short of breath",
        r"short(?:ness)? of breath|breathless\w*|out of breath|gasping|wheez\w*",
        r"(?:cant|struggl\w* to|hard to|difficult to|difficulty|trouble|problems?|tight to) "
        r"(?:catch(?:ing)? (?:my|his|her|their) breath|breath\w*|get (?:my|his|her|a|any|their) breath)",
        r"breathing (?:is )?(?:hard|difficult|laboured|labored)",
        unless=r"running|stairs|exercis\w*|workout|gym|jogging|climbing|hiking|cycling|fitter|fitness|unfit|"
        r"nose|nostrils?|nasal|stuffy|blocked|congest\w*|laugh\w*",
        recurring=STRESS_TRIGGERED,
    ),
    "breath_severe": concept(
        "can't breathe",
        r"(?:cant|barely|unable to|struggl\w* to|couldnt) (?:breathe|breath|get (?:any )?air)",
        r"(?:not|isnt|stopped|no longer) breathing|gasping for (?:air|breath)|fighting for (?:breath|air)",
        r"every breath is a (?:fight|struggle)",
        r"(?:cant|unable to|couldnt|struggl\w* to) (?:finish|complete|get out|say) (?:a |his |her |my |full |whole )*"
        r"(?:sentences?|words?)",
        rf"(?:breath\w*|breathe){G4} (?:at rest|sitting (?:still|down)|lying (?:still|down)|even (?:sitting|resting|lying))",
        r"grunting",
        # a child working hard to breathe: skin/tummy sucking in under the ribs, flaring nostrils
        r"(?:sucking|pulling|caving|sinking|drawing) in (?:under|between|below|at|around) (?:his|her|the|their|my) ribs|"
        rf"(?:ribs|tummy|stomach|chest|skin|neck){G3} (?:sucking|pulling|caving|sinking) in|"
        r"nostrils (?:are )?flaring|head bobbing",
        unless=r"nose|nostrils?|nasal|stuffy|blocked|congest\w*|sinus\w*|laugh\w*|giggl\w*|mask",
        recurring=STRESS_TRIGGERED,
    ),
    "cyanosis": concept(
        "blue lips/skin",
        rf"(?:lips?|face|fingertips|fingers|tongue|mouth){G3} (?:blue|bluish|grey|gray)",
        r"(?:blue|bluish) (?:lips|tinge)|(?:turning|turned|going|gone|went) blue",
        unless=r"cold water|swimming|sea|ice|freezing|lipstick|dye|paint|ink|raspberr\w*|blueberr\w*|slush\w*",
    ),
    "choking": concept(
        "choking",
        r"choking|chokes",
        rf"choked{G3} (?:cant|isnt|not) (?:breathe|breath|cough|speak|talk)",
        unless=r"snor\w*|sounds like|apnoea|apnea|like (?:hes|shes|im|i am) choking|on smoke|gag\w*",
    ),
    "inhaler_failing": concept(
        "reliever inhaler not helping",
        rf"(?:inhaler|puffer|nebuli[sz]er|ventolin|salbutamol|albuterol){G3} (?:{NOT}) "
        r"(?:work\w*|help\w*|doing anything|doing much|making a difference)",
        rf"(?:inhaler|puffer){G2} (?:useless|not helping)",
    ),
    # --- stroke
    "face_droop": concept(
        "face drooping",
        # any part of the face + any droop word ("mouth is hanging down", "corner of his mouth slipped")
        rf"{FACE_PART}{G4} {DROOP}",
        rf"(?:droop\w*|lopsided|crooked|wonky|uneven|one sided|slanted) {FACE_PART}",
        rf"(?:face|mouth|smile){G3} (?:weird|funny|strange|odd|different|wrong){G2} (?:one side|left|right)",
        # a smile that works on one side only
        rf"smile{G4} (?:on |up on |at |to )?(?:one|the left|the right|his left|his right|her left|her right) side",
        rf"(?:cant|unable to|couldnt|wont|doesnt) (?:smile|close (?:his|her|my|their) eye){G3} (?:on|one side|left|right)",
        unless=r"dentist|dental|anaesth\w*|anesth\w*|botox|filler|fillers|injection|numbing|cold weather|acne|"
        r"spots|pimples?|wrinkl\w*|eyebrows?|teeth|tooth|braces|orthodont\w*|photos?|pictures?|selfies?|ageing|"
        r"aging|jowls|always been|born with|since (?:birth|i was born|childhood)",
        recurring=r"when (?:i|im|he|she|hes|shes|i get|i am)(?: \w+)? (?:tired|exhausted|sleepy|stressed)|always|usually|"
        r"every (?:morning|evening|day)|in the mornings",
    ),
    "speech": concept(
        "slurred or muddled speech",
        rf"(?:speech|words|talking|speaking){G4} (?:slurr\w*|jumbled|garbled|muddled|mixed up|all wrong|"
        r"coming out wrong|not making sense|weird|strange|funny|nonsense|gibberish)",
        r"slurr\w*",
        r"(?:cant|unable to|struggl\w* to|trouble|difficulty|hard to|couldnt) (?:talk|speak|get (?:his|her|my|the|their) "
        r"words out|find (?:the|his|her|my|their) words|say (?:words|anything))"
        r"(?:(?= properly| right| clearly| normally| straight| at all)|(?=$| and| ,))",
        r"not making (?:any )?sense|talking (?:nonsense|gibberish|rubbish)|making no sense",
        # word-finding trouble: "keeps saying the wrong word", "called the fork a pen"
        r"(?:saying|using|says|uses|calling (?:things|\w+) by) the wrong (?:words?|names?)",
        r"(?:sounds?|sounding|seems?|talking|speaking)(?: like)?(?: (?:hes|shes|he is|she is|theyre|im|i am|hes been|"
        r"shes been))? drunk",
        # being drunk explains slurring; *sounding* drunk does not
        unless=r"(?<!like )(?<!sounds )(?<!sound )(?:is|was|got|gets|getting|hes|shes|im|were|are|been|very|really|so|bit|"
        r"little|blind) drunk|drinks|drinking|alcohol|beer|wine|vodka|tipsy|hungover|throat|laryng\w*|hoarse|lost (?:my|his|her) "
        r"voice|stammer\w*|stutter\w*|shy|nervous|anxious|english|language|accent|braces|toddler|teething|dentist|"
        r"tooth|teeth",
    ),
    "one_side": concept(
        "weakness/numbness on one side",
        rf"(?:one|left|right) (?:side|arm|leg|hand){G4} (?:weak\w*|numb\w*|dead|heavy|limp|paralys\w*|paralyz\w*|"
        r"floppy|tingl\w*|not working|wont move|cant move|useless)",
        rf"(?:weak\w*|numb\w*|limp|paralys\w*|paralyz\w*|heavy){G3} (?:on )?{BODY_SIDE} (?:side|arm|leg|hand)",
        r"(?:cant|unable to|couldnt) (?:lift|raise|move|feel|use|grip with) (?:his|her|my|their|the)? ?"
        r"(?:left|right|one) (?:arm|leg|hand|side)",
        r"half (?:of )?(?:his|her|my|the|their) (?:body|face)",
        # a hand that suddenly can't hold things: "left hand keeps dropping stuff"
        rf"(?:left|right|one) (?:hand|arm){G2} (?:keeps? )?(?:dropping|drops|dropped|letting go of) (?:things|stuff|"
        r"everything|objects|cups?|the cup|his \w+|her \w+)",
        rf"(?:dropping|drops|dropped) (?:things|stuff|everything){G2} (?:with|from|in) (?:his|her|my|their|the) (?:left|right) hand",
        unless=r"gym|lifting|workout|sleeping on it|slept on it|slept funny|injur\w*|sprain\w*|fell|fall|"
        r"pins and needles|tennis|carpal|tunnel|sciatica|disc|shoulder|elbow|wrist|knee|ankle|after|dentist|"
        r"anaesth\w*|anesth\w*|epidural",
    ),
    "vision_loss": concept(
        "sudden loss of vision",
        rf"(?:cant|unable to|couldnt) see{G3} (?:one|left|right|his|her|my) eye",
        rf"(?:lost|losing|loss of|no) (?:the )?(?:sight|vision){G3} (?:one|left|right|his|her|my) eye",
        rf"(?:blind|vision went black|vision (?:went|gone|is) (?:dark|black)){G3} (?:one|left|right) eye",
        r"double vision|seeing double",
        # "the vision went weird in one eye", "half his vision is gone"
        rf"(?:vision|sight|eyesight){G3} (?:weird|funny|strange|blurr\w*|dark|black|grey|gray|blank|dim|gone|went|lost|"
        rf"wrong|missing){G3} (?:in |on |of )?(?:one|left|right|his left|his right|her left|her right|my left|my right) eye",
        r"half (?:of )?(?:his|her|my|their|the) (?:vision|sight)|(?:vision|sight) (?:in|of) one eye (?:went|gone|is gone|"
        r"went dark|went black)",
    ),
    "sudden": concept(
        "sudden onset",
        r"sudden\w*|all of a sudden|out of (?:nowhere|the blue)|just (?:now|started|happened|came on)|"
        r"came on (?:fast|quick\w*|all at once)",
        rf"started{G3} (?:\d+|a few|few|ten|twenty|thirty) (?:minutes|hours?) ago",
        r"(?:\d+|a few|few|ten|twenty|thirty) minutes ago|(?:in|over) the (?:last|past) (?:hour|few minutes|\d+ minutes)",
    ),
    "stroke_named": concept(
        "stroke",
        r"(?:having|just had|is having|in the middle of) (?:a |an )?(?:stroke|mini stroke|tia)(?! of)",
        r"(?:think|pretty sure|worried|scared|afraid|might be|could be|is this) (?:\w+ ){0,3}(?:a )?(?:stroke|mini stroke)"
        r"(?! of)",
    ),
    "limb_weak": concept(
        "arm or leg weakness",
        rf"(?:arm|leg|hand){G2} (?:is|feels|went|gone|has gone|suddenly|going) (?:\w+ )?(?:weak|numb|limp|heavy|floppy|dead)",
        unless=r"gym|lifting|workout|sleeping on it|slept on it|slept funny|injur\w*|sprain\w*|fell|fall|"
        r"pins and needles|tennis|carpal|tunnel|sciatica|disc|shoulder|elbow|wrist|after|jab|vaccin\w*|injection",
    ),
    # --- allergy
    "airway_swelling": concept(
        "swelling of throat/tongue/lips",
        rf"(?:throat|tongue|lips?|airway|windpipe){G3} (?:closing|closed|thick)",
        rf"(?:throat|tongue|lips?|mouth){G3} {SWOLLEN}",
        rf"(?:swell\w*|swollen|puffy|closing){G2} (?:throat|tongue|lips?|airway)",
        r"throat (?:feels |is |going )?(?:tight|closing)|tight throat",
        unless=r"filler|fillers|injection|lip gloss|sunburn\w*|cold sore|dentist|dental|piercing|ulcers?|bumped|punched|"
        r"split lip|fat lip|fell|chapped|dry|cold weather|wind|bit (?:my|his|her|their) (?:lip|lips|tongue)|bitten (?:my|his|her|their) (?:lip|tongue)",
        recurring=HABITUAL,
    ),
    "throat_signs": concept(
        "trouble swallowing / voice changed",
        r"(?:hard|difficult|struggl\w*|trouble|cant|unable|difficulty|can barely|barely) (?:to )?swallow\w*",
        rf"voice{G3} (?:funny|strange|hoarse|croaky|different|weird|changed|muffled|squeaky|gone)",
    ),
    "face_swelling": concept(
        "face swelling",
        rf"(?:face|eyes?|eyelids?){G3} {SWOLLEN}",
        r"(?:swell\w*|swollen|puffy) (?:face|eyes?)",
        unless=r"crying|cried|hay fever|hayfever|sleep|tired|morning|mornings|woke|wake|tooth|teeth|dentist",
        recurring=HABITUAL,
    ),
    "allergen": concept(
        "allergy trigger",
        r"allerg\w*|anaphyla\w*|peanuts?|nuts?|shellfish|shrimps?|prawns?|lobster|crab|sesame|bees?|wasps?|hornets?|"
        r"stung|sting|stings|penicillin|amoxicillin|antibiotics?|epipen|new (?:medication|medicine|tablets?|pills?|drug)|"
        r"(?:first|1st) (?:dose|tablet|pill)|hives",
        r"cashews?|almonds?|walnuts?|pistachios?|hazelnuts?|pecans?|brazil nuts?|satay|peanut butter|insect bite",
    ),
    # Something just eaten / taken. Weak alone, so only the airway-swelling rule uses it: lips or tongue
    # swelling up after *any* food or new drug is the warning sign, whatever the food was.
    "exposure": concept(
        "after eating / a sting / a new drug",
        r"(?:ate|eaten|eating|tasted|tried|had|took|taken|taking) (?:a |an |some |the |his |her |my |a bit of |one )?\w+",
        r"after (?:eating|dinner|lunch|breakfast|a meal|the meal|food|a takeaway|the takeaway|the restaurant|taking|"
        r"starting)|stung|bitten|bite|started (?:on|taking)",
    ),
    "hives": concept(
        "hives",
        r"hives|welts|urticaria",
        rf"(?:covered|all over){G3} (?:rash|spots|bumps|blotches|welts)",
    ),
    "anaphylaxis_named": concept(
        "anaphylaxis",
        r"(?:having|going into|gone into|went into|into) (?:an )?anaphyla\w*|anaphylactic (?:shock|attack)",
        r"(?:having|is having) (?:an? )?(?:anaphylactic|severe allergic|bad allergic) reaction",
    ),
    "allergic_reaction": concept("allergic reaction", r"allergic reaction|reacting to"),
    # --- bleeding and injury
    "bleeding": concept("bleeding", r"bleed\w*|bled|blood|bloody|haemorrhag\w*|hemorrhag\w*"),
    "bleed_severe": concept(
        "bleeding that won't stop",
        rf"(?:bleed\w*|blood){G6} (?:{NOT}) (?:stop\w*|slow\w*|clot\w*)(?! (?:thinking|crying|worrying|shaking|panicking|feeling|wanting|myself|doing|it\b))",
        # ("stopped bleeding now but i cant stop thinking about doing it again": round 8, the thought is not the wound)
        # pressure that fails: "we press with a towel but it goes through"
        rf"(?:press\w*|towels?|cloth|bandages?|dressing){G5} (?:go|goes|going|gone|went|come|comes|coming|came|soak\w*) "
        r"(?:straight )?through",
        rf"(?:blood|bleed\w*){G3} (?:very much|so much|heavily)",
        rf"(?:cant|couldnt|unable to) (?:stop|slow){G2} (?:the )?(?:bleed\w*|blood)",
        rf"blood{G3} (?:spurt\w*|gush\w*|pour\w*|pump\w*|everywhere|squirt\w*)",
        rf"(?:spurt\w*|gush\w*|pour\w*|pump\w*|squirt\w*){G3} blood",
        r"(?:so|very) much blood|(?:a lot|lots|loads|tons|pools?|puddle|litres?|liters?) of blood",
        rf"soak\w*{G3} (?:through|towels?|bandages?|clothes|pads? (?:an|every) hour)",
        # a pad soaked (or filled) within an hour or less -- postpartum haemorrhage is described this way
        rf"(?:soak\w*|fill\w*|going through|changing){G2} pads?{G2} (?:every|each|an|in|within) (?:hour|half|\d+ minutes|few)",
        r"bleed\w* (?:heavily|badly|a lot|profusely|like crazy|everywhere|loads)|heavy bleeding",
        rf"(?:bleed\w*|blood){G3} (?:a lot|lots|everywhere)",
        unless=r"periods?|menstrua\w*|spotting|gums?|nose ?bleeds? (?:often|a lot)|piles|haemorrhoids?|hemorrhoids?",
    ),
    "large_amount": concept(
        "large amount",
        r"a lot|lots|loads|so much|tons|cupful|cups?|bright red|clots|huge amount|mugful|bowlful",
    ),
    "vomit_blood": concept(
        "vomiting or coughing up blood",
        rf"(?:vomit\w*|cough\w*|spit\w*|sick){G2} (?:up )?(?:some |a bit of |bits of |streaks of |a lot of )?blood\w*",
        rf"blood\w*{G2} (?:in|when) (?:my|his|her|the) (?:vomit|sick|cough\w*|phlegm|spit|mucus)",
    ),
    "penetrating": concept(
        "stab/gunshot wound",
        r"stabbed|stab wound|(?:got|been|was|were|is|hes been|shes been|just been) shot(?! (?:at|down|a look|of|up))|"
        r"gunshot|shot wound|impaled|severed|amputat\w*",
        # a pain described as stabbing ("feels like being stabbed") is not a wound (measured on real consultation messages)
        unless=r"flu shot|booster|vaccin\w*|jab|injection|photo|(?:feels?|felt|feeling) (?:\w+ ){0,3}(?:like|as if)|"
        r"like (?:i am |im |i was |being )?(?:being )?stabbed|stabbing pain",
    ),
    "open_fracture": concept(
        "bone through the skin",
        rf"bone{G3} (?:sticking|poking|coming|stuck|showing|pushing) (?:out|through)|(?:see|seeing|can see) (?:the )?bone|"
        r"bone (?:is )?(?:showing|visible|exposed)",
        unless=r"fish|chicken|meat|dogs?|broth|steak",
    ),
    "pregnant": concept("pregnancy", r"pregnan\w*|weeks? along"),
    "spotting": concept("spotting", r"spotting|spotted blood|(?:brown|pink) discharge"),
    # ectopic pregnancy in lay words: pain low on one side, shoulder-tip pain
    "one_sided_pelvic": concept(
        "pain low on one side",
        rf"(?:pain|ache|aching|cramp\w*|stabbing|stitch|hurts?|hurting){G6} (?:on )?(?:one|the left|the right|my left|my right) side",
        rf"(?:low|lower|low down|bottom){G3} (?:on )?(?:the |my )?(?:left|right)",
        r"one sided (?:pain|cramp\w*|ache)",
    ),
    "shoulder_tip": concept(
        "shoulder-tip pain",
        r"(?:tip|top) of (?:my|her|the|his) shoulder|shoulder tip",
    ),
    # --- diabetes: a confused or drowsy diabetic is a hypo until proven otherwise
    "diabetic": concept(
        "diabetic",
        r"diabet\w*|type (?:1|one|2|two)|insulin|hypo|hypoglyc\w*|(?:low|dropping|crashing) sugars?|"
        r"sugars? (?:is |are |was )?(?:low|dropping|crashing)",
    ),
    # --- consciousness
    "unresponsive": concept(
        "unresponsive",
        # "lifeless" of a person, not of hair or skin (measured: two real consultation messages about hair)
        r"unconscious|unresponsive|not responsive|no response|out cold|"
        # not a tooth: "his baby tooth got knocked out at football" (round 8)
        r"(?<!tooth )(?<!teeth )(?<!tooth got )(?<!teeth got )(?<!tooth was )(?<!teeth were )knocked (?:out|unconscious)"
        r"(?! (?:\w+ )?(?:tooth|teeth|front))|"
        r"(?<!dull and )(?<!dry and )(?<!looks )(?<!become )lifeless(?! (?:hair|skin|locks|curls))",
        r"(?:not|isnt|wont|doesnt|no longer) respond\w*|cant get (?:him|her|them) to respond",
        rf"(?:cant|couldnt|unable to|wont) (?:wake|rouse)(?: {PERSON_OBJ}| \w+)?(?: up)?",
        r"wont wake(?: up)?|(?:not|isnt|arent) waking(?: up)?|(?:cant|wont) be (?:woken|roused)|hard to wake",
        # "doesn't wake up at all", "won't come round", "can't get her to wake"
        # ("...enough to just not wake up" is a wish, not a finding: bare "not" is left out)
        rf"(?:doesnt|didnt|wouldnt|cant get {PERSON_OBJ} to) (?:wake|come round|come around|come to)(?: up)?",
        r"(?:wont|isnt|not) (?:come round|come around|coming round|come to)",
        unless=r"emails?|messages?|texts?|calls?|letters?|treatment|antibiotics?|medication|medicine|meds|therapy|"
        r"physio|wish|think\w* about|want to|hope|rather|alarm|mornings|in the morning|school|work|weekends?|noon|"
        r"midday|lie ?ins?|oversleep\w*|lazy",
    ),
    "not_answering": concept(
        "not answering / eyes won't open",
        r"(?:wont|isnt|not|doesnt|cant|didnt|wouldnt) (?:answer\w*|react\w*|open (?:his|her|their) eyes)",
        r"eyes (?:wont|dont|arent|not) (?:open|opening)|no reaction",
        # a person ignoring texts or questions is not unresponsive
        unless=r"emails?|messages?|texts?|calls?|phone|questions?|door|letters?|about|when i ask|tantrum|sulk\w*|ignor\w*|"
        r"playing|games?|headphones|busy|upset|angry|mood",
    ),
    "down": concept(
        "on the floor / slumped",
        r"on the (?:\w+ )?(?:floor|ground|pavement|road)|slumped|lying (?:there )?(?:motionless|still|lifeless)",
    ),
    "floppy": concept("floppy / limp", r"floppy|limp and|gone limp|went limp|is limp|lifeless"),
    "collapsed": concept(
        "collapsed",
        r"collaps\w*|keeled over|dropped to the (?:floor|ground)",
        unless=r"lung|lungs|vein|veins|arch|arches|disc|disk|exhausted|tired|building|roof|tent|business|market",
    ),
    "fainted": concept(
        "fainted",
        r"fainted|fainting|passed out|blacked out|lost consciousness|went unconscious|keeps fainting",
    ),
    # --- seizures
    "seizure": concept(
        "seizure",
        r"seizures?|seizing|convuls\w*|fitting|(?:a|another|having|had|has|having a) fits?|epileptic (?:fit|attack)|"
        r"shaking uncontrollably|jerking uncontrollably",
        unless=r"keep fit|fitting room|fitting in|fits? (?:in|into|well|perfectly)",
    ),
    # what a seizure looks like to a bystander: foaming, eyes rolled back -- with jerking, it is happening now
    "seizure_sign": concept(
        "foaming / eyes rolled back",
        r"foaming at the mouth|frothing at the mouth",
        rf"eyes{G2} (?:roll\w*|rolled) (?:back|up)",
    ),
    "seizure_lay": concept(
        "jerking / shaking all over",
        rf"(?:arms?|legs?|limbs|body|whole body|hands and feet|all four limbs){G3} (?:jerk\w*|twitch\w*|thrash\w*|"
        r"spasm\w*|convuls\w*|shaking|shuddering)",
        r"(?:jerk\w*|twitch\w*|thrash\w*|shaking|shakes|shuddering) (?:all over|uncontrollably|violently|on the (?:floor|ground))",
        rf"on the (?:\w+ )?(?:floor|ground){G2} (?:jerk\w*|twitch\w*|thrash\w*|shaking|fitting|convuls\w*)",
        r"(?:went|gone|goes) (?:stiff|rigid) and (?:then )?(?:started )?(?:shaking|jerking|twitching)",
        # shivering, nerves, hunger, tics and sleep twitches look like this too
        unless=r"cold|freezing|shiver\w*|chills|swim\w*|nervous|nerves|anxious|anxiety|scared|frightened|fear|crying|"
        r"sobbing|laugh\w*|hungry|hunger|lunch|meals?|sugar|caffeine|coffee|sleep|asleep|dream\w*|eyelids?|tics?|"
        r"tourette\w*|hiccup\w*|dancing|music|withdrawal|hangover|parkinson\w*|tremor|restless|at night|in bed",
    ),
    "seizure_long": concept(
        "lasting or repeated",
        rf"(?:{NOT}) stop\w*",
        r"(?:over|more than|longer than|for|at least) (?:5|five|6|7|8|9|10|ten|\d\d|fifteen|twenty) minutes",
        # any duration of five minutes or more, or "for ages", "still going"
        r"(?:[5-9]|[1-9]\d|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|several) minutes|for ages|ages now|"
        r"(?:a |such a )?(?:long|good) (?:time|while)|going on for|still (?:going|shaking|jerking|fitting|twitching)",
        r"(?:seizure|fit) after (?:seizure|fit)|one after (?:another|the other)|back to back|another one",
        rf"(?:{NOT}) (?:waking|woken|wake|come round|coming round|came round|conscious)(?: up)?",
        r"first (?:ever )?(?:seizure|fit)",
    ),
    # --- babies, fever, meningitis, sepsis
    "baby": concept(
        "baby",
        r"bab(?:y|ies|ys)|newborns?|infants?|toddlers?|little one",
        r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) (?:day|days|week|weeks|month|months|"
        r"mo) old",
    ),
    "young_infant": concept(
        "baby under 3 months",
        r"newborns?|(?:\d|1[0-2]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) (?:day|days|week|weeks) old",
        r"(?:1|2|one|two) (?:month|months|mo) old",
    ),
    "fever": concept(
        "fever",
        r"fever\w*|temperature|high temp|burning up|burning hot|(?:very|really|so) hot to (?:the )?touch|pyrexi\w*",
        r"(?:3[89]|4[0-2])\.\d|(?:3[89]|4[0-2]) (?:c|degrees|deg)|10[0-5](?:\.\d)? (?:f|degrees|deg)|10[0-5]\.\d",
        unless=r"hay fever|hayfever|glandular fever|room temperature|water temperature|temperature outside|what temperature|"
        r"temperature (?:should|for|of) (?:the |a |her |his )?(?:bath|milk|bottle|formula|room|water|nursery|bedroom)|"
        r"(?:bath|milk|bottle|formula|nursery|bedroom) temperature|normal temperature|3[56](?:\.\d)?|37\.[0-4]",
    ),
    "feels_hot": concept(
        "feels hot to the touch",
        r"(?:really|very|so|too|quite|extremely|super|properly|red) (?:hot|warm)|(?:hot|warm) to (?:the )?touch|"
        r"boiling|burning up|roasting|like a (?:furnace|radiator|hot water bottle)|(?:feels?|felt|seems?) hot",
        unless=r"bath|bathwater|shower|blankets?|swaddl\w*|room|weather|outside|sun|car|layers|clothes|sleeping bag|"
        r"water|bottle is|milk is|formula is",
    ),
    "high_fever": concept(
        "very high fever",
        r"39\.[5-9]|4[0-2]\.\d|4[0-2] (?:c|degrees)|10[3-5](?:\.\d)? (?:f|degrees)|10[3-5]\.\d|very high (?:fever|temp\w*)",
        rf"(?:fever|temperature){G3} (?:wont|doesnt|not|isnt) (?:come|coming|go|going) down",
    ),
    "persistent": concept(
        "lasting days",
        r"(?:for|over|past|last|since|in) (?:the )?(?:past |last )?(?:3|4|5|6|7|8|9|three|four|five|six|seven|several|"
        r"a few|few) days?",
        r"(?:3|4|5|6|7|three|four|five|six|seven) days (?:now|straight|in a row)|(?:a|one|two|2|over a) weeks?",
        r"not (?:getting|got) (?:any )?better|no better|getting worse|worse and worse",
    ),
    "infant_severe": concept(
        "very unwell baby",
        r"floppy|limp|lifeless|hard to wake|wont wake|not waking|mottled|blotchy|grunt\w*|high pitched (?:cry|crying|scream\w*)|"
        r"bulging (?:soft spot|fontanelle)|(?:turning|gone|going) blue|blue lips",
    ),
    "infant_unwell": concept(
        "not feeding / unusually sleepy",
        r"(?:not|isnt|wont|stopped|refus\w*) (?:feeding|eating|drinking|taking (?:milk|bottles?|feeds))",
        r"(?:not|isnt|wont|stopped|hasnt|havent|doesnt|didnt|wouldnt)(?: \w+)? (?:feeding|feed|feeds|fed|eating|drinking|"
        r"taking|take|wanted|want|had|finish\w*)(?: (?:his|her|the|a|any|their))? (?:milk|bottles?|feeds?|breast|formula|"
        r"boob)",
        r"refus\w* (?:his |her |the |any |their |to )?(?:feeds?|feeding|bottles?|milk|breast|formula|food|drink)",
        r"(?:very|really|unusually|so|extremely) (?:sleepy|drowsy|lethargic)|letharg\w*|hard to wake|"
        r"(?:no|not had a|hasnt had a) wet (?:nappies|diapers|nappy|diaper)",
    ),
    "rash_nonblanching": concept(
        "rash that doesn't fade when pressed",
        rf"(?:rash|spots|marks|dots|blotches){G5}(?: \w+)? (?:{NOT}|didnt) (?:fade|blanch|go white|disappear)"
        rf"{G4} (?:press\w*|glass|push\w*|tumbler)",
        rf"(?:rash|spots|marks|dots|blotches){G5}(?: \w+)? (?:{NOT}|didnt) (?:fade|blanch)",
        r"glass test|tumbler test|non ?blanching|petechia\w*|purpura|purple (?:rash|spots|blotches|dots|marks)",
        rf"(?:rash|spots){G3} (?:purple|dark red)",
    ),
    "stiff_neck": concept(
        "stiff neck",
        rf"stiff neck|neck{G3} (?:stiff|rigid)",
        r"(?:cant|unable to) (?:bend|put|touch|move) (?:his|her|my|their) (?:chin|head|neck) (?:to|on|down|forward)",
        unless=r"slept|sleeping|pillow|desk|computer|gym|whiplash",
    ),
    "photophobia": concept(
        "light hurts the eyes",
        rf"(?:light|brightness|bright lights?){G3} (?:hurts?|hurting|painful|bothers?|bothering|unbearable)",
        r"(?:cant) (?:stand|bear|handle|tolerate|look at) (?:the )?(?:light|bright|brightness)",
        r"sensitiv\w* to (?:the )?light|photophobi\w*|light sensitiv\w*",
    ),
    "headache": concept(
        "headache",
        r"head ?aches?|migraines?|head (?:hurts|pain|is pounding|pounding|hurts)|pounding heads?|(?:pain|ache) in (?:my|his|her) head",
    ),
    "headache_worst": concept(
        "worst headache of their life",
        rf"(?:worst|worse) (?:headache|head pain|pain){G3} (?:of|in) (?:my|his|her|their) (?:entire |whole )?life",
        r"thunderclap",
    ),
    "headache_sev": concept(
        "severe headache",
        rf"(?:severe|terrible|horrible|excruciating|agonising|agonizing|blinding|massive|awful|explosive|splitting|"
        rf"unbearable|worst|intense|really bad|crazy bad){G2} (?:headache|head pain)",
    ),
    "hit_like": concept(
        "like being hit on the head",
        rf"like (?:being|getting|i was|i got|someone|a|he was|she was)?{G2} (?:hit|struck|kicked|smacked|whacked|punched)"
        rf"{G5} (?:head|bat|hammer|brick)",
        r"like (?:a|an) (?:explosion|bomb|thunderclap)|explod\w* (?:in|inside) (?:my|his|her) head",
    ),
    "confusion": concept(
        "confusion",
        r"confus(?:ed|ion)(?! (?:about|by|which|what|how|whether|as|why|with|if|on|over|at))",
        r"disorient\w*|delirious|not making (?:any )?sense|doesnt know where (?:he|she|they|i) (?:is|are|am)|"
        r"doesnt recogni[sz]e|talking nonsense|acting (?:strange|weird|odd)",
    ),
    "drowsy": concept(
        "very drowsy",
        r"drowsy|(?:very|really|so|unusually|extremely) sleepy|hard to wake|cant stay awake|"
        r"keeps? (?:falling asleep|nodding off)|letharg\w*",
    ),
    "mottled": concept(
        "mottled / blotchy skin",
        rf"mottled|marbled|ashen|(?:skin){G3} (?:blotchy|blue|grey|gray|pale and clammy|patchy|purple|dusky|"
        r"bluish|greyish)|blotchy",
        unless=r"eczema|acne|rosacea|blush\w*|sunburn|allerg\w*|hives",
    ),
    "infection": concept(
        "known infection",
        r"infection|infected|septic|sepsis|cellulitis|pneumonia|uti|abscess",
        unless=r"ear infection|eye infection|fungal|thrush|yeast",
    ),
    "rigors": concept("shivering / rigors", r"shiver\w*|rigou?rs|chills|teeth chattering|shaking with (?:cold|chills)"),
    "fast_breathing": concept(
        "breathing fast",
        rf"breath\w*{G2} (?:really |very |so )?(?:fast|quick\w*|rapid\w*|hard and fast)|rapid breath\w*|panting",
    ),
    # --- poisoning / overdose (the act has happened)
    "ingested": concept(
        "swallowed something",
        rf"(?:swallow\w*|took|taken|ate|eaten|drank|drunk|drinking|downed|necked|chewed|chewing|licked|sucked|sipped|"
        rf"gulped|bit into){G6} (?:{MEDICINES}|{HOUSEHOLD}|mushrooms?|berries|"
        # a bare "the whole packet" (pills implied) -- not "a packet of crisps"
        rf"(?:bottle|packet|box|pack|tub|jar)(?!(?: of)? (?!(?:\w+ )?{MEDICINES}|{HOUSEHOLD})\w))",
        # "thinking about taking all my pills" is intent (crisis), not an ingestion that happened
        unless=r"(?:think\w*|thought|want\w*|going to|plan\w*|tempted|considering|should i) (?:about |of |to )?(?:just )?"
        r"(?:take|taking|swallow\w*)|painless|(?:would|will|does) it (?:hurt|be painful)",
    ),
    "toxic": concept(
        "poisonous substance",
        HOUSEHOLD,
        r"wild mushrooms?|(?:unknown|random|some of (?:his|her|my|the)) (?:pills?|tablets?|berries|mushrooms?)",
        # someone else's medicine, or nobody knows how much
        rf"unsure how (?:many|much)|{RELATIVES} (?:\w+ )?(?:pills|tablets|meds|medication|medicine)",
        # pills gone from a strip or packet: nobody knows the dose; "some of her heart pills" is someone else's
        rf"{MEDICINES}?{G2} missing|missing from (?:the|a|her|his|my) (?:strip|packet|pack|bottle|box|blister)|"
        rf"some of (?:his|her|my|the|their) (?:\w+ )?{MEDICINES}",
    ),
    # --- a child and something from the cupboard: any medicine not theirs, any household chemical
    "child": concept(
        "child",
        r"(?:my|our|his|her|their) (?:\w+ )?(?:son|daughter|kid|kids|child|boy|girl|toddler|baby|grandson|granddaughter|"
        r"nephew|niece|little one|twins?)|toddler|baby|infant|little one",
        r"(?:[1-9]|1[0-2]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) (?:year|yr|years|yrs) old|"
        r"\d+ (?:month|months|mo) old",
    ),
    "child_ingested": concept(
        "child swallowed medicine or chemicals",
        # not "took" ("my daughter took her antibiotics"): a child eats, drinks, chews or gets into things
        rf"(?:swallow\w*|ate|eaten|drank|drunk|chewed|chewing|licked|sucked|sucking|bit into|got into|got hold of|"
        rf"found){G6} (?:{MEDICINES}|{HOUSEHOLD})",
        unless=r"(?:tablet|pill|capsule) whole|prescribed|(?:his|her|their) (?:own )?(?:dose|medicine|antibiotics?|inhaler)",
    ),
    "ingest_act": concept(
        "had a sip / swallowed some",
        r"(?:had|took|taken) (?:a |some )?(?:sip|swig|mouthful|gulp|taste|lick|bite|drink)",
        r"(?:swallowed|drank|drunk|ate|eaten|chewed|licked|sucked on|sucking on|chewing on|chewing) (?:some|it|them|one|any|"
        r"a bit|a little|a few|bits|the lot)",
        r"(?:some|it|bits) (?:went|got) (?:in|into) (?:his|her|their) mouth",
        r"(?:chewed|bitten|bit) (?:open|through|into)|(?:gel|liquid|powder|foam|residue|stuff|bits) (?:all )?(?:round|around|on|in) "
        r"(?:his|her|their) (?:mouth|lips)|(?:mouth|breath) (?:smells?|tastes?) (?:of|like)",
    ),
    "adult_meds": concept(
        "someone else's medicine",
        rf"(?:my|our|{RELATIVES}) (?:\w+ ){{0,3}}{MEDICINES}",
    ),
    "swallowed_object": concept(
        "swallowed an object",
        rf"(?:swallow\w*|ate|eaten){G4} (?:coins?|marbles?|lego|beads?|buttons?|earrings?|screws?|nails?|pins?|stones?|"
        r"pebbles?|small toy|toy|piece of (?:plastic|toy|glass|metal)|ring)",
    ),
    "dose_big": concept(
        "large dose",
        r"(?:the )?(?:whole|entire|full) (?:bottle|packet|pack|box|blister|strip|tub|jar)|(?:a|the) (?:bottle|packet|pack|box) "
        r"of (?:pills|tablets|paracetamol|painkillers|\w+)",
        r"all (?:of )?(?:my|his|her|their|the|your) (?:\w+ )?(?:pills|tablets|meds|medication|medicine|antidepressants)",
        r"(?:a )?(?:bunch|handful|load|loads|lots|heaps) of (?:pills|tablets|meds)|(?:way )?too many|"
        rf"overdos\w*{NOT_A_DRUG}",
        r"(?:1[2-9]|[2-9]\d|\d{3}) (?:of )?(?:my |his |her |the )?(?:\w+ )?(?:pills|tablets|capsules|paracetamol|ibuprofen|"
        r"antidepressants|meds)",
    ),
    "od_act": concept(
        "overdose",
        rf"overdosed{NOT_A_DRUG}|(?:took|taken|had|has taken|done) an? overdose(?! of (?:{EVERYDAY_EXCESS}))|"
        rf"(?:he|she|they|i|ive|hes|shes) (?:has |have )?overdosed{NOT_A_DRUG}",
    ),
    # --- burns
    "burn_injury": concept(
        "burn",
        r"burned|burnt|scald\w*|(?:caught|set|on) fire|(?:bad|severe|big|serious|chemical|electrical|deep) burns?|"
        r"fire|flames|boiling (?:water|oil|kettle)|acid (?:attack|thrown|splash\w*)",
        # hot liquid, steam or a chemical landing on someone
        r"hot (?:oil|fat|water|tea|coffee|soup|drink|pan|grease|liquid|wax|milk|iron|metal)|(?:boiling|scalding) \w+|"
        r"steam|kettle",
        r"(?:grabbed|touched|leaned on|leant on|fell (?:on|against)|picked up|sat on) (?:the |a |his |her |my )?(?:hot )?"
        r"(?:iron|oven|stove|hob|hot plate|pan|radiator|exhaust|straighteners|curling (?:iron|tongs)|heater|barbecue|bbq)",
        rf"(?:splash\w*|spill\w*|spilt|tipped|knocked|pulled|poured|dropped){G5} (?:oil|fat|tea|coffee|soup|kettle|pan|"
        r"pot|mug|cup|chemicals?|bleach|acid|oven cleaner|drain cleaner|cleaner|caustic\w*)",
        rf"(?:bleach|acid|caustic\w*|oven cleaner|drain cleaner|lye|ammonia|chemicals?){G4} (?:on|in|into|onto|over) "
        r"(?:my|his|her|their|the) (?:skin|arms?|hands?|face|eyes?|legs?|chest|body)",
        unless=r"sun|sunbath\w*|tanning|sunbed|heartburn|acid reflux|reflux|stomach acid|folic acid|fire alarm|fired|"
        r"steam room|sauna|steamed|steamer|steam clean\w*|"
        # skin care, not an injury (measured on real consultation messages: cosmetic acids and peels, a product that
        # stung, skin that looks burnt after a product, hot water on an itchy rash)
        r"\w+ic acid|fatty acid|(?:chemical|acid) peel|peel treatment|"
        r"(?:cream|lotion|moisturi[sz]\w*|ointment|serum|shampoo|alcohol|peel|product)(?: \w+){0,5} (?:burned|burnt|burns|stung)|"
        r"(?:looks?|looked|looking|feels?|felt)(?: \w+){0,5} (?:burnt|burned)|"
        r"\b(?:it|that|this) (?:\w+ )?burned|burned (?:really|so|very|extremely|terribly) \w+|"
        r"(?:hot|warm) water (?:run|running|on it|over it)",
    ),
    "burn_blister": concept(
        "blistering",
        r"blister\w*|red raw|raw and weeping",
        # a small blister on a finger is first aid at home; shoe blisters are not burns
        unless=r"small|tiny|little|minor|fingers?|fingertips?|thumb|a bit|single|one blister|pea|shoes?|heels?|walking|"
        r"hik\w*|running|rubbing|friction",
    ),
    "burn_severe": concept(
        "large or deep burn",
        rf"skin{G3} (?:peel\w*|com\w* off|falling off|hanging off|white|black|charred|leathery|melted)",
        rf"blister\w*{G3} (?:all over|everywhere|huge|big|large)|(?:huge|big|large|massive) (?:blisters?|patch\w*|area)",
        r"(?:whole|entire|all (?:of )?(?:his|her|my|the|their)|most of (?:his|her|my|the)) (?:arm|leg|chest|back|face|"
        r"body|hand|side|torso|tummy|stomach)",
        # more than one body area: "his arm and chest are scalded"
        rf"{BURN_AREA} and (?:his |her |my |their |the )?{BURN_AREA}",
        r"face|eyes?|groin|genitals?|hands|chemical|electric\w*|acid|(?:bigger|larger) than (?:his|her|my|a|the|your)? ?"
        r"(?:hand|palm)|boiling|blistered",
    ),
    # --- head injury
    "head_injury": concept(
        "head injury",
        rf"(?:hit|banged|bumped|smacked|knocked|struck|whacked|cracked){G2} (?:his|her|my|their|the|your) head",
        rf"(?:fell|fall|fallen|falling){G5} (?:on|onto) (?:his|her|my|their|the) head|head (?:injury|trauma|wound)|"
        r"concussion|fractured skull",
    ),
    # --- urgent-level findings
    "blood_urine_stool": concept(
        "blood in urine or stool",
        rf"blood{G2} (?:in|when) (?:my|his|her|the)? ?(?:pee|urine|wee|poo|poop|stool|stools|bowel movements?)",
        r"(?:bloody|red|pink) (?:pee|urine|wee)|(?:black|tarry|tar like|bloody) (?:poo|poop|stools?|diarrhoea|diarrhea)",
        rf"(?:pee|peeing|urine|wee|weeing){G3} (?:blood|bloody)|(?:pooing|pooping|passing) blood|rectal bleeding",
        rf"(?:poo|poop|stools?){G4} (?:black|like tar|tarry)",
        rf"(?:pee|urine|wee){G4} (?:red|reddish|pink|pinkish|bright red|cola coloured|cola colored)(?! wine)",
        unless=r"beetroot|beets",
    ),
    "dysuria": concept(
        "pain passing urine",
        r"(?:burning|burns|sting\w*|pain|painful|hurts) (?:when|while|to) (?:i |he |she )?(?:pee|peeing|urinat\w*|wee)",
        r"uti|urine infection|water infection|bladder infection|cystitis",
    ),
    "flank_pain": concept(
        "back/side pain",
        rf"(?:back|side|flank|kidneys?){G3} (?:hurts?|hurting|pain|aches?|aching)|pain in (?:my|his|her) (?:back|side|flank)",
        rf"(?:pain|ache|aches|aching|hurting|sore|soreness){G3} (?:back|side|flank|kidneys?|loin)",
    ),
    "no_weight": concept(
        "can't bear weight",
        r"(?:cant|unable to|couldnt) (?:put|bear|take|stand) (?:any )?weight|cant walk on it|cant stand on it",
    ),
    "calf_clot": concept(
        "swollen painful calf",
        rf"(?:calf|calves|leg){G4} (?:swollen|swelling|red|hot|warm)(?:{G3} (?:sore|painful|tender|hurts|red|hot|warm))?",
        unless=r"both (?:legs|calves|ankles)|cramp\w*|gym|running|marathon|bruise\w*|sprain\w*|twisted",
    ),
    "long_travel": concept("long flight / immobility", r"long (?:flight|haul|drive|journey|trip)|flight|surgery|bed rest|pill"),
    "persistent_vomit": concept(
        "can't keep fluids down",
        r"cant keep (?:anything|any|water|fluids?|food|drinks?|even water) down",
        rf"(?:vomit\w*|sick){G3} (?:for|since){G2} (?:\d+|two|three|four|a couple of) (?:days?|hours)",
        r"keeps? (?:vomit\w*|being sick)",
    ),
    "pus_or_spreading": concept(
        "infection signs (pus / spreading redness)",
        rf"(?:red|redness|swelling){G4} (?:spreading|getting bigger|tracking|growing)|red (?:streaks?|lines?)|pus|oozing",
        # past the pen line drawn round it
        r"(?:gone|spread\w*|moved|grown|going|went|creeping|crept|past|beyond|outside)(?: \w+){0,2} (?:past|beyond|outside|over) "
        r"(?:the |my |a )?(?:pen |marker |biro )?(?:line|lines|mark|marks|circle|outline|border)|"
        r"bigger than the (?:circle|line|mark|outline)",
    ),
    "eye_sore": concept(
        "red or painful eye",
        rf"eyes?{G5} (?:red|bloodshot|painful|aching|aches|sore|hurts?|hurting|throbb\w*)",
        unless=r"hay ?fever|tired|screens?|computer|crying|cried|contact lens\w*|pollen|allerg\w*",
    ),
    "blurred_vision": concept(
        "blurred vision",
        rf"(?:visions?|sight|things|everything){G4} (?:blurr\w*|hazy|misty|cloudy|foggy|fuzzy|dim)|blurr\w* vision|"
        r"(?:cant|struggl\w* to) see (?:properly|clearly)",
    ),
    "fluid_loss": concept("diarrhoea / vomiting", r"diarrh\w*|the runs|vomit\w*|sickness|being sick"),
    "abdo_pain": concept(
        "belly pain",
        rf"(?:pain|ache|aching|hurts?|hurting|cramp\w*|tender){G4} (?:belly|tummy|stomach|abdomen|abdominal)",
        rf"(?:belly|tummy|stomach|abdomen|abdominal){G2} (?:pain|ache|hurts?|hurting|cramp\w*|agony)",
    ),
    "abdo_flag": concept(
        "worsening / lower right",
        r"getting worse|worse and worse|worsening|worse since|(?:lower|bottom) right|right (?:lower|bottom)|rigid|"
        r"severe|unbearable|excruciating|agony",
    ),
    "cant_swallow": concept(
        "can't swallow",
        rf"(?:cant|barely|can barely|hard to|unable to|struggl\w* to) swallow{G2} (?:spit|saliva|water|drool\w*|anything)",
        r"drooling",
        rf"(?:cant|couldnt) get {PERSON_OBJ} to (?:swallow|eat|drink)",
    ),
    "high_sugar": concept(
        "very high blood sugar",
        rf"(?:blood )?(?:sugar|glucose|bs|bgl){G4} (?:over|above|at|of|is) ?(?:[3-9]\d\d|[2-9]\d(?:\.\d)? ?mmol)",
        r"ketones?|dka|ketoacidosis",
    ),
    "no_urine": concept(
        "not passing urine",
        r"(?:hasnt|havent|not|isnt|no|hardly|barely|didnt) (?:been )?(?:peeing|weeing|urinating)|"
        r"(?:hasnt|havent|not|no|hardly|barely|didnt) (?:had )?(?:a |any )?(?:wee|wees|pee|peed|weed|urinated|"
        r"wet (?:nappy|nappies|diaper|diapers))",
    ),
    "msk": concept(
        "muscle/rib strain context",
        rf"(?:after|since|from|doing){G3} (?:gym|workout|lifting|exercise|bench|press ?ups|push ?ups|training|sport|"
        r"football|rugby|fall|fell|coughing|moving house|lifting)",
        r"(?:hurts|worse|tender|sore|pain\w*)(?: a bit| a little| only| more)? (?:when|if) (?:i |you |he |she )?(?:press|push|touch|poke|twist|turn|"
        r"lie|move|cough|sneeze|stretch)",
        r"tender to (?:the )?touch|pulled (?:a )?(?:muscle|something)|muscle|strain\w*|ribs?|chest wall|costochondritis",
    ),
    # --- crisis (first person or about someone at risk; never dropped for framing)
    "suicidal": concept(
        "suicidal thoughts",
        r"(?:kill|killing|hang|hanging|shoot|shooting|drown|drowning|off|offing) (?:myself|himself|herself|themselves|"
        r"themself)",
        r"(?:end|ending|take|taking) (?:my|his|her|their) (?:own )?life(?! (?:back|insurance|in (?:my|his|her) (?:own )?hands))",
        r"(?:end|ending|finish|finishing) it (?:all|tonight|today|now|for good|once and for all)",
        r"(?:going to|want to|wants to|will|plan to|planning to|thinking of|thinking about|ready to|decided to|about to) "
        r"end (?:it|things|everything)(?!(?: \w+){0,2} (?:with|between|off))",
        r"suicid\w*",
        # any person, any tense: "I want to die", "he wants to die", "she'd rather be dead"
        r"(?:wants?|wanted|wanting|wish(?:es|ed)?|going|ready|deserves?|plan\w*|tempted|longs?|longing) to (?:die|be dead|"
        r"not exist|not be alive|stop existing|cease to exist)",
        r"wish(?:es|ed)? (?:i|id|he|hed|she|shed|they|theyd) (?:was|were|had|could|would)(?: just)? (?:dead|die|never been born|"
        r"not here|not born|gone|disappear\w*|vanish\w*|not exist|not wake up)",
        r"(?:id|hed|shed|theyd|would|i would|he would|she would|they would) (?:rather|sooner) (?:be dead|die|not be (?:here|"
        r"alive|around)|not exist|not wake up)",
        r"(?:dont|do not|doesnt|does not|didnt|not|never) (?:want|wants|wanting|wanted) to (?:be here|live|be alive|exist|"
        r"wake up|go on|carry on)(?! (?:in|at|near|with|on|abroad|there|for|alone|until|without|together))",
        r"(?:better off|happier|fine|be fine)(?: \w+){0,2} (?:without me|with me gone|if i(?: just| really)? (?:was|were|wasnt|"
        r"werent|had)(?: just| not)? (?:gone|dead|here|around|never born|not born))|better off dead|"
        rf"(?:says|said|saying|told (?:me|us)|tells (?:me|us)|thinks|texted|messaged|wrote){G5} (?:better off|happier|fine)"
        r"(?: \w+){0,2} (?:without (?:him|her|them)|if (?:he|she|they) (?:was|were|wasnt|werent)(?: just)? (?:gone|dead))|"
        r"(?:miss me|notice|care|matter)(?: \w+){0,2} if i (?:was|were)(?: \w+)? (?:gone|dead|not here|not around)|"
        r"(?:miss me|notice|care) if i (?:died|disappeared|killed myself)|"
        r"world (?:would be )?better without me",
        # wanting to vanish *for good* (not "disappear for a week")
        r"(?:wants?|wish\w*|need|needs) to (?:just )?(?:disappear|vanish|fade away|be gone)(?: \w+){0,3} (?:forever|for good|"
        r"permanently|for ever|never (?:come|coming|be) back|never (?:have to )?(?:face|see|wake))",
        r"(?:no|not any|isnt any|no more) (?:point|reason|purpose) (?:in |to |of )?(?:me |my )?(?:living|to live|being alive|"
        r"being here|going on|carrying on|in life|existing|staying alive)|(?:nothing|no one|nobody) (?:left )?to live for",
        # a plan with specifics: how *and* when / where
        rf"(?:how|when|where) (?:id|i would|ill|i will|im going to|i could) (?:do it|end it|go through with it){G3} "
        r"(?:and (?:when|where|how)|date|time|place)",
        r"(?:dont|doesnt|cant|cannot|no longer|never) see (?:the|any) point (?:in|of|to) (?:living|life|being alive|being here|"
        r"going on|carrying on|existing|staying alive)|whats the point (?:of|in) (?:living|life|being alive|going on|"
        r"carrying on|being here)",
        r"life (?:isnt|aint|is no longer) worth (?:living|it)|not worth living|tired of (?:living|being alive|life)|"
        r"sick of (?:living|being alive)",
        rf"(?:sleep|asleep|wish|think\w* (?:about|of)|want|hope|pray\w*|rather){G4} (?:never|not) wak\w*(?: up)?",
        rf"(?:wish|want|hope|pray\w*|rather|long\w*){G5} (?:sleep|asleep){G3} forever",
        # round 7 (988 Lifeline / Samaritans: talking about wanting to die in other words): "it would be easier to just
        # not wake up", "something to help me sleep forever" (not "I could sleep forever after that shift")
        r"(?:easier|better|nicer|simpler|more peaceful|kinder)(?: \w+){0,2} (?:to |if i )?(?:just )?(?:not|never|didnt) "
        r"(?:wak\w*|woke)(?: up)?",
        r"(?:help (?:me|him|her)|make (?:me|him|her)|something to|pills? to|tablets? to|ways? to|enough to) (?:\w+ ){0,2}"
        r"(?:sleep|fall asleep) (?:forever|for ever|permanently|and (?:never|not) wake)",
        # plans: researching methods, a place and a way, goodbye notes
        rf"(?:look\w* (?:up|into)|research\w*|search\w*|googl\w*|read\w* (?:up )?(?:about|on)|find\w* out|watch\w* videos "
        rf"(?:on|about)){G2} (?:ways?|how|methods?){G2} to (?:die|end (?:it|things|my life|everything)|kill (?:myself|"
        r"yourself|oneself)|not wake up|overdose|hang|do it)(?!(?: \w+){0,2} (?:with|between))",
        r"(?:jump|jumping|throw (?:myself|himself|herself|themselves)|throwing (?:myself|himself|herself|themselves)) "
        r"(?:off|from) (?:a |the |that |this )?(?:\w+ )?(?:bridge|building|roof|rooftop|balcony|tower|car park|multi storey|"
        r"parking (?:garage|structure|deck|lot)|overpass|flyover|cliff)",
        r"(?:jump|jumping|throw \w+|step|stepping|walk|walking|lie|lying) (?:in front of|under) (?:a |the )?(?:\w+ )?"
        r"(?:train|trains|lorry|truck|bus|traffic|tube)",
        rf"(?:writ\w*|wrote|left|leaving|prepar\w*|draft\w*|record\w*){G3} (?:notes?|letters?|messages?|cards?|videos?)"
        rf"{G3} (?:goodbye|farewell)",
        r"goodbye (?:letters?|notes?|messages?)|suicide (?:note|letter|plan)|"
        r"giv\w* away (?:all )?(?:my|his|her) (?:stuff|things|belongings|possessions)",
        r"(?:painless|easiest|quickest|fastest|best|quietest|surest) (?:way|ways|method|methods) to (?:die|end (?:it|my life|"
        r"things)|kill (?:myself|yourself|oneself))",
        r"how (?:to|do i|can i|could i|would i|should i) (?:die|kill myself|end my life|end it all)",
        r"how (?:many|much) (?:\w+ ){0,5}(?:would it take|does it take|would kill|to take|till|until|before) "
        r"(?:\w+ ){0,2}(?:kill|die|dead|overdose|end it|not wake up|bleed out|stop (?:my|his|her|a) heart|be fatal|be lethal)",
        r"(?:have|made|got|making) a plan to (?:die|end|kill)",
        r"(?:worked out|figured out|calculated|counted|googled|looked up) how (?:many|much)(?: \w+){0,5} (?:would be enough|"
        r"would do it|it would take|would kill|i would need|to take to)",
        rf"(?:think\w*|thought){G3} (?:about|of) (?:how|ways?|the best way|the easiest way) to (?:end (?:it|things|my life|"
        r"everything)|die|kill (?:myself|himself|herself)|do it)(?!(?: \w+){0,2} (?:with|between))",
        # a method imagined: "think about just swerving into a tree", "stepping off the platform"
        r"(?:think\w* (?:about|of)|thought (?:about|of)|tempted to|urge to|want to|fantasi[sz]\w* about|imagin\w*)(?: just)? "
        r"(?:(?:swerv\w*|crash\w*|driv\w*|steer\w*) (?:my car |the car )?(?:into|off) (?:a |the )?(?:\w+ )?(?:tree|wall|"
        r"lorry|truck|bridge|river|cliff|oncoming|traffic|barrier)|(?:step\w*|jump\w*|throw\w* myself) (?:off|from) "
        r"(?:a |the )?(?:\w+ )?(?:platform|bridge|cliff|edge|roof|balcony|building)|(?:step\w*|walk\w*|jump\w*) "
        r"(?:in front of|under|into) (?:a |the )?(?:\w+ )?(?:train|traffic|bus|lorry|truck|car))",
        # "enough (pills) now to just not wake up"
        r"enough(?: \w+){0,3} (?:to|so i can|so i) (?:just |finally )?(?:not|never) wake(?: up)?",
        # a method pictured: "thinking how easy it would be, just one step"; "at the bridge ... how easy it would be"
        r"how easy (?:it would be|itd be|it is|it would)(?: \w+| ,){0,4} (?:to )?(?:just )?(?:one step|step off|step out|"
        r"jump|lean (?:forward|over|out)|let go|walk off|go over|end it|swerve|slip off)",
        r"(?:bridge|ledge|edge|roof|rooftop|platform|cliff|tracks|balcony|railway)(?: \w+| ,){0,8} how easy "
        r"(?:it would be|itd be|it is|it would)",
        unless=r"(?:prevention|awareness) (?:week|month|day|charity|training)",
        crisis=True,
    ),
    "self_harm": concept(
        "self-harm",
        r"selfharm\w*|self injur\w*",
        # a disclosure with the object left out: "i cut again tonight, deeper than usual"
        r"i (?:cut|sliced|burned|burnt) again(?! (?:my|the|a|his|her) (?:hair|finger|hand|toast|onion|bread|fringe))|"
        r"(?:cut|cutting|cuts|went) (?:\w+ )?(?:deeper|further) than (?:usual|normal|before|last time|i normally|i usually)",
        rf"(?:cut|cutting|cuts|burn|burning|burned|burnt|harm|harming|punch\w*|scratch\w*|"
        rf"starv\w*|bit|bite|biting|slash\w*) (?:myself|himself|herself|themselves){G3} (?:on purpose|deliberately|"
        r"intentionally|again|when|because|to (?:feel|cope|punish|stop|calm|numb))",
        r"(?:been|keep|kept|started|start|still|im|i am|keeps|is) (?:cutting|burning|hurting|harming|scratching|hitting|"
        r"punching|starving) (?:myself|himself|herself|themselves|(?:my|his|her|their) (?:arms?|wrists?|legs?|thighs?|skin|"
        r"stomach|body))",
        r"(?:cut|cutting|slit|slitting|slash\w*) (?:my|his|her|their) wrists?",
        rf"(?:scratch\w*|cut|cutting|burn\w*|hit\w*){G4} (?:till|until|so) (?:it|they|i) "
        r"(?:bled|bleeds|bleed|bleeding|blister\w*|bruise\w*)",
        r"(?:hurt|harm) (?:myself|himself|herself) on purpose",
        # round 7 (NICE NG225: self-harm includes swallowing objects and injuring the skin by any means)
        r"(?:scratch\w*|cut|cutting|burn\w*|hit\w*) (?:yourself|urself|themselves)(?: \w+){0,3} (?:till|until|so) (?:you|u|it|they) "
        r"(?:bleed|bled|bleeds|bleeding|blister\w*|bruise\w*)",
        r"(?:swallow\w*|eat\w*|ate)(?: \w+){0,3} (?:paperclips?|paper clips?|pins|needles|screws|nails|glass|razor blades?|"
        r"batteries|magnets|coins)(?: \w+| ,){0,8} (?:when (?:im|i am|i get|i feel|hes|shes) (?:upset|stressed|sad|angry|low|"
        r"anxious|overwhelmed)|to cope|to feel|on purpose|to punish)",
        r"(?:hold\w*|held|press\w*|put\w*) (?:a |an |the )?(?:ice|lighters?|matches|cigarettes?|a lighter|hot \w+)(?: \w+){0,4} (?:on|against|"
        r"to) (?:my|his|her) (?:skin|arms?|legs?|wrists?|hands?|thighs?)(?: \w+){0,3} (?:until|till) (?:it |they )?"
        r"(?:blister|burn|bleed)\w*",
        r"scrub\w* (?:my|his|her) (?:arms?|skin|legs?|wrists?) (?:\w+ )?with (?:a )?(?:wire brush|steel wool|bleach|sandpaper|"
        r"a scourer)",
        crisis=True,
    ),
    # "hurt myself again" / "hitting myself when..." -- also said of sports injuries and accidents
    "hurt_self": concept(
        "hurting themselves",
        rf"(?:hurt|hurting|hit|hitting) (?:myself|himself|herself|themselves){G3} (?:on purpose|deliberately|"
        r"intentionally|again|when|because|to (?:feel|cope|punish|stop|calm|numb))",
        unless=ACCIDENT,
        crisis=True,
    ),
    # fear of acting on it: "scared of what I might do to myself", "don't trust myself tonight"
    "fear_self": concept(
        "afraid of harming themselves",
        rf"(?:scared|afraid|frightened|terrified|worried|fear\w*){G5} (?:do (?:something )?to (?:myself|himself|herself)|"
        r"hurt (?:myself|himself|herself)|harm (?:myself|himself|herself)|kill (?:myself|himself|herself)|"
        r"do something (?:drastic|dangerous)|do something stupid(?= tonight| to myself| again| if)|act on (?:it|them|these thoughts|my thoughts|the urges?|the thoughts)|"
        r"end up (?:dead|hurting myself))",
        r"(?:dont|do not|cant|cannot|no longer) trust (?:myself|himself|herself)(?: \w+)? (?:around|with|near|alone|tonight|"
        r"not to|anymore|any more|to stay safe|to be safe)|not safe (?:with|around|from) myself|"
        r"(?:dont|do not) feel safe (?:with|around|from) myself|(?:cant|cannot) keep myself safe",
        unless=ACCIDENT,
        crisis=True,
    ),
    # saving up pills *for a purpose*: "stockpiling my tablets so I can take them all"
    "pill_saving": concept(
        "saving up medicine",
        rf"(?:stockpil\w*|hoard\w*|stash\w*|sav\w* up|saved up|saving|collect\w*|squirrel\w* away|build\w* up|"
        rf"putting aside|put aside|set aside|keeping|kept|hiding|hid|saved|taking home|took home|bringing home|brought home|"
        rf"stealing|stole|pocketing|pocketed){G2} (?:(?:vials?|boxes|packs?|bottles?|ampoules?) of )?{MEDICINES}",
        r"(?:saved|saving|stockpiled|kept|hoarded|stashed) (?:up )?(?:a|two|three|four|six|\d+) (?:weeks?|months?) "
        r"(?:worth|supply)",
        # round 8: the medicine named in an earlier sentence ("my blood pressure tablets. I've been saving them up"),
        # or kept back instead of taken (NICE NG225 / 988 Lifeline: stockpiling medicines is a warning sign)
        r"(?:saving|saved|stockpil\w*|hoard\w*|stash\w*|collect\w*|keeping|kept|putting|put|squirrel\w*) "
        r"(?:them|these|those|it|the rest) (?:up|aside|back|away)(?! for (?:my|the) (?:holiday|trip))|"
        r"instead of (?:taking|swallowing) (?:them|it|my \w+|the \w+)",
        # practical reasons (measured: "saving my pills so I don't run out on holiday" is a look-alike)
        unless=r"run out|running out|holiday|trip|travel\w*|abroad|flight|dispos\w*|expir\w*|spare|pharmacy|chemist|"
        r"cheaper|on offer|prescription (?:runs|ran)",
        crisis=True,
    ),
    # the means, told plainly or in learner's English ("yesterday I buy a rope"): a crisis with any hopeless words
    "rope": concept(
        "a rope",
        r"(?:buy|buys|bought|buying|got|get|purchas\w*|order\w*|have|has|prepar\w*|ready|tie\w*|hid\w*)(?: \w+){0,2} (?:a |the )?"
        r"(?:\w+ )?ropes?",
        unless=r"climb\w*|camping|boat|sailing|skipping|jump rope|washing line|tow\w*|swing|gym|dog|horse|tent",
        crisis=True,
    ),
    "cant_live": concept(
        "can't live like this",
        r"cant (?:live|continue|go on living)(?: \w+){0,2}(?: anymore| any more| like this| with this)?|"
        r"(?:no|not any|no more) (?:more )?reason (?:to|for) (?:live|living)|dont want (?:to )?live (?:more|anymore|any more)|"
        r"nobody (?:need|needs|wants|will miss) me|(?:my )?life is (?:finish\w*|over|finished)|tired of everything|"
        r"nothing (?:left )?to live for",
        crisis=True,
    ),
    "od_purpose": concept(
        "to take them all",
        r"(?:so|so that) (?:i|he|she) (?:can|could|will|ll) (?:take|swallow|have|down|use) (?:them|it|the lot)|"
        r"take (?:them|it) all|(?:all|the lot) (?:at once|in one go|together)",
        r"(?:for|until) (?:when|the day|the time|the moment)(?: \w+){0,3} (?:ready|decide\w*|need|go|do it|cant take|"
        r"had enough|enough)|when (?:im|i am|i feel|i get|hes|shes)(?: \w+)? ready|enough(?: \w+){0,3} to (?:just |finally )?"
        r"(?:kill|die|end|do it|not wake|never wake|overdose)|for the end",
        crisis=True,
    ),
    "od_intent": concept(
        "thinking of an overdose",
        r"(?:think\w*|thought|want\w*|going to|plan\w*|tempted|urge|considering|consider|might|decided|ready) "
        r"(?:about |of |on |to )?(?:just )?(?:take|taking|swallow\w*|overdos\w*|down|downing)",
        crisis=True,
    ),
    "cant_go_on": concept(
        "can't go on",
        r"cant (?:go on|carry on|keep going|do this|take (?:it|this)) (?:anymore|any more|any longer|like this)",
        crisis=True,
    ),
    "want_it_to_stop": concept(
        "wants it all to stop",
        r"(?:want|wish|need) (?:it|everything|this|the pain|it all) (?:all )?to (?:stop|end|be over)"
        r"(?: forever| for good| permanently)",
        r"(?:wants?|wish\w*|need) to (?:just )?(?:disappear|vanish)|(?:want|wish) everything to (?:stop|end)",
        r"(?:want|wanted|wanting|wish|wished|need|needed)(?: \w+)? (?:it all|all of it|everything|the whole thing) to "
        r"(?:just )?(?:stop|end|be over|go away)",
        r"(?:be|being|just be) done with (?:it all|all of it|everything|life|living|all this)(?! \w)",
        crisis=True,
    ),
    "burden": concept(
        "feels like a burden",
        r"(?:a )?burden (?:to|on) (?:everyone|everybody|my family|them|you|others)|(?:im|i am|feel like) a burden|"
        r"(?:nobody|no one|noone) (?:would|will|wd)(?: even| ever| really)? (?:care|notice|miss me|miss|realise|realize)|"
        r"(?:nobody|no one|noone) (?:has|have|would have|needs?|will have) to (?:deal with|put up with|worry about|"
        r"look after|care for|bother with) me|(?:everyone|everybody) hates me",
        crisis=True,
    ),
    "hopeless": concept(
        "hopelessness",
        r"hopeless|no way out|no hope|nothing will ever get better|whats the point (?:of|in) (?:anything|trying|it all|"
        r"everything)|(?:dont|cant) see (?:the|any) point (?:in|of) (?:anything|trying|it all)",
        crisis=True,
    ),
    # --- choking without the word: a blocked airway is silent ("can't cough or make a sound")
    "choke_sign": concept(
        "can't cough or make a sound",
        r"(?:cant|unable to|couldnt|not able to) (?:cough|make (?:a|any) (?:sound|noise)|make a peep)",
        r"(?:not making|isnt making|no) (?:a |any )?(?:sound|noise)",
        r"(?:grabb\w*|clutch\w*|claw\w*|holding|pointing|clasp\w*) (?:at )?(?:his|her|their|my) (?:throat|neck)",
        unless=r"phlegm|mucus|sputum|cough up|neighbou?rs?|quiet|asleep|sleeping|library|baby monitor",
    ),
    "choke_context": concept(
        "something in the mouth / eating",
        r"eating|ate|swallow\w*|food|grapes?|sweets?|candy|nuts?|popcorn|hot ?dog|sausage|meat|bone|toy|coins?|lego|"
        r"piece of|stuck|lodged|in (?:his|her|their|my) mouth|went down the wrong way",
    ),
    # --- after giving birth: heavy bleeding is a haemorrhage until proven otherwise
    "postpartum": concept(
        "recently gave birth",
        r"gave birth|given birth|giving birth|had (?:my|the|our|her|a) (?:baby|son|daughter|twins)|"
        r"(?:since|after) (?:the )?(?:birth|delivery|labour|labor|c ?section|caesarean|cesarean)|postpartum|post ?natal|"
        r"postnatal|delivered|newborn",
    ),
    "heavy_flow": concept(
        "heavy flow / big clots",
        r"heav(?:y|ier|ily)|soak\w*|(?:big|large|huge|massive) clots|clots? (?:the size of|as big as|bigger than)|"
        r"(?:a lot|lots|loads|so much) of blood|bleed\w* (?:a lot|loads|so much)|pouring|gushing",
        unless=r"(?:light|lighter|small|tiny|little) (?:bleed\w*|clots?)",
    ),
    "pale": concept("pale / grey", r"pale|grey|gray|white as a sheet|washed out|colourless|ashen"),
    # --- carbon monoxide: several people ill at once + a fuel-burning appliance
    "co_source": concept(
        "gas / fuel-burning appliance",
        r"gas (?:heater|fire|boiler|leak|stove|cooker|smell|oven)|boiler|heater|(?:log|wood|multi fuel) burner|"
        r"generator|carbon monoxide|co alarm|fumes|exhaust|chimney|flue|barbecue indoors|bbq indoors",
    ),
    "household": concept(
        "several people ill at once",
        r"everyone|everybody|all of us|both of us|(?:two|three|four|five|all|most) of us|we (?:all|both)|"
        r"whole (?:family|house|household)|both (?:me|my|of)|(?:me|i) and (?:my|the) \w+ (?:both|all)|"
        r"(?:all three|all four|all five)",
    ),
    # --- ear infection that needs a look
    "ear_discharge": concept(
        "discharge from the ear",
        rf"(?:liquid|fluid|pus|discharge|goo|gunk|stuff|yellow|green|blood|water)\w*{G3} (?:coming|come|comes|leaking|"
        rf"leaks|oozing|running|draining|dripping) (?:out )?(?:of |from )?{G2}(?:his|her|my|their|the) ears?",
        rf"ears?{G3} (?:discharg\w*|leak\w*|oozing|weeping|draining|running|dripping|pus)",
    ),
    "ear_pain": concept("ear pain", rf"ears?{G4} (?:pain|hurts?|hurting|aches?|aching|sore)|earache|ear ache"),
    # --- dehydration in a child: fewer wet nappies
    "fewer_wees": concept(
        "passing less urine",
        r"(?:fewer|less|not many|hardly any|only (?:one|two|1|2)|very few) (?:wet )?(?:nappies|diapers|wees|pees|nappy|diaper)|"
        r"(?:nappies|diapers) (?:are )?(?:dry|drier|drier than)|(?:weeing|peeing) (?:a lot )?less|dark (?:wee|pee|urine)",
    ),
    # --- possible fracture: an injury + a limb that can't be used or looks wrong
    "fracture_sign": concept(
        "can't move it / looks deformed",
        r"(?:cant|unable to|couldnt) (?:move|bend|straighten|use|grip with|rotate|turn) (?:it|(?:my|his|her|their) \w+)"
        r"(?! (?:properly|much) (?:after|since) (?:sleep|waking))",
        r"deformed|out of shape|misshapen|(?:at )?a (?:weird|funny|strange|wrong) angle|bent the wrong way|"
        r"(?:heard|felt) (?:a |it )?(?:crack|snap|pop)",
        r"(?:maybe|might be|could be|think (?:its|it is)|probably|possibly|is it) (?:broken|fractured)",
        r"(?:cant|unable to|couldnt|struggl\w* to) (?:grip|hold|lift|carry|squeeze|open|turn|pick up)(?: \w+){0,2} "
        r"(?:mugs?|cups?|anything|things|pens?|keys?|jars?|kettle|bottle|door|handle|fork|spoon|glass)",
    ),
    "injury": concept(
        "injury with swelling / bruising",
        r"(?:fell|fall|fallen|landed|twisted|rolled|slipped|tripped|crushed|trapped|jammed|bashed|stamped on)|"
        r"swollen|swelling|bruis\w*",
    ),
    # --- crisis warning signs that count only together (each alone is ordinary life)
    "self_harm_marks": concept(
        "cuts / marks found",
        rf"(?:found|find|finding|seen|saw|noticed|spotted|hiding|hides|covering){G3} (?:cuts|scars|burns|scratches|marks|"
        r"slashes)(?: \w+){0,2} (?:on|up|across) (?:his|her|their|my)(?: \w+){0,4} (?:arms?|wrists?|legs?|thighs?|stomach|skin)",
        crisis=True,
    ),
    "coping_reason": concept(
        "does it to cope / feel something",
        r"(?:does|do|did|doing) it (?:to|because it helps (?:him|her|them|me) to?) ?(?:feel (?:something|anything|real|better)|"
        r"cope|numb|punish|release|calm down)|(?:helps|help) (?:him|her|them|me) (?:cope|feel something|calm down)",
        crisis=True,
    ),
    "join_dead": concept(
        "wants to join someone who died",
        r"(?:wants?|wanting|ready|longs?|longing|wish\w*|going) to (?:go )?(?:and )?(?:be with|join) (?:my |his |her |their )?"
        r"(?:dad|mum|father|mother|husband|wife|grandpa|grandma|son|daughter|him|her|them|late \w+)(?! at| in the| on)",
        crisis=True,
    ),
    "giving_away": concept(
        "giving away possessions",
        r"(?:gave|given|giving|gives|give) away (?:all |most of |lots of )?(?:my|his|her|their) (?:\w+ )?(?:jewel\w*|rings?|"
        r"watch|things|stuff|belongings|possessions|clothes|books|savings|money|pets?|tools|guitars?|bikes?|cars?|"
        r"collection|records|\w+ (?:collection|set|kit))",
        crisis=True,
    ),
    "affairs": concept(
        "putting affairs in order",
        r"(?:sorted|sorting|sort|made|making|wrote|written|writing|updat\w*|finalis\w*|finaliz\w*|changed|redone|redid) "
        r"(?:out )?(?:my|his|her|their) (?:will|affairs|life insurance|funeral)|"
        r"(?:put|putting|get|getting|got) (?:my|his|her|their) affairs in order|"
        r"cancel\w* (?:all )?(?:my|his|her|their) (?:subscriptions|accounts|direct debits|memberships)",
        crisis=True,
    ),
    "means": concept("access to a gun", r"guns?|rifles?|shotguns?|pistols?|handguns?|firearms?|revolver", crisis=True),
    # a goodbye that sounds final: "texted me goodbye", with "sorry for everything" / "wants me to have her cat"
    "farewell": concept(
        "goodbye message",
        r"(?:texted|messaged|sent|wrote|said|saying|says|rang|called|left)(?: \w+){0,5} (?:goodbye|bye forever|farewell)",
        r"goodbye (?:text|message|voicemail|call)",
        unless=r"flights?|plane|holiday|trip|airport|boarding|moving|moved|party|bed|night|work|school|leaving do|"
        r"uni|university|gig|festival|sleepover|camp",
        crisis=True,
    ),
    "sorry_all": concept("sorry for everything", r"sorry for everything|forgive (?:me|him|her) for everything", crisis=True),
    "bequest": concept(
        "leaving things to someone",
        r"(?:wants?|wanted) (?:me|us|you|him|her) to (?:have|keep|look after|take care of|take) (?:his|her|their|my) \w+",
        crisis=True,
    ),
    "unreachable": concept(
        "can't be reached",
        r"(?:not|isnt|wont|stopped|hasnt been|hes not|shes not) (?:answering|picking up|replying|responding)|"
        r"phone (?:is |was |has been )?(?:off|switched off|dead|going straight to voicemail)|"
        r"(?:cant|couldnt) (?:reach|get hold of|get through to) (?:him|her|them)",
        crisis=True,
    ),
    # an overdose asked about as a question: "if I take all of my antidepressants at once will it be painless"
    "painless_q": concept(
        "asks if it would be painless",
        r"painless\w*|(?:would|will|does) it (?:hurt|be painful|be quick|be peaceful)(?= if| ,|$| at all| much)|"
        r"(?:just )?drift off",
        crisis=True,
    ),
    # looking up a drop: "looked up how high the bridge is" -- a lorry driver asks this too, so only with another sign
    "drop_research": concept(
        "looked up a height",
        rf"(?:look\w* up|googl\w*|search\w*|check\w*|find\w* out|research\w*){G2} (?:how (?:high|tall|far down|deep)|"
        r"which floor|the height of)(?: \w+){0,3} (?:bridge|building|roof|cliff|car park|balcony|tower|drop)",
        crisis=True,
    ),
    "self_neglect": concept(
        "stopped eating / caring",
        # not "stopped eating meat": a diet is not self-neglect
        r"(?:stopped|stop|not|isnt|wont|refus\w*) (?:eating|taking (?:his|her|their|my) (?:meds|medication|tablets))"
        r"(?! (?:meat|dairy|sugar|bread|gluten|carbs|junk|sweets|chocolate|fish|pork|beef|chicken|eggs|snacks|\w+ food))",
        crisis=True,
    ),
    "lethal_dose": concept("asks about a lethal dose", r"(?:lethal|fatal|deadly) (?:dose|amount)", crisis=True),
    # --- round 7: a crisis told with no crisis word (988 Lifeline "know the signs", Samaritans, NICE NG225): the means
    # at hand, a note that nobody is to blame, belongings given away "I won't need them", a funeral of one's own
    "means_here": concept(
        "the means at hand",
        r"(?:have|got|holding|with|bought|ready|keep|kept|looking at|staring at|looked at|sitting with|laid out|lined up|"
        r"counted out|got out)(?: \w+){0,2} (?:the |a |my |all the |all my )?(?:razors?|blades?|ropes?|noose|pills|tablets|"
        r"gun|knife|belt|cord|pesticide|weed ?killer|sleeping pills|painkillers)"
        r"(?: \w+){0,3} (?:here|ready|next to me|in my hand|with me|in front of me|in the garage|in the shed|upstairs|"
        r"a lot|all the time|again|on the (?:table|bed|side))",
        r"(?:razors?|blades?|ropes?|noose|pills|tablets|knife|gun) (?:is |are )?(?:here|ready|next to me|in my hand|in front of "
        r"me|laid out|lined up|counted out)",
        r"(?:ran|run|running|filled) (?:a|the|myself a) bath(?: \w+| ,){0,5} (?:razors?|blades?|knife|pills|tablets|toaster|"
        r"hairdryer)",
        crisis=True,
    ),
    "no_blame": concept(
        "says it is nobody's fault",
        r"(?:it )?(?:wasnt|isnt|was not|is not|its not|not|will not be|wont be) (?:anyones|anybodys|your|yours|their|"
        r"(?:my|his|her) (?:mums|moms|dads|familys|parents|wifes|husbands)) fault",
        r"(?:nobody|no one|noone) is to blame|dont blame (?:yourself|yourselves|anyone|mum|dad)",
        crisis=True,
    ),
    "say_goodbye": concept(
        "a last message",
        r"(?:just )?(?:want|wanted|needed) (?:to |someone to )?(?:say|tell (?:you|them|someone|everyone)|know)(?: \w+){0,2} "
        r"(?:goodbye|bye|i love (?:you|them)|sorry|thank you for everything|thanks for everything|it wasnt|it isnt|its not)",
        r"(?:tell|give) (?:my|him|her|them) (?:\w+ )?(?:i love (?:them|him|her|you)|my love)",
        crisis=True,
    ),
    "wont_need": concept(
        "won't need things any more",
        r"(?:i|ill|i will|im|she|he|shell|hell|they|says? (?:she|he)|said (?:she|he)) (?:\w+ ){0,2}(?:wont|will not|wouldnt|"
        r"dont|not going to) (?:need|be needing|be using|have any use for) (?:them|it|these|those|this|any of (?:it|this|"
        r"them|that)|(?:my|his|her) \w+)(?: \w+){0,2} (?:anymore|any more|where (?:im|hes|shes|i am) going|after "
        r"(?:tonight|this|today|next week|this week|sunday|friday)|now)",
        crisis=True,
    ),
    "gave_things": concept(
        "giving belongings away",
        r"(?:gave|given|giving|gives|handed|handing|shared|sharing|divided|dividing|left)(?: \w+){0,4} (?:away|out)",
        r"(?:gave|given|giving|gives) (?:all |most of |lots of )?(?:my|his|her|their) (?:\w+ )?(?:jewel\w*|rings?|watch|"
        r"things|stuff|belongings|possessions|clothes|books|savings|money|pets?|tools|guitars?|bikes?|cars?|collection|"
        r"records|games|console|camera)",
        crisis=True,
    ),
    "own_funeral": concept(
        "planning their own funeral",
        r"(?:playlist|songs?|music|readings?|poems?|hymns?|flowers|speech|eulogy|coffin|outfit) for (?:my|his|her) (?:own )?funeral|"
        r"(?:plan\w*|arrang\w*|chose|chosen|pick\w*) (?:my|his|her) own funeral|(?:my|his|her) funeral (?:playlist|songs)",
        crisis=True,
    ),
    "withdrawn": concept(
        "withdrawn / feels nothing",
        r"feel\w* nothing|(?:feel|am|im|been) (?:so |completely |totally )?(?:numb|empty)(?! (?:hands?|feet|fingers?|toes?|"
        r"legs?|arms?|lips?|face|tongue))|(?:stopped|stop|not|no longer) (?:seeing|talking to|texting|replying to|going out "
        r"with) (?:people|anyone|friends|everyone|anybody)",
        crisis=True,
    ),
    "od_on_purpose": concept(
        "took it on purpose",
        r"on purpose|deliberately|intentionally|because i (?:wanted|want) (?:to die|it all to|everything to|to sleep|to not|"
        r"to end|it to)|(?:wanted|want) to (?:die|not wake up|never wake up|sleep forever|end it|be dead)",
        crisis=True,
    ),
    # a large overdose told in the first person ("I took about 30 paracetamol", "swallowed my whole strip of sertraline"):
    # an emergency first, and the crisis lines too (NICE NG225: assess intent after any self-poisoning)
    "od_self_large": concept(
        "a large overdose they took themselves",
        rf"(?:^|i |ive |i have |i just |just |and )(?:\w+ ){{0,2}}(?:took|taken|swallowed|downed|necked|had|ate|chugged)"
        rf"(?: \w+){{0,2}} (?:about |like |around |maybe |over |nearly |almost |at least )?(?:[1-9]\d|a whole|the whole|my whole|"
        rf"an entire|the entire|all (?:of )?(?:my|the|her|his)|a bunch of|loads of|a handful of|a load of|half (?:a|the) "
        rf"(?:bottle|box|pack|packet) of|twenty|thirty|forty|fifty)(?: \w+){{0,3}} (?:{MEDICINES}|strips?|packets?|"
        rf"bottles?|boxes|box|packs?|sertraline|citalopram|fluoxetine|amitriptyline|codeine|tramadol|co ?codamol|warfarin|"
        rf"diazepam|zopiclone|propranolol|lithium|quetiapine)",
        crisis=True,
    ),
    # a relative telling of a plan: "he told me he's sorted it and the life insurance will cover the mortgage"
    # medicine collected that is not for them: "taking home vials of insulin, I don't have diabetes"
    "not_for_me": concept(
        "medicine that is not theirs",
        r"(?:i|he|she) (?:dont|doesnt|do not|does not) (?:have|even have|need) (?:diabetes|a prescription|pain|epilepsy|"
        r"(?:a |any )?(?:heart|blood pressure) (?:problem|condition))|(?:not|never) prescribed (?:to|for) (?:me|him|her)|"
        r"(?:theyre|they are|its|it is) not (?:mine|for me|prescribed)",
        crisis=True,
    ),
    "insurance_cover": concept(
        "says the insurance will cover it / it is sorted",
        r"life insurance (?:will|would|should|can|is going to) (?:cover|pay|sort|take care of)|"
        r"(?:told|tells|said|says|saying)(?: \w+){0,3} (?:hes|shes|its|it is|theyve|he has|she has|ive) (?:all )?"
        r"(?:sorted it|sorted everything|taken care of (?:it|everything)|all sorted|going to be over)",
        crisis=True,
    ),
    "locked_in": concept(
        "locked themselves in",
        r"(?:locked|locking|locks) (?:himself|herself|themselves|myself) in|(?:gone|went|go) (?:in|into|to) the (?:garage|shed|"
        r"bathroom|loft|attic|car)(?: \w+){0,2} (?:and )?(?:locked|locking|wont (?:come out|open)|shut the door)",
        crisis=True,
    ),
    "sudden_calm": concept(
        "suddenly calm",
        r"(?:suddenly|since then|ever since|weirdly|strangely|oddly|now) (?:\w+ ){0,3}(?:so |really |very |oddly |strangely "
        r"|almost )?(?:calm|peaceful|at peace|cheerful|serene|relieved)",
        # round 8 (988 Lifeline: "a sudden calm" after depression is a warning sign): "really calm the last few days after
        # months of being depressed", "at peace for the first time in years"
        r"(?:been|is|seems?|seemed|became|become|getting|feel\w*|felt|looks?) (?:\w+ ){0,2}(?:calm|calmer|peaceful|at peace|"
        r"cheerful|happy|upbeat|serene|relieved|light)(?: \w+){0,5} (?:after|following) (?:months|weeks|years|ages|so long) "
        r"of (?:being )?(?:depress\w*|low|down|struggl\w*|darkness|dark|hopeless\w*)",
        r"(?:at peace|calm|peaceful|relieved|light|free)(?: \w+){0,2} for the first time in (?:years|months|ages|forever|"
        r"a long time|my life)|finally (?:at peace|feel\w* calm|feel\w* peaceful)",
        crisis=True,
    ),
    # --- round 8: crises told as questions about a method or as a life wound up, no crisis word (988 Lifeline "know the
    # signs": looking for a way, putting affairs in order, a sudden calm; Samaritans: "asking about methods")
    # how much would kill: "what dose of insulin would kill someone who isn't diabetic" (not bacteria, weeds or lice)
    "lethal_q": concept(
        "asks what amount would kill",
        r"(?:what|which|how much|how many)(?: \w+){0,6} (?:would|will|could|can|might|does it take to|would it take to|"
        r"to) (?:kill|be fatal|be lethal|be deadly|stop (?:a|the|my|his|her|someones|your) heart)"
        r"(?! (?:the |a |any |all )?(?:bacteria|germs|virus\w*|fung\w*|lice|nits|worms|mites|fleas|weeds|pain|infection|"
        r"cancer|tumou?r|bugs|mould|mold|pests|it off))",
        r"how (?:many|much)(?: \w+){0,6} (?:so (?:that )?(?:i|he|she|you) (?:dont|wont|never|do not|will not) wake|"
        r"to (?:never|not) wake|to go to sleep forever)",
        unless=r"dogs?|cats?|puppy|kitten|pets?|horses?|rabbits?|hamsters?|parrots?|fish|tree|plants?|weeds|rats?|mice|"
        r"slugs|wasps?",
        crisis=True,
    ),
    # a method's quality asked about: painless, quick, instant, "make sure it's quick" (only with a method: see rules.py)
    "method_quality": concept(
        "asks if a way would be painless or quick",
        r"(?:painless\w*|quick|quickest|instant\w*|peaceful|surest|certain)(?: \w+){0,3} (?:to die|dying|death|way to go|"
        r"to go|end it|to end)",
        r"(?:die|dying|death|to go)(?: \w+){0,6} (?:painless\w*|quick|instant\w*|peaceful)",
        r"(?:is|would|will|does) (?:it|that|this)(?: \w+){0,2} (?:be )?(?:painless|quick|instant\w*|peaceful|certain)",
        r"make sure (?:its|it is|it will be|it would be|it|i) (?:quick|fast|instant|painless|over quickly|certain|dont survive|"
        r"wont survive)",
        # how long it takes to die by a method; an overdose that cannot be undone
        r"how long (?:does it|would it|will it|till|until|before)(?: take)?(?: \w+){0,3} (?:to )?(?:lose consciousness|pass out|"
        r"die|be dead|stop breathing|go unconscious|black out)",
        r"(?:cant|cannot|couldnt) (?:be )?(?:reversed?|undone|undo)|(?:cant|cannot|couldnt) be (?:treated|saved)|irreversible|"
        r"no antidote|beyond saving|no way back",
        crisis=True,
    ),
    "method_word": concept(
        "a way to die named",
        r"exhaust|car fumes|fumes|carbon monoxide|charcoal|hose ?pipe|closed garage|trains?|freight|railway|rail ?line|"
        r"train tracks|the tracks|level crossing|bridge|multi storey|hang\w*|noose|rope|drown\w*|overdos\w*|"
        r"(?:all|whole|entire) (?:my |the )?(?:pills|tablets|box|bottle|packet)|insulin|helium|bleed\w* out|"
        r"(?:my|the) wrists?|shotgun|gun|jump\w* (?:off|from|in front)|height|top floor|rooftop|cliff",
        crisis=True,
    ),
    "looks_accident": concept(
        "wants it to look like an accident",
        r"(?:look|looks|looked|seem|seems|seemed|appear|appears|pass) (?:like |as )(?:an? |just an? )?(?:accident|mishap)|"
        r"make it (?:look )?(?:like )?an accident",
        crisis=True,
    ),
    "life_insurance": concept("life insurance paying out",
        r"life insurance|life cover|insurance (?:still |would |will )?(?:pay|pays|payout|cover)|pay ?outs?|policy pays",
        crisis=True),
    # a hanging point tested in the mind: "whether the beam would take my weight"
    "ligature_point": concept(
        "wonders if something would hold their weight",
        r"(?:beams?|rafters?|hooks?|banisters?|bannisters?|loft hatch|ceiling fan|fan|door ?frame|branch|light fitting|"
        r"railings?|stair \w+)(?: \w+){0,4} (?:take|hold|support|bear|carry) (?:my|his|her|their|a persons|someones|the) "
        r"(?:full )?weight",
        # looking at a hanging point (with a rope or cord in the message: rules.py)
        r"(?:look\w*|star\w*|think\w* about|thought about|keep thinking of|eyeing|eyed) (?:at )?(?:the |a |that )?(?:\w+ ){0,3}"
        r"(?:hook|beams?|rafters?|banisters?|bannisters?|loft hatch)",
        unless=r"hammock|swing|climb\w*|gym|pull ?ups?|chin ?ups?|yoga|aerial|silks|punch\w* bag|boxing|ladder|kids|children",
        crisis=True,
    ),
    "ligature": concept("a rope or cord", r"ropes?|noose|belt|cord|cable|dupatta|scarf|washing line|chain|tie|ligature",
                        crisis=True),
    # a life wound up, each step ordinary alone: sold, notice in, contracts cancelled, debts paid, everyone rung
    "wound_up": concept(
        "winding up their life",
        r"(?:sold|selling|gave up) (?:my|his|her|their|the) (?:car|house|flat|bike|van|guitar|stuff|things)|"
        r"(?:handed|handing|hand|put|putting) (?:in )?(?:my|his|her|their) notice|"
        r"cancel\w* (?:my|his|her|their|the) (?:phone|contract|lease|tenancy|gym|membership|subscriptions?|accounts?|"
        r"standing orders?)|paid (?:off|back) (?:all )?(?:my|his|her|their) (?:debts?|credit cards?|loans?|bills|overdraft)|"
        r"(?:rang|called|phoned|visited|contacted|messaged|texted|looked up) (?:all|each of|every one of|every single one of) "
        r"(?:my|his|her|their) (?:old )?(?:friends|mates|family|relatives|school friends)",
        crisis=True,
    ),
    "wound_up_ordinary": concept("ordinary context for wound_up",
        r"travel\w*|abroad|gap year|new job|backpack\w*|moving|move to|moved|emigrat\w*|world trip|retir\w*|holiday|"
        r"sabbatical|wedding|baby|promotion|relocat\w*|new (?:house|flat|car)|upgrad\w*", context=True),
    # ordinary life that sets the round-7 signs aside (rules none_of, not `unless`: an `unless` adds "explained by
    # context" to the dropped notes, which makes engine.py ask the learned signal for a clear margin; measured: the
    # accidental staggered paracetamol overdose of dev set C lost its emergency that way)
    "means_ordinary": concept("ordinary context for means_here",
        r"shav\w*|legs|beard|barber|cooking|kitchen|climb\w*|dog lead|camping|boat|sailing|pills? (?:for|with) "
        r"(?:my|the) (?:cold|headache|flu)", context=True),
    "blame_ordinary": concept("ordinary context for no_blame",
        r"accident|crash|collision|match|game|lost the|divorce|broke up|break up|weather|traffic", context=True),
    "need_ordinary": concept("ordinary context for wont_need",
        r"moving|move|abroad|retir\w*|outgrown|grew out|baby|pram|cot|maternity|kids|uni|university|house|flat|"
        r"new one|upgrad\w*|diet|weight|clear\w* out|clearing|declutter\w*|charity|donat\w*|old (?:books|clothes|toys)|loft|"
        r"attic|garage sale|car boot|ebay|vinted|sold|selling", context=True),
    "funeral_ordinary": concept("ordinary context for own_funeral",
        r"pre ?paid|prepay\w*|funeral plan (?:provider|company|cost)|insurance|when (?:im|i am) old|one day", context=True),
    # --- round 9: a self-directed lethality question (988 Lifeline "looking for a way to kill oneself"; Samaritans:
    # asking how much, how high, how long). One class for its parts rather than one rule per sentence: an amount,
    # a height or a time asked about, aimed at the asker's own medicines or at dying / not waking / it being over.
    # how many of one's own tablets "it would take" (with nothing ordinary after it: to work, to kick in, ...)
    "amount_it_takes": concept(
        "asks how many of their medicines it would take",
        rf"how (?:many|much)(?: of)?(?: my| his| her| their| these| those| the)?(?: \w+){{0,3}} {MEDICINES}(?: \w+){{0,3}} "
        r"(?:it )?(?:would|will|could|does|did|might) (?:it )?take\b(?! (?:to |for |before |until |till )?(?:work|help|kick|get rid|clear|treat|"
        r"feel|heal|start|notice|lose|gain|build|reach|take effect|wear off|bring|lower|settle|go down|ease|sleep well))",
        r"how (?:many|much)(?: of)?(?: my| his| her| their| these| those| the)?(?: \w+){0,3} (?:ones|pills|tablets|of them) "
        r"(?:would|will|could) (?:be enough|do it|finish (?:me|it)|be final|end it)",
        crisis=True,
    ),
    # "roughly how many 100mg ones", "how much is a lethal dose of my ...": a lethal dose asked about in numbers
    "dose_specifics": concept(
        "asks for numbers",
        r"how (?:many|much)|roughly|approximately|\d+ ?mg|of (?:my|these|those|the) (?:\w+ )?(?:pills|tablets|ones|meds)|"
        r"(?:i have|ive got|weve got|in the house|in my drawer)",
        crisis=True,
    ),
    "dose_study": concept("ordinary context for a lethal dose",
        r"ld ?50|exam|pharmacolog\w*|toxicolog\w*|nursing|lecture|revision|coursework|dogs?|cats?|puppy|kitten|pets?|"
        r"toddler|my (?:son|daughter|child|baby|kid) (?:swallowed|ate|took|got into)|accidentally|by accident|by mistake",
        context=True),
    # a height measured or asked about as enough: "measured how high the balcony is", "what height is enough"
    "height_measured": concept(
        "measured how high a drop is",
        r"(?:measured|measuring|checked|checking|worked out|working out|looked up|looking up|googled|googling|searched|"
        r"searching|counted|counting) how (?:high|tall|far (?:down|up)|many (?:floors|storeys|stories|metres|meters|feet)"
        r"|much of a drop)(?: \w+){0,3} (?:balcony|roof|rooftop|bridge|window|building|block|car park|cliff|flat|floor|tower|"
        r"drop|fall|ledge)",
        crisis=True,
    ),
    # others "would be better / save money / be happier without me" (988 Lifeline: feeling a burden), read only beside
    # a drop measured (an ordinary "the party will be fine without me" is not a sign alone)
    "without_me": concept("says others would be better without them",
        r"(?:would|will|d|wud|gonna) (?:\w+ ){0,3}(?:be better|better|happier|easier|save|richer|lighter|less stress\w*|"
        r"more money|be free)(?: \w+){0,4} without me\b", crisis=True),
    "height_lethal": concept(
        "asks what height would kill",
        r"(?:what|which|how much) (?:height|drop|fall|floor)(?: \w+){0,4} (?:enough|fatal|lethal|needed|would kill|to die|"
        r"so you dont survive|to not survive|guarantee\w*)",
        r"how (?:high|tall|many floors|many storeys|far)(?: \w+){0,4} (?:to die|to not survive|so (?:i|you) dont survive|"
        r"would (?:kill|be fatal|be enough|do it)|is enough|do you need to (?:jump|fall)|(?:you|i|someone) would need to (?:jump|fall))",
        crisis=True,
    ),
    # harm to someone else planned: a poison that a test would not find
    "undetectable_poison": concept(
        "looks for a poison that would not be found",
        r"(?:poisons?|substances?|chemicals?|drugs?|something|stuff)(?: \w+){0,3} (?:that |which )?(?:dont|doesnt|wont|cant|"
        r"wouldnt|would not|do not|will not|cannot) (?:show up|be detected|be traced|be found|leave a trace|be picked up)|"
        r"(?:undetectable|untraceable) (?:poisons?|substances?|way)|poison (?:him|her|them|my \w+|someone|somebody|the \w+)"
        r"(?! ivy| oak| control| centre| center| information)",
        unless=r"novel|murder mystery|whodunn?it|crime (?:book|novel|show|series)|agatha|detective|plot|screenplay|"
        r"rats?|mice|slugs|weeds|pests?",
        crisis=True,
    ),
    # a funeral of one's own wanted ready by a near date
    "deadline_soon": concept(
        "wants it ready by a near date",
        r"(?:sorted|done|ready|finished|in place|organi[sz]ed|sorted out|finali[sz]ed) (?:before|by) (?:the weekend|friday|"
        r"saturday|sunday|monday|tuesday|wednesday|thursday|tomorrow|tonight|next week|the end of (?:the|this) week|"
        r"my birthday|the \d+(?:st|nd|rd|th)?)",
        crisis=True,
    ),
    "od_accident": concept("ordinary context for od_self_large",
        r"accident\w*|by mistake|forgot|double dose|over (?:a|the|two|three|\d+) (?:days|weeks|months)|"
        r"(?:a|per|each|every) (?:day|week|month)|prescribed|course of|vitamins", context=True),
}
