"""Normalisation tables and sentence-framing patterns the rule layer reads messages with."""

from __future__ import annotations

import re

# -----------------------------------------------------------------------------------------------
# Normalisation tables

# Typos and chat spellings a word-level table fixes best (short words, where fuzzy matching
# would be unsafe). Values may be several words.
TYPOS = {
    "pian": "pain", "pani": "pain", "paine": "pain", "chst": "chest", "chset": "chest",
    "chets": "chest", "cest": "chest", "hart": "heart", "haert": "heart", "hert": "heart",
    "breth": "breath", "brethe": "breathe", "breate": "breathe", "breahte": "breathe",
    "cnt": "cant", "cannot": "cant", "cnat": "cant", "dnt": "dont", "wnt": "wont",
    "u": "you", "ur": "your", "r": "are", "n": "and", "w": "with", "b4": "before",
    "alot": "a lot", "lotta": "a lot of", "abt": "about", "bc": "because", "cuz": "because",
    "coz": "because", "pls": "please", "plz": "please", "hlp": "help", "halp": "help",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "tryna": "trying to",
    "kms": "kill myself", "unalive": "kill", "unaliving": "killing", "sui": "suicide",
    "thru": "through", "yr": "year", "yrs": "years", "mth": "month", "mths": "months",
    "wk": "week", "wks": "weeks", "hr": "hour", "hrs": "hours", "min": "minutes",
    "mins": "minutes", "temp": "temperature", "bub": "baby", "bubba": "baby",
    "mom": "mum", "mommy": "mum", "mummy": "mum", "mam": "mum", "ma": "mum", "nan": "grandma",
    "nana": "grandma", "granny": "grandma", "gran": "grandma", "grandad": "grandpa",
    "granddad": "grandpa", "grampa": "grandpa", "bf": "boyfriend", "gf": "girlfriend",
    "hubby": "husband", "husbend": "husband", "puking": "vomiting",
    "puked": "vomited", "puke": "vomit", "barfing": "vomiting", "spewing": "vomiting",
    "stomache": "stomach", "sezure": "seizure", "stroak": "stroke", "attak": "attack", "atack": "attack",
    "od": "overdose", "oded": "overdosed", "ods": "overdoses",
    "nd": "and", "bleedn": "bleeding",
    "bleding": "bleeding", "swolen": "swollen", "havnt": "havent", "hvnt": "havent",
}
# Multi-word fixes, applied to the joined sentence.
PHRASE_FIXES = [
    (r"\bcan not\b", "cant"), (r"\bwill not\b", "wont"), (r"\bdo not\b", "dont"),
    (r"\bdoes not\b", "doesnt"), (r"\bis not\b", "isnt"), (r"\bdid not\b", "didnt"),
    (r"\bhas not\b", "hasnt"), (r"\bhave not\b", "havent"), (r"\bare not\b", "arent"),
    (r"\bwas not\b", "wasnt"), (r"\bsewer slide\b", "suicide"), (r"\bheat attack\b", "heart attack"),
    (r"\bhard attack\b", "heart attack"), (r"\bthrowing up\b", "vomiting"), (r"\bthrew up\b", "vomited"),
    (r"\bchucking up\b", "vomiting"), (r"\bthrow up\b", "vomit"), (r"\bbeing sick\b", "vomiting"), (r"\bself harm\b", "selfharm"),
    (r"\bself harming\b", "selfharming"), (r"\bself injury\b", "selfharm"), (r"\bepi pen\b", "epipen"),
    (r"\bkill my self\b", "kill myself"),
]

# Medical words worth correcting when misspelt by one letter (two for long words). Only these
# are fuzzy targets, and only for tokens of 6+ letters that are not in REAL_WORDS, so ordinary
# English is never bent into a symptom ("cooking" must not become "choking").
FUZZY_TARGETS = frozenset("""
chest breathe breathing breath breathless bleeding blood seizure seizures unconscious
unresponsive responding swelling swollen sweating sweaty vomiting vomited drooping slurred
slurring allergic allergy anaphylaxis anaphylactic suicidal suicide paracetamol ibuprofen
antidepressants temperature headache stomach numbness choking collapsed fainted fainting
dizzy pressure crushing squeezing radiating throat tongue rash purple poison poisoning
swallowed overdose overdosed medication tablets pregnant wheezing wheezy inhaler conscious
emergency ambulance myself cutting harming stabbed spurting confused confusion drowsy floppy
breathing struggling convulsing shaking hives peanut peanuts unbearable excruciating
sudden suddenly worst stiff light fever burning boiling blistered peeling blister
stroke attack weakness tingling paralysed paralyzed lopsided drooling unconscious
""".split())

# Real English words one or two slips away from a fuzzy target: never "corrected". Generated once by
# running every 6+ letter word of a full English word list (Debian's wamerican-large) through the
# fuzzy matcher; tests/test_safety.py re-checks it when /usr/share/dict/words exists.
REAL_WORDS = frozenset("""
allergenic allergies allergist ambulances anaphylaxes antidepressant attach attacks bailing bister
blaster bleaching bleeping blending blinkered blistery blithered bloods bluster blustered blusterer
boilings bolstered bowling breach breaching breadth breasting breathed breather breathers breathes
breathier breathiest breathings breathlessly breaths breathy breeching breeding broaching broiling
burdening burnings burping burring burying catting chests chesty chocking chowing coking collapses
collusion concision conclusion concussed concussing confessed confession confuse confusedly confuser
confusers confuses confusing confusions confuted consciously consulting contused contusing contusion
contusions conversing convolving convulsant convulsed convulsion convulsions convulsive cooking
crashing crouching crunching crusading crushingly crusting cuttingly cuttings droopingly droppings
dropsy drossy drowse emergence excruciatingly excruciation excruciations fainter feinted feinting
fevers flaunting flippy hamming haring harking harping headaches headachy heartache inhale inhaled
inhalers inhales jerkin lopsidedly mediation medicating medications medicative meditation
meditations metrication overdoes overdone overdoses overjoyed paracetamols paralyses paralysis
paralyze paralyzes pealing peeking peelings peeping peering peeving poisonings poisons pregnancy
pregnantly pressured pressurize prison purpler purples radiation radiations radiative redialing
rescinding resending resounding respondent sadden scabbed scalloped scurrying seating seizin selling
shacking shackling shading shakings shallower shaming shaping sharing sharking shaving sheathing
shelling shellings shrugging slabbed slaking slurped slurping smelling smuggling snaking snuggling
soaking sodden soddenly spelling spellings spiriting spirting sporting spurning spurred squeaking
squealing squirting stabber stabled staking stiffs stomached stomacher stomachic stomachs straggling
strake strangling strike strobe strode stroked strokes strove stubbed suicidally suicides swabbed
swallower swearing sweatings sweats sweeting swellings sweptwing swilling swivelling tables
tabletops tangling temperate temperatures threat throats throaty tingeing tinging tinglings tinkling
tinseling tongued tongues twingeing twinkling unbearably unbeatable unbreakable unconsciously
uneatable unreadable unresponsively unsealable unwearable vomitings washin weakeners weaknesses
weariness wheedling wheeling wheeze worsts
""".split())

# Idioms and hyperbole: rewritten to neutral words before matching (why: "this homework is
# killing me", "my boss will kill me", "I'm dying to know" are not emergencies).
IDIOMS = [
    (r"\b(?:will|would|going to|is going to|might|gonna|literally) (?:kill|murder) (?:me|us)\b", "be angry"),
    (r"\bkilling me\b", "hurts"),
    (r"\b(?:kill|killing|killed) (?:myself|me) laughing\b", "laughing"),
    (r"\b(?:dying|dead) (?:to|for)\b", "eager to"),
    (r"\b(?:die|died|dying|dead|death) (?:of|from|with) (?:embarrassment|shame|laughter|laughing|boredom|cringe|"
     r"envy|jealousy|curiosity|excitement|cuteness)\b", "blush"),
    (r"\b(?:nearly |almost |literally |practically )?(?:died|die|dying) (?:laughing|of laughter)\b", "laughing"),
    (r"\b(?:would|could|i would|id) (?:kill|die) for\b", "want"),
    (r"\bstrokes? of (?:luck|genius|fortune|inspiration|brilliance|the pen|midnight)\b", "luck"),
    (r"\b(?:id|hed|shed|theyd|youd|would|i would|he would|she would) (?:rather|sooner) (?:die|be dead) than\b", "prefer not to"),
    (r"\b(?:scared|bored|sick|worried|tired|frozen|loved|annoyed) to death\b", "very"),
    (r"\b(?:gave|give|giving|gives|had|have|nearly had|almost had|nearly gave|almost gave) (?:me |him |her |us )?"
     r"(?:a )?(?:mini )?(?:heart attack|stroke|coronary|seizure|aneurysm)(?= when| at| because| lol| haha| with (?:that|the|this)|$| laughing)"
     r"(?!(?: \w+)*? (?:ago|last))", "scare"),
    (r"\b(?:nearly|almost|practically|literally) (?:had|gave me|give me|have) (?:a )?(?:heart attack|stroke)\b", "scare"),
    (r"\b(?:heart|pulse) (?:skipped|skips|stopped|sank|dropped)(?: a beat)? (?:when|as|because|at|seeing|after|reading)\b",
     "surprised when"),
    (r"\bchok(?:e|ed|ing) (?:on|up on) (?:my|his|her|the|their|your) words\b", "stumbled"),
    (r"\bchok(?:e|ed|ing) (?:in|during|at|on) (?:the |my |an |a )?(?:interview|exam|game|match|test|final|presentation|speech)\b",
     "stumbled"),
    (r"\bchok(?:e|ed|ing) up\b", "tearful"),
    (r"\b(?:takes?|took) my breath away\b|\bbreathtaking\b", "amazing"),
    (r"\bover my dead body\b|\bdrop dead\b|\bdead (?:tired|beat|funny|serious|easy|on my feet)\b|\bim dead\b", "very"),
    (r"\bcollapsed (?:on|onto|into|in) (?:the |my |a |his |her )?(?:sofa|couch|bed|armchair|chair)\b", "rested"),
    (r"\b(?:passed|pass|passing) out (?:leaflets|flyers|papers|sweets|candy|invitations)\b", "handed out"),
    (r"\bblood (?:boil\w*|pressure|test|tests|work|donation|type|group|results?|pressures)\b", "bloodwork"),
    (r"\bblood (?=sugars?\b|glucose\b)", ""),  # "blood sugar" is a reading, not bleeding
    # titles, not intent: "watched Suicide Squad", "playing Dying Light", "the song Suicide is Painless"
    (r"\bsuicide (?:squad|is painless|silence|boys|king)\b|\bdying light\b|\bdead (?:space|by daylight|island|rising)\b|"
     r"\b13 reasons why\b|\bthirteen reasons why\b", "the film"),
    # hyperbole about something tedious: "I'm going to die if I sit through one more meeting"
    (r"\b(?:i(?:ll| will)|im going to|i am going to|im gonna|i swear im going to|i(?:ll| will) literally) (?:die|kill myself|"
     r"jump (?:off|out of) (?:a|the) (?:bridge|window|roof)) if (?:i (?:have to|need to|hear|see|sit|get|do|read|watch|eat)|"
     r"one more|another|anyone|someone|they|he|she|my (?:boss|teacher|mum|mom|dad|kids?|neighbou?rs?))\b", "be annoyed if"),
    # a goodbye at work, at school or before a move, not a farewell to life
    (r"\b(?:goodbye|farewell|leaving) (?:letters?|notes?|messages?|emails?|cards?|speech|party|gifts?) (?:to|for) "
     r"(?:my |our |the |all my )?(?:co ?workers|colleagues|team|students|class|classmates|office|staff|clients|customers|"
     r"pupils|workmates|boss|manager|patients)\b", "work farewell card"),
    (r"\b(?:goodbye|farewell) (?:letters?|notes?|messages?|emails?|cards?|speech)(?= (?:\w+ ){0,6}(?:retir\w*|new job|"
     r"leaving (?:the|my) (?:company|job|firm|school)|changing (?:jobs|schools)|last day at work))", "work farewell card"),
    (r"\b(?:leaving|left|quitting|quit|retiring from|moving on from) (?:the |my |this )?(?:company|job|firm|school|team|office|"
     r"practice|post)(?: \w+| ,){0,8} (?:goodbye|farewell) (?:letters?|notes?|messages?|emails?|cards?)", "work farewell card"),
    (r"\bgiv\w* away (?:all |most of )?(?:my|his|her|our) (?:stuff|things|belongings|possessions|furniture|clothes|books)"
     r"(?= (?:\w+ ){0,5}(?:mov\w*|emigrat\w*|relocat\w*|downsiz\w*|declutter\w*|the move))", "donating things"),
]
# Phrases that contain "no/not" but do not negate what follows ("not sure if this is chest pain").
PSEUDO_NEGATIONS = (
    r"\b(?:not sure|no idea|dont know|not certain|no clue|not only|no doubt|cant tell|not just|"
    r"whether or not|or not|no matter|not even sure|not to mention|not (?:even )?joking|not kidding|no joke)\b"
)
NEGATORS = frozenset(
    "no not never without denies denied deny nor neither none dont doesnt didnt isnt arent wasnt "
    "werent havent hasnt hadnt negative".split()
)
# A negation does not reach past these (clause boundaries): "no fever, but a stiff neck".
BREAKERS = frozenset(
    ", but however although though except yet and now then so because while whereas plus also "
    "just only apart besides since until".split()
)
NEGATION_WINDOW = 4  # tokens before a match that can negate it

# Study, hypothetical or fiction framing (sentence level).
FRAMES = re.compile("|".join([
    r"\bfor (?:my|an|the|a|our) (?:\w+ )?(?:exam|exams|test|class|course|essay|assignment|paper|homework|quiz|"
    r"lecture|module|revision|studies|thesis|dissertation|presentation|project|osce|boards|nclex|usmle)\b",
    r"\b(?:studying|revising|preparing) for\b",
    r"\b(?:nursing|medical|med|pharmacy|biology|anatomy|physiology|paramedic|first aid|cpr|emt|science) "
    r"(?:student|school|exam|class|course|training|question|homework|lecture)\b",
    r"\bwhat (?:are|is|were) (?:the )?(?:main |common |typical |early |usual )?(?:signs?|symptoms?|causes?|mechanism|"
    r"pathophysiology|treatments?|risk factors?|difference|warning signs|complications|stages|definition|prognosis)\b",
    r"\bhow (?:do|would|can|should|could|does) (?:you|one|people|someone|a person|doctors|we|a doctor) (?:recogni[sz]e|"
    r"identify|spot|tell|diagnose|know|treat|differentiate|distinguish|manage)\b",
    r"\bwhat (?:happens|goes on) (?:to (?:the|your) \w+ )?(?:during|in|when|if)\b",
    r"\bwhat (?:should|would|do|can) (?:you|one|people|someone|we) do (?:if|when)\b",
    r"\b(?:if|when) (?:someone|somebody|a person|a patient|people|a child|one) (?:has|is|gets|was|were|have)\b",
    r"\b(?:in|from|watching|on) (?:a|the|this|that) (?:movie|film|show|tv show|series|episode|book|novel|story|game|"
    r"video|documentary|tv)\b",
    r"\bwriting (?:a|an|my) (?:essay|story|novel|paper|script|article|report|book|blog|scene)\b",
    r"\bhypothetical\w*\b|\bjust curious\b|\bout of curiosity\b|\bwhich is worse\b|\bdifference between\b",
    r"\bmechanism of\b|\bpathophysiology\b|\bexplain (?:the|how|what|why)\b|\bfirst aid course\b",
    r"\basking (?:for|because) (?:a |my |i )?(?:\w+ ){0,3}(?:class|school|research|project|essay|study|assignment|"
    r"teacher|nurse|student|carer|caregiver|first aider|lifeguard|coach|trainer)\b",
    r"\bwhat to look (?:out )?for\b",
]))
# Signs that a real person is affected now: they override framing ("what are the signs of a
# stroke? my dad's face is drooping right now").
ACTUAL = re.compile("|".join([
    r"\bright now\b|\bat the moment\b|\bcurrently\b|\bas we speak\b|\bjust now\b|\bthis (?:morning|afternoon|evening)\b",
    r"\btonight\b|\btoday\b|\b(?:minutes?|an hour|hours?) ago\b|\bhelp me\b|\bplease help\b|\bwhat do i do\b",
    r"\bshould i (?:call|go)\b|\bambulance\b|\b(?:911|999|112)\b",
    r"\b(?:my|our) (?:\w+ )?(?:dad|father|mum|mother|husband|wife|son|daughter|baby|kid|child|toddler|friend|partner|"
    r"brother|sister|grandma|grandpa|grandmother|grandfather|boyfriend|girlfriend|uncle|aunt|neighbou?r|roommate|"
    r"flatmate|colleague|coworker)s? (?:is|has|cant|wont|just|isnt|suddenly|keeps|face|speech|lips|arm|leg|chest)\b",
    r"\b(?:im|i am|ive been|i have been|i keep|i cant|i feel|i think im|i suddenly) (?!(?:a |an )?(?:\w+ )?(?:student|"
    r"nurse|teacher|studying|revising|writing|curious|wondering|asking|learning|reading|interested|doing|starting|about to start|"
    r"going to be|babysitting|training))",
    r"\b(?:hes|shes|he is|she is|theyre|they are|he has|she has|he cant|she cant|he just|she just|he keeps|she keeps)\b",
]))
# A clause about something over and done with ("had a heart attack 5 years ago", "used to
# self-harm as a teenager") -- unless it says it is happening now or again.
PAST = re.compile("|".join([
    r"\b(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|several|few|many|some|couple of) "
    r"(?:years?|months?|decades?) ago\b|\byears ago\b",
    r"\blast (?:year|month|summer|winter|spring|autumn|fall|christmas)\b|\b(?:in|back in) (?:19|20)\d\d\b",
    r"\bas a (?:kid|child|teen|teenager|baby|student|toddler)\b",
    r"\bwhen i was (?:younger|a kid|little|a teen|a teenager|a child|at school|in school|\d+|pregnant)\b",
    # not "isn't used to it" (accustomed, not over and done with)
    r"\b(?<!is )(?<!isnt )(?<!not )(?<!get )(?<!getting )(?<!got )(?<!be )(?<!am )(?<!im )(?<!are )(?<!arent )(?<!was )"
    r"(?<!wasnt )(?<!been )used to\b|\bhistory of\b|\bin the past\b|\bpreviously\b|\bwent away\b|\bhas gone away\b|\bresolved\b",
    r"\b(?:since|after) (?:my|his|her|their) (?:heart attack|stroke|surgery|operation|bypass|stent)\b",
    r"\brecovered\b|\bsurvivor\b",
]))
# Pets: "my dog is choking" needs a vet, not 911 guidance -- unless a person is in the sentence too.
# ("hot dog", "corn dog" and "dog tired" are not animals)
PET = re.compile(r"\b(?:(?<!hot )(?<!corn )dogs?(?! tired)|puppy|pupp(?:y|ies)|cats?|kitten|kittens|pets?|rabbit|hamster|horse|guinea pig|parrot|budgie|"
                 r"ferret|tortoise|vet)\b")
# A person in a pet sentence: a relative, or "me"/"I'm"/"I feel" (bitten, stung, hurt). A bare "I" is
# not enough: "my dog ate a dishwasher tablet, what should I do?" is still about the dog.
HUMAN = re.compile(r"\b(?:im|ive|me|myself|i (?:feel|cant|got|was|am|have)|(?:my|our) (?:\w+ )?(?:dad|father|mum|mother|"
                   r"husband|wife|son|daughter|baby|kid|kids|child|children|toddler|friend|partner|brother|sister|grandma|"
                   r"grandpa|boyfriend|girlfriend|youngest|oldest|eldest)|we|us|everyone|everybody|"
                   # "cat bit my hand ... the redness is spreading": the person's own body part is a human subject
                   r"(?:my|his|her) (?:hand|arm|leg|finger|thumb|foot|ankle|wrist|face|skin|calf|thigh|shoulder)s?)\b")
PRESENT = re.compile(
    r"\b(?:again|right now|currently|at the moment|today|tonight|this (?:morning|afternoon|evening|week)|"
    r"just now|started|starting|lately|recently|these days|coming back|came back|is back|suddenly|"
    r"all of a sudden|keeps?|now (?:i|he|she|hes|shes|im|its|my|his|her|they|theyre))\b"
)
# Happening now: overrides a `recurring` context ("I get breathless when stressed, but right now I can't breathe").
NOW = re.compile(
    r"\b(?:now|right now|at the moment|currently|today|tonight|this (?:morning|afternoon|evening|time)|just now|"
    r"just (?:started|happened|ate|had|took)|suddenly|all of a sudden|worse than (?:usual|ever|normal)|different|"
    r"never (?:had|felt|been) (?:this|it|like this))\b"
)
# Recurring / conditional contexts, used by `recurring=` on a few concepts (why: "sometimes I feel like I
# can't breathe when I'm stressed" describes a pattern to ask about, not an airway emergency now).
STRESS_TRIGGERED = (
    r"(?:when|whenever|every time|each time|if) (?:i|im|i am|i get|i feel|i start|i start to|he|she|hes|shes|he gets|"
    r"she gets)(?: \w+)? (?:stressed|anxious|nervous|panick\w*|worked up|overwhelmed|upset|worried)|"
    r"(?:during|with|in|from) (?:a |my |his |her |the )?(?:panic|anxiety) attacks|"
    r"when (?:i|he|she) (?:have|has|get|gets) (?:a |an )?(?:panic|anxiety) attacks?"
)
HABITUAL = (
    r"whenever|every time|each time|(?:usually|always|sometimes|often|tends? to) (?:swell\w*|gets?|puff\w*|goes?)"
)
