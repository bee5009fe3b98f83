"""Rules: co-occurring concepts -> a triage level."""

from __future__ import annotations

from dataclasses import dataclass

# -----------------------------------------------------------------------------------------------
# Rules: co-occurring concepts -> level. Order inside a level only decides the reason's order.


@dataclass(frozen=True)
class Rule:
    level: str
    label: str
    all_of: tuple = ()  # every one of these concepts
    any_of: tuple = ()  # and at least `at_least` of these (an item may be a tuple of alternatives)
    at_least: int = 1
    none_of: tuple = ()  # and none of these (context that explains the findings away)
    tip: str = ""  # key of TIPS for emergency guidance

    def fires(self, found: set[str]) -> bool:
        if not all(c in found for c in self.all_of):
            return False
        if self.any_of and sum(_in(c, found) for c in self.any_of) < self.at_least:
            return False
        return not any(c in found for c in self.none_of)

    def evidence(self, found: set[str]) -> list[str]:
        flat = [c for item in self.all_of + self.any_of for c in ((item,) if isinstance(item, str) else item)]
        return [c for c in flat if c in found]


def _in(item, found: set[str]) -> bool:
    """An any_of item is a concept name or a tuple of alternatives that count once together
    (so "left arm weak" matching two weakness concepts is still one sign)."""
    return item in found if isinstance(item, str) else any(c in found for c in item)


E, C, U = "emergency", "crisis", "urgent"
BREATH_ANY = ("breathless", "breath_severe")
SEIZURE_DANGER = ("seizure_long", "unresponsive", "not_answering", "cyanosis", "breath_severe", "seizure_sign")
RULES = [
    # stroke: any two FAST signs, a drooping face alone, or one sign that came on suddenly
    Rule(E, "possible stroke signs", any_of=("face_droop", "speech", ("one_side", "limb_weak"), "vision_loss"), at_least=2,
         tip="stroke"),
    Rule(E, "possible stroke signs", all_of=("face_droop",), tip="stroke"),
    Rule(E, "possible stroke signs", all_of=("sudden",), any_of=("speech", "one_side", "vision_loss"), tip="stroke"),
    Rule(E, "possible stroke", all_of=("stroke_named",), tip="stroke"),
    # heart: chest pain plus any companion sign; crushing pressure alone (unless a strain explains it)
    Rule(E, "possible heart attack", all_of=("chest_pain",),
         any_of=("radiating", "sweating", "nausea", "faint", "palpitations") + BREATH_ANY, tip="heart"),
    Rule(E, "possible heart attack", all_of=("chest_severe",), none_of=("msk",), tip="heart"),
    Rule(E, "possible heart attack", all_of=("mi_named",), tip="heart"),
    Rule(E, "possible cardiac arrest", all_of=("cardiac_arrest",), tip="unconscious"),
    Rule(E, "very fast heartbeat with warning signs", all_of=("palpitations",),
         any_of=("chest_pain", "faint", "breath_severe", "unresponsive"), tip="heart"),
    # breathing
    Rule(E, "severe breathing difficulty", all_of=("breath_severe",), tip="breathing"),
    Rule(E, "blue lips or skin (not enough oxygen)", all_of=("cyanosis",), tip="breathing"),
    Rule(E, "choking", all_of=("choking",), tip="choking"),
    # a silent, blocked airway: "can't cough or make a sound" while eating, or grabbing the throat
    Rule(E, "choking", all_of=("choke_sign",), any_of=("choke_context", "breath_severe", "cyanosis"), tip="choking"),
    Rule(E, "severe asthma attack", all_of=("inhaler_failing",), any_of=BREATH_ANY, tip="breathing"),
    # severe allergy
    Rule(E, "possible anaphylaxis (severe allergic reaction)", all_of=("airway_swelling",),
         any_of=("allergen", "exposure", "hives", "faint", "face_swelling", "allergic_reaction", "throat_signs") + BREATH_ANY,
         tip="allergy"),
    Rule(E, "possible anaphylaxis (severe allergic reaction)", all_of=("allergen",),
         any_of=("face_swelling", "hives", "faint", "nausea", "throat_signs") + BREATH_ANY, at_least=2, tip="allergy"),
    Rule(E, "possible anaphylaxis (severe allergic reaction)", all_of=("allergic_reaction",), any_of=BREATH_ANY, tip="allergy"),
    Rule(E, "possible anaphylaxis (severe allergic reaction)", all_of=("anaphylaxis_named",), tip="allergy"),
    # bleeding and injury
    Rule(E, "heavy bleeding", all_of=("bleed_severe",), tip="bleeding"),
    Rule(E, "serious wound", all_of=("penetrating",), tip="bleeding"),
    Rule(E, "open fracture (bone through the skin)", all_of=("open_fracture",), tip="bleeding"),
    Rule(E, "vomiting or coughing up a lot of blood", all_of=("vomit_blood",), any_of=("large_amount", "faint")),
    Rule(E, "heavy bleeding in pregnancy", all_of=("pregnant", "bleeding"), any_of=("large_amount", "faint", "abdo_flag")),
    # ectopic pregnancy: one-sided pain, shoulder-tip pain, bleeding/spotting, faintness -- any three with pregnancy
    Rule(E, "possible ectopic pregnancy", all_of=("pregnant",),
         any_of=(("one_sided_pelvic", "abdo_pain"), "shoulder_tip", ("faint", "fainted"), ("bleeding", "spotting")),
         at_least=3),
    # low blood sugar: a diabetic who is confused, drowsy, unresponsive or can't swallow
    Rule(E, "possible severe low blood sugar (hypo)", all_of=("diabetic",),
         any_of=("confusion", "drowsy", "unresponsive", "not_answering", "cant_swallow", "seizure", "seizure_lay")),
    # after birth: heavy flow / big clots with faintness or pallor (normal lochia has neither)
    Rule(E, "heavy bleeding after giving birth", all_of=("postpartum", "bleeding"),
         any_of=(("heavy_flow", "large_amount"), "faint", "pale"), at_least=2, tip="bleeding"),
    Rule(E, "heavy bleeding after giving birth", all_of=("postpartum", "bleeding", "heavy_flow"), any_of=("bleed_severe",),
         tip="bleeding"),
    # consciousness
    Rule(E, "unresponsive / unconscious", all_of=("unresponsive",), tip="unconscious"),
    Rule(E, "unresponsive / unconscious", all_of=("not_answering",), any_of=("down", "collapsed", "seizure", "seizure_lay"),
         tip="unconscious"),
    Rule(E, "collapse", all_of=("collapsed",), tip="unconscious"),
    Rule(E, "floppy or unresponsive baby", all_of=("baby",), any_of=("infant_severe", "floppy")),
    # seizures
    Rule(E, "prolonged or repeated seizure", all_of=("seizure",), any_of=SEIZURE_DANGER, tip="seizure"),
    Rule(E, "prolonged or repeated seizure", all_of=("seizure_lay",), any_of=SEIZURE_DANGER, tip="seizure"),
    # babies, meningitis, sepsis
    Rule(E, "fever in a baby under 3 months", all_of=("young_infant",), any_of=("fever", "feels_hot")),
    Rule(E, "rash that doesn't fade under a glass (possible meningitis/sepsis)", all_of=("rash_nonblanching",)),
    Rule(E, "possible meningitis", all_of=("stiff_neck",), any_of=("fever", "photophobia", "rash_nonblanching", "confusion", "drowsy")),
    Rule(E, "possible sepsis", any_of=("confusion", "mottled", "fast_breathing", ("fever", "rigors"), "drowsy", "infection"),
         at_least=3),
    # poisoning / overdose
    Rule(E, "possible poisoning or overdose", all_of=("ingested",), any_of=("toxic", "dose_big"), tip="poison"),
    Rule(E, "overdose", all_of=("od_act",), tip="poison"),
    # "I took about 30 paracetamol", "swallowed my whole strip of sertraline" (the crisis rule below adds the lines)
    Rule(E, "possible overdose", all_of=("od_self_large",), none_of=("od_accident",), tip="poison"),
    Rule(E, "a child may have swallowed medicine or chemicals", all_of=("child",),
         any_of=(("child_ingested", "ingest_act"), ("toxic", "adult_meds")), at_least=2, tip="poison"),
    # burns
    Rule(E, "serious burn", all_of=("burn_injury",), any_of=("burn_severe", "burn_blister"), tip="burn"),
    # head
    Rule(E, "sudden severe headache", all_of=("headache_worst",)),
    Rule(E, "sudden severe headache", all_of=("headache_sev", "sudden")),
    Rule(E, "sudden severe headache", all_of=("headache", "hit_like")),
    Rule(E, "head injury with warning signs", all_of=("head_injury",),
         any_of=("nausea", "drowsy", "confusion", "unresponsive", "fainted", "seizure")),
    # carbon monoxide: a fuel-burning appliance + several symptoms, worse when a household is ill together
    Rule(E, "possible carbon monoxide poisoning", all_of=("co_source",),
         any_of=("headache", "faint", "nausea", ("confusion", "drowsy", "unresponsive", "not_answering"), "household"),
         at_least=3),
    Rule(E, "possible blood clot in the lung", all_of=("calf_clot",), any_of=("chest_pain",) + BREATH_ANY),
    # crisis
    Rule(C, "suicidal thoughts", all_of=("suicidal",)),
    Rule(C, "self-harm", any_of=("self_harm", "hurt_self")),
    Rule(C, "self-harm", all_of=("self_harm_marks", "coping_reason")),
    # warning signs in an older person: wanting to join someone who died, giving things away, stopping eating
    Rule(C, "warning signs of suicide", all_of=("join_dead",),
         any_of=("giving_away", "self_neglect", "hopeless", "burden", "want_it_to_stop", "cant_go_on")),
    Rule(C, "researching a way to die", all_of=("drop_research",),
         any_of=("hopeless", "burden", "want_it_to_stop", "cant_go_on", "suicidal")),
    Rule(C, "warning signs of suicide", all_of=("giving_away",),
         any_of=("self_neglect", "hopeless", "burden", "want_it_to_stop", "cant_go_on")),
    Rule(C, "warning signs of suicide", all_of=("join_dead",), any_of=("affairs", "means")),
    Rule(C, "goodbye message and can't be reached", all_of=("farewell",), any_of=("sorry_all", "bequest", "unreachable")),
    Rule(C, "goodbye message and can't be reached", all_of=("bequest", "unreachable")),
    Rule(C, "asking about a painless overdose", all_of=("dose_big", "painless_q")),
    Rule(C, "afraid of harming themselves", all_of=("fear_self",)),
    Rule(C, "planning an overdose", all_of=("pill_saving", "od_purpose")),
    # the means and the despair together, in plain or learner's English
    Rule(C, "a plan with the means", all_of=("rope",),
         any_of=("cant_live", "hopeless", "cant_go_on", "burden", "want_it_to_stop", "suicidal")),
    Rule(C, "saving up medicine, with despair", all_of=("pill_saving",),
         any_of=("cant_live", "hopeless", "cant_go_on", "burden", "want_it_to_stop")),
    Rule(C, "thinking of taking an overdose", all_of=("od_intent", "dose_big")),
    # round 7: the crisis told with no crisis word
    Rule(C, "the means at hand, with a last message", all_of=("means_here",),
         any_of=("no_blame", "say_goodbye", "sorry_all", "hopeless", "burden", "want_it_to_stop", "cant_go_on", "cant_live"),
         none_of=("means_ordinary",)),
    Rule(C, "a goodbye note", all_of=("no_blame",), any_of=("say_goodbye", "sorry_all", "unreachable", "farewell"),
         none_of=("blame_ordinary",)),
    Rule(C, "giving things away: won't need them", all_of=("wont_need",), any_of=("gave_things", "giving_away"),
         none_of=("need_ordinary",)),
    Rule(C, "planning their own funeral, withdrawn", all_of=("own_funeral",),
         any_of=("withdrawn", "self_neglect", "hopeless", "burden", "want_it_to_stop", "cant_go_on", "cant_live"),
         none_of=("funeral_ordinary",)),
    Rule(C, "putting affairs in order, suddenly calm", all_of=("affairs", "sudden_calm")),
    Rule(C, "an overdose taken on purpose", all_of=("od_on_purpose",), any_of=(("ingested", "od_act", "od_self_large"),)),
    Rule(C, "an overdose taken on purpose", all_of=("want_it_to_stop",), any_of=(("ingested", "od_act", "od_self_large"),)),
    Rule(C, "a large overdose", all_of=("od_self_large",), none_of=("od_accident",)),
    Rule(C, "collecting medicine that is not theirs", all_of=("pill_saving", "not_for_me")),
    Rule(C, "a plan told to a relative", all_of=("insurance_cover",),
         any_of=("locked_in", "unreachable", "hopeless", "affairs", "farewell", "sorry_all")),
    # round 8: a method's lethality asked about; a life wound up with a sudden calm; a hanging point weighed up
    Rule(C, "asking what amount would kill", all_of=("lethal_q",)),
    Rule(C, "asking if a way to die would be painless or quick", all_of=("method_quality", "method_word")),
    Rule(C, "asking if a way to die would be painless or quick", all_of=("painless_q", "method_word")),
    Rule(C, "wants it to look like an accident", all_of=("looks_accident",),
         any_of=("life_insurance", "method_word", "suicidal", "hopeless", "burden", "cant_go_on", "want_it_to_stop")),
    Rule(C, "winding up their life, suddenly calm", all_of=("sudden_calm",), any_of=("wound_up", "affairs"),
         none_of=("wound_up_ordinary",)),
    Rule(C, "a hanging point weighed up", all_of=("ligature_point",),
         any_of=("ligature", "rope", "hopeless", "cant_live", "cant_go_on", "burden", "want_it_to_stop", "suicidal")),
    # round 9: a self-directed lethality question (an amount, a height, a time); harm to someone else; a funeral due
    Rule(C, "asking how many of their medicines it would take", all_of=("amount_it_takes",)),
    Rule(C, "asking the lethal dose in numbers", all_of=("lethal_dose", "dose_specifics"), none_of=("dose_study",)),
    Rule(C, "asking what height would kill", all_of=("height_lethal",)),
    Rule(C, "measuring a drop, with hopelessness", all_of=("height_measured",),
         any_of=("burden", "without_me", "hopeless", "cant_go_on", "want_it_to_stop", "suicidal", "cant_live",
                 "withdrawn")),
    Rule(C, "thinking of harming someone else (a poison that would not be found)", all_of=("undetectable_poison",)),
    Rule(C, "wants their own funeral ready within days", all_of=("own_funeral", "deadline_soon"),
         none_of=("funeral_ordinary",)),
    Rule(C, "signs of hopelessness", any_of=("cant_go_on", "want_it_to_stop", "burden", "hopeless", "lethal_dose"), at_least=2),
    # urgent: see a doctor within 24 hours
    Rule(U, "chest pain", all_of=("chest_pain",), none_of=("msk",)),
    Rule(U, "racing heart with other symptoms", all_of=("palpitations",), any_of=("sweating", "faint") + BREATH_ANY),
    Rule(U, "possible stroke symptom", any_of=("speech", "one_side", "vision_loss")),
    Rule(U, "breathing difficulty", any_of=BREATH_ANY),
    Rule(U, "swelling of the mouth or throat", all_of=("airway_swelling",)),
    Rule(U, "allergic reaction", all_of=("allergic_reaction",)),
    Rule(U, "vomiting or coughing up blood", all_of=("vomit_blood",)),
    Rule(U, "blood in urine or stool", all_of=("blood_urine_stool",)),
    Rule(U, "bleeding in pregnancy", all_of=("pregnant",), any_of=("bleeding", "spotting")),
    Rule(U, "fainting", all_of=("fainted",)),
    Rule(U, "seizure", any_of=("seizure", "seizure_lay", "seizure_sign")),
    Rule(U, "high or lasting fever", all_of=("fever",), any_of=("persistent", "high_fever")),
    Rule(U, "unwell baby", all_of=("baby", "infant_unwell")),
    Rule(U, "baby with a high or lasting fever", all_of=("baby", "fever"), any_of=("high_fever", "persistent")),
    Rule(U, "urine infection with fever or back pain", all_of=("dysuria",), any_of=("fever", "flank_pain", "rigors")),
    Rule(U, "possible fracture", all_of=("no_weight",)),
    Rule(U, "possible fracture", all_of=("fracture_sign", "injury")),
    Rule(U, "heavy bleeding after giving birth", all_of=("postpartum", "bleeding", "heavy_flow")),
    Rule(U, "possible carbon monoxide exposure", all_of=("co_source",),
         any_of=("headache", "faint", "nausea", "household"), at_least=2),
    Rule(U, "ear infection with discharge or fever", all_of=("ear_discharge",), any_of=("fever", "feels_hot", "ear_pain")),
    Rule(U, "possible dehydration", all_of=("fluid_loss", "fewer_wees")),
    Rule(U, "painful red eye with blurred vision", all_of=("eye_sore",), any_of=("blurred_vision", "photophobia")),
    Rule(U, "possible dehydration", all_of=("fluid_loss", "persistent"), any_of=("faint", "no_urine")),
    Rule(U, "swallowed an object", all_of=("swallowed_object",)),
    Rule(U, "possible blood clot in the leg (DVT)", all_of=("calf_clot",)),
    Rule(U, "can't keep fluids down", all_of=("persistent_vomit",)),
    Rule(U, "possible infection", all_of=("pus_or_spreading",)),
    Rule(U, "worsening belly pain", all_of=("abdo_pain", "abdo_flag")),
    Rule(U, "trouble swallowing", all_of=("cant_swallow",)),
    Rule(U, "very high blood sugar", all_of=("high_sugar",)),
    Rule(U, "not passing urine", all_of=("no_urine",)),
    Rule(U, "head injury", all_of=("head_injury",), any_of=("headache", "faint")),
    Rule(U, "stiff neck with headache", all_of=("stiff_neck", "headache")),
    Rule(U, "confusion", all_of=("confusion",)),
]
