"""Validate a labelled triage file: python validate_set.py FILE [--min N]"""
import json, sys, collections
LEVELS = {"emergency", "crisis", "urgent", "routine"}
CATS = {"stroke", "heart_attack", "breathing_choking", "severe_bleeding", "anaphylaxis", "sepsis", "meningitis",
        "infant_fever", "pregnancy", "postpartum", "ectopic", "testicular_torsion", "diabetes_emergency",
        "pulmonary_embolism", "gi_bleeding", "head_injury", "poisoning", "seizure", "burns", "drowning",
        "heat_cold", "abdominal_surgical", "other_emergency", "suicide", "suicide_indirect", "self_harm",
        "harm_to_others", "postpartum_crisis", "psychosis_crisis", "lookalike", "urgent_care", "routine_care"}
path = sys.argv[1]
minimum = int(sys.argv[sys.argv.index("--min") + 1]) if "--min" in sys.argv else 150
rows, errors, seen = [], [], set()
for i, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        errors.append(f"line {i}: not JSON ({e})"); continue
    for k in ("text", "level", "category", "language"):
        if not isinstance(r.get(k), str) or not r[k].strip():
            errors.append(f"line {i}: field {k!r} missing or empty")
    if r.get("level") not in LEVELS:
        errors.append(f"line {i}: level {r.get('level')!r} not in {sorted(LEVELS)}")
    if r.get("category") not in CATS:
        errors.append(f"line {i}: category {r.get('category')!r} not in the list")
    if r.get("category") == "lookalike" and r.get("level") not in ("routine", "urgent"):
        errors.append(f"line {i}: a lookalike must be routine or urgent")
    if r.get("category") in ("suicide", "suicide_indirect", "self_harm", "harm_to_others", "postpartum_crisis", "psychosis_crisis") and r.get("level") != "crisis":
        errors.append(f"line {i}: category {r.get('category')} should be level crisis")
    t = (r.get("text") or "").strip().lower()
    if t in seen:
        errors.append(f"line {i}: duplicate text")
    seen.add(t)
    rows.append(r)
lv = collections.Counter(r.get("level") for r in rows)
lang = collections.Counter(r.get("language") for r in rows)
cat = collections.Counter(r.get("category") for r in rows)
print(f"{len(rows)} rows; levels {dict(lv)}")
print(f"languages ({len(lang)}): {dict(lang.most_common())}")
print(f"categories: {dict(cat.most_common())}")
pos = lv["emergency"] + lv["crisis"]
print(f"positives {pos} ({pos / max(len(rows), 1):.0%}); non-English {1 - lang['en'] / max(len(rows), 1):.0%}; lookalikes {cat['lookalike']}")
if len(rows) < minimum:
    errors.append(f"only {len(rows)} rows, need {minimum}")
print("\n".join(errors[:50]) if errors else "OK")
sys.exit(1 if errors else 0)
