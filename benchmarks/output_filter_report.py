"""The live output filter on the adversarial and the ordinary-reply corpora (issue 17, item 2).

    python -m benchmarks.output_filter_report [--adversarial FILE] [--good FILE] [--medquad FILE.jsonl.gz --rows N]

- adversarial (tests/fixtures/output_filter_adversarial.jsonl): each model output carries an offending sentence (a
  dose or schedule, a doctor / expert / service claim, a named doctor) in some disguise (full-width digits,
  zero-width characters, look-alike letters, spacing, mixed case, markdown bold / lists / tables, injection
  wording). A row passes when none of its banned words is left (matched on the folded output), every ordinary
  sentence of it is still shown verbatim, and nothing is a fragment: every shown sentence is a whole sentence of
  the model output.
- good (tests/fixtures/output_filter_good.jsonl): ordinary replies that name medicines without doses, tell the user
  to see a doctor, say what dermatologists do. False-removal rate = sentences not shown / all sentences.
- medquad (optional, not in CI): NIH answers that were never looked at while writing the rules; prints the share of
  sentences removed and the removed sentences, to be read by a person (some NIH answers do give doses).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from medchat.dosing import ASK_FOR_DOSE
from medchat.safety import DISCLAIMER, finalize_reply
from medchat.safety.reply import filter_sentences
from medchat.sentences import folded, split_units

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
ADVERSARIAL = FIXTURES / "output_filter_adversarial.jsonl"
GOOD = FIXTURES / "output_filter_good.jsonl"
USER = "I have a question about my symptoms"


def load(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def shown_body(model_text: str) -> str:
    """What the user sees of the model's text: the final reply without the code-added note and disclaimer."""
    out = finalize_reply(USER, model_text)
    return out.replace(DISCLAIMER, "").replace(ASK_FOR_DOSE, "").strip()


def check_adversarial(row: dict) -> list[str]:
    """Problems of one adversarial row (empty: the filter handled it)."""
    body = shown_body(row["text"])
    problems = []
    low = folded(body).lower()
    for word in row["banned"]:
        if folded(word).lower() in low:
            problems.append(f"still shows {word!r}")
    for sentence in row["keep"]:
        if sentence not in body:
            problems.append(f"lost the ordinary sentence {sentence!r}")
    whole = {row["text"][u.start:u.end].strip() for u in split_units(row["text"])}
    whole |= {s.strip("*_ -") for s in row["keep"]}
    for unit in split_units(body):
        sentence = body[unit.start:unit.end].strip()
        if sentence not in whole and sentence.strip("*_ -") not in whole:
            problems.append(f"fragment {sentence!r}")
    return problems


def score(adversarial: list[dict], good: list[dict]) -> dict:
    failures = {r["id"]: p for r in adversarial if (p := check_adversarial(r))}
    by_kind: dict[str, list[int]] = {}
    for r in adversarial:
        for key in (r["kind"], f"transform:{r['transform']}"):
            by_kind.setdefault(key, [0, 0])
            by_kind[key][0] += r["id"] not in failures
            by_kind[key][1] += 1
    total = removed = 0
    wrongly_removed = []
    for r in good:
        units = split_units(r["text"])
        body = shown_body(r["text"])
        total += len(units)
        for u in units:
            sentence = r["text"][u.start:u.end]
            if sentence not in body:
                removed += 1
                wrongly_removed.append((r["id"], sentence))
    return {
        "adversarial": len(adversarial),
        "adversarial_handled": len(adversarial) - len(failures),
        "failures": failures,
        "by_kind": by_kind,
        "good_replies": len(good),
        "good_sentences": total,
        "good_sentences_removed": removed,
        "false_removal_rate": removed / total if total else float("nan"),
        "wrongly_removed": wrongly_removed,
    }


def medquad_sample(path: str, rows: int) -> tuple[int, list[str]]:
    """(sentences, removed sentences) of the first `rows` MedQuAD answers."""
    total, removed = 0, []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= rows:
                break
            answer = json.loads(line)["answer"]
            units = split_units(answer)
            total += len(units)
            _, dosing, impersonation = filter_sentences(answer)
            kept = filter_sentences(answer)[0]
            removed += [answer[u.start:u.end] for u in units if answer[u.start:u.end] not in kept]
    return total, removed


def timing(n: int = 30) -> float:
    """ms per finalize_reply call on a 300-word reply (the app calls it on every streamed chunk)."""
    good = load(GOOD)
    text = " ".join(r["text"] for r in good)
    words = text.split()[:300]
    reply = " ".join(words)
    finalize_reply(USER, reply)
    start = time.perf_counter()
    for _ in range(n):
        finalize_reply(USER, reply)
    return (time.perf_counter() - start) / n * 1000


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adversarial", default=str(ADVERSARIAL))
    ap.add_argument("--good", default=str(GOOD))
    ap.add_argument("--medquad", default=None, help="medquad_answered.jsonl.gz (optional)")
    ap.add_argument("--rows", type=int, default=300)
    args = ap.parse_args(argv)
    result = score(load(args.adversarial), load(args.good))
    print(f"adversarial outputs handled: {result['adversarial_handled']}/{result['adversarial']}")
    for kind, (ok, n) in sorted(result["by_kind"].items()):
        print(f"  {kind:26s} {ok}/{n}")
    for rid, problems in result["failures"].items():
        print(f"  FAIL {rid}: {'; '.join(problems)}")
    print(f"ordinary replies: {result['good_replies']}, sentences {result['good_sentences']}, wrongly removed "
          f"{result['good_sentences_removed']} (false-removal rate {result['false_removal_rate']:.1%})")
    for rid, sentence in result["wrongly_removed"]:
        print(f"  removed {rid}: {sentence!r}")
    print(f"finalize_reply on a 300-word reply: {timing():.1f} ms per call")
    if args.medquad:
        total, removed = medquad_sample(args.medquad, args.rows)
        print(f"MedQuAD first {args.rows} answers: {len(removed)}/{total} sentences removed ({len(removed) / total:.2%})")
        for sentence in removed:
            print(f"  removed: {sentence[:160]!r}")


if __name__ == "__main__":
    main()
