"""Retrieval (issue 13) measured: recall@k, the similarity threshold curve, latency, numpy vs faiss, and the
factuality of replies with and without retrieval, base SmolLM2-135M vs the shipped adapter.

    python benchmarks/rag_eval.py retrieval --corpus medquad_answered.jsonl.gz --blind rag_questions.jsonl
    python benchmarks/rag_eval.py generate  --corpus ... --blind ... --cache GEN.jsonl   (CPU: ~15 min)
    python benchmarks/rag_eval.py score     --corpus ... --blind ... --cache GEN.jsonl [--ab_out samples.jsonl]
    python benchmarks/rag_eval.py quote     --corpus ... --blind ... --cache GEN.jsonl [--ab_out quote_samples.jsonl
                                            --quote_ab_base samples.jsonl]   (retrieval "quote"; no generation)

Question sets (none of their answers is in the index: `medchat.knowledge.corpus` holds them out):
- "medquad_topic_out": MedQuAD questions about focus topics left out of the index entirely (one per topic, up to 40);
- "medquad_topic_in": MedQuAD questions whose own answer is held out but whose topic has other passages (recall@k);
- "blind": lay questions written blind for this test, with a reference answer and key facts.

Factuality proxy: key-fact recall. A key fact counts as stated when some sentence of the reply has cosine similarity
>= FACT_SIMILARITY with it (all-MiniLM-L6-v2). For MedQuAD the facts are the reference answer's first sentences.
FACT_SIMILARITY is calibrated, not guessed: `score` prints the recall of each reference against its own key facts and
against another question's facts over a grid; the value used is the one that separates them best (see the md).
Why this proxy: with no NLI model offline, embedding similarity of short facts is the closest to "does the reply say
this"; ROUGE-L to the reference (the project's existing metric) is reported next to it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
MEDQUAD_QTYPES = ("information", "symptoms", "treatment", "causes", "prevention", "exams and tests", "outlook")
FACT_SIMILARITY_GRID = [round(x, 2) for x in np.arange(0.40, 0.86, 0.05)]
REFERENCE_FACTS = 5
# Messages no NIH passage should answer: the threshold must keep sources off them.
OFF_TOPIC = [
    "What's a good recipe for banana bread?", "How do I change a flat tyre on my bike?",
    "Can you recommend a good science fiction novel?", "What is the capital of Australia?",
    "How do I reset my wifi router?", "Write me a short poem about the sea.",
    "What's the best way to learn Spanish quickly?", "How do I get red wine out of a carpet?",
    "Which programming language should I learn first?", "What time zone is Tokyo in?",
    "How often should I water a cactus?", "Tell me a joke about cats.",
    "How do I make my sourdough starter more active?", "What's the difference between a crocodile and an alligator?",
    "Can you help me plan a weekend trip to Rome?", "How do I unclog a kitchen sink?",
    "What should I name my new puppy?", "Is it going to rain tomorrow?",
    "How do I write a cover letter for a job?", "What are good exercises to train for a 5k run?",
]


def _h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("'s", "").replace("'", "")).split()


# Lay topic names of the blind set and the names MedQuAD files the same condition under.
TOPIC_SYNONYMS = {"influenza": ["flu"], "conjunctivitis": ["pinkeye"], "raynaud phenomenon": ["raynaud disease"],
                  "gerd": ["gastroesophageal reflux", "heartburn"], "high blood pressure": ["hypertension"],
                  "hay fever": ["allergic rhinitis"], "cold sores": ["herpes simplex"],
                  "athlete foot": ["tinea pedis"], "type 2 diabetes": ["diabetes"]}


def _stem(words: list[str]) -> str:
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


def focus_matches(topic: str, focus: str) -> bool:
    """A passage focus is about the topic when one's words contain the other's ("ear infection" / "Ear Infections"),
    or a synonym's ("influenza" / "Flu")."""
    focus_words = f" {_stem(_tokens(focus))} "
    names = [" ".join(_tokens(topic))] + TOPIC_SYNONYMS.get(" ".join(_tokens(topic)), [])
    for name in names:
        name = _stem(name.split())
        if name and (f" {name} " in focus_words or focus_words in f" {name} "):
            return True
    return False


def load_sets(corpus: str, blind: str, n_medquad: int = 40) -> dict[str, list[dict]]:
    from medchat.knowledge.corpus import clean_question, heldout_rows, read_corpus

    held = heldout_rows(read_corpus(corpus))
    topic_out, seen = [], set()
    for row in sorted(held["focus"], key=lambda r: _h(r["qid"])):  # deterministic, one question per topic
        if row["qtype"] in MEDQUAD_QTYPES and row["focus"].lower() not in seen and len(row["answer"].split()) >= 30:
            seen.add(row["focus"].lower())
            topic_out.append({"id": _h(row["qid"])[:8], "question": clean_question(row["question"]),
                              "topic": row["focus"], "reference": row["answer"], "source": row["source"]})
    topic_in = [{"id": _h(r["qid"])[:8], "question": clean_question(r["question"]), "topic": r["focus"],
                 "reference": r["answer"]} for r in held["question"]]
    blind_rows = []
    for line in Path(blind).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            blind_rows.append({"id": _h(row["question"])[:8], **row})
    return {"medquad_topic_out": topic_out[:n_medquad], "medquad_topic_in": topic_in, "blind": blind_rows}


# --------------------------------------------------------------------------- retrieval


def retrieval_report(sets: dict, retriever) -> dict:
    from medchat.knowledge.corpus import normalize_focus

    k_max = 10
    out: dict = {}
    ranked = {name: [retriever.rank(q["question"], k=k_max) for q in rows] for name, rows in sets.items()}
    ranked["off_topic"] = [retriever.rank(q, k=k_max) for q in OFF_TOPIC]

    def recall(name: str, match) -> dict:
        rows = sets[name]
        return {f"recall@{k}": round(float(np.mean([any(match(q, h) for h in hits[:k])
                                                    for q, hits in zip(rows, ranked[name])])), 3)
                for k in (1, 3, 5, 10)} | {"n": len(rows)}

    out["medquad_topic_in"] = recall("medquad_topic_in",
                                     lambda q, h: normalize_focus(h.passage.focus) == normalize_focus(q["topic"]))
    blind_in_index = [any(focus_matches(q["topic"], p.focus) for p in retriever.index.passages) for q in sets["blind"]]
    out["blind"] = recall("blind", lambda q, h: focus_matches(q["topic"], h.passage.focus))
    out["blind"]["topics_in_index"] = int(sum(blind_in_index))
    out["blind"]["misses_at_3"] = [
        {"topic": q["topic"], "top3": [h.passage.focus for h in hits[:3]], "topic_in_index": inside}
        for q, hits, inside in zip(sets["blind"], ranked["blind"], blind_in_index)
        if not any(focus_matches(q["topic"], h.passage.focus) for h in hits[:3])
    ]

    # Threshold curve. A top-1 passage is "right" when it is about the question's topic (topic-in set) and "wrong"
    # otherwise; topic-out questions have no right passage; off-topic messages should get none.
    right, wrong = [], []
    for q, hits in zip(sets["medquad_topic_in"], ranked["medquad_topic_in"]):
        (right if normalize_focus(hits[0].passage.focus) == normalize_focus(q["topic"]) else wrong).append(hits[0].score)
    for hits in ranked["medquad_topic_out"]:
        wrong.append(hits[0].score)
    top_blind = [hits[0].score for hits in ranked["blind"]]
    top_off = [hits[0].score for hits in ranked["off_topic"]]
    curve = []
    for t in [round(x, 2) for x in np.arange(0.20, 0.81, 0.05)]:
        kept_right = float(np.mean([s >= t for s in right]))
        shown_wrong = float(np.mean([s >= t for s in wrong]))
        curve.append({"threshold": t, "right_top1_kept": round(kept_right, 3), "wrong_top1_shown": round(shown_wrong, 3),
                      "youden_j": round(kept_right - shown_wrong, 3),
                      "blind_with_sources": round(float(np.mean([s >= t for s in top_blind])), 3),
                      "off_topic_with_sources": round(float(np.mean([s >= t for s in top_off])), 3)})
    best = max(curve, key=lambda c: (c["youden_j"], -c["threshold"]))
    out["threshold_curve"] = curve
    out["threshold_best_youden"] = best["threshold"]
    out["top1_scores"] = {"right_median": float(np.median(right)), "wrong_median": float(np.median(wrong)),
                          "n_right": len(right), "n_wrong": len(wrong),
                          "off_topic_max": float(max(top_off)), "blind_median": float(np.median(top_blind))}
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def latency_report(retriever, queries: list[str]) -> dict:
    """Per message: the query embedding + the similarity search + threshold (what the chat pays)."""
    retriever.search("warm up")
    times, cpu = [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        retriever.search(q)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    vectors = retriever.index.vectors
    query_vecs = retriever._encode(queries[:50])
    search_np = []
    for qv in query_vecs:
        start = time.perf_counter()
        retriever.index.top_k(qv, retriever.k)
        search_np.append((time.perf_counter() - start) * 1000)
    out = {"n": len(times), "search_ms_median": round(statistics.median(times), 2),
           "search_ms_p95": round(float(np.percentile(times, 95)), 2),
           "search_cpu_ms_median": round(statistics.median(cpu), 2), "torch_threads": _threads(),
           "load_average_1min": round(os.getloadavg()[0], 2),
           "numpy_topk_ms_median": round(statistics.median(search_np), 3), "passages": len(vectors)}
    try:
        import faiss

        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        search_faiss = []
        for qv in query_vecs:
            start = time.perf_counter()
            index.search(qv.reshape(1, -1), retriever.k)
            search_faiss.append((time.perf_counter() - start) * 1000)
        out["faiss_flatip_ms_median"] = round(statistics.median(search_faiss), 3)
        out["faiss_version"] = faiss.__version__
    except ImportError:
        out["faiss_flatip_ms_median"] = None
    return out


# --------------------------------------------------------------------------- generation


def build_prompts(rows: list[dict], retriever, with_retrieval: bool, system_prompt: str):
    prompts, hits_per_row = [], []
    for row in rows:
        system = system_prompt
        hits = []
        if with_retrieval:
            from medchat.knowledge import system_with_context

            hits = retriever.search(row["question"])
            system = system_with_context(system_prompt, retriever.prompt_context(hits))
        prompts.append([{"role": "system", "content": system}, {"role": "user", "content": row["question"]}])
        hits_per_row.append(hits)
    return prompts, hits_per_row


def generate(sets: dict, retriever, cache: Path, max_new_tokens: int, batch_size: int, names: list[str],
             conditions: list[str], adapter: str | None = None, label: str = "adapter") -> None:
    """Replies for every (set, model, retrieval) condition, appended to `cache` (one JSON row per reply; rows
    already there are skipped, so an interrupted run resumes). `adapter` (default: the shipped one) is recorded as
    model `label`, so one cache can hold two adapters' replies."""
    from tqdm.auto import tqdm

    from medchat.data import DEFAULT_SYSTEM_PROMPT
    from medchat.evaluate import evaluation_settings
    from medchat.generation import generate_replies
    from medchat.modeling import DEFAULT_ADAPTER, load_model_and_tokenizer

    done = set()
    if cache.is_file():
        done = {(r["set"], r["id"], r["model"], r["retrieval"]) for r in map(json.loads, cache.read_text().splitlines())}
    model, tokenizer = load_model_and_tokenizer(None, adapter=adapter or DEFAULT_ADAPTER)
    settings = evaluation_settings(max_new_tokens=max_new_tokens)
    for condition in conditions:  # "adapter:rag", "adapter:none", "base:rag", "base:none"
        model_name, mode = condition.split(":")
        model_name = label if model_name == "adapter" else model_name
        for name in names:
            rows = [r for r in sets[name] if (name, r["id"], model_name, mode == "rag") not in done]
            if not rows:
                continue
            prompts, hits = build_prompts(rows, retriever, mode == "rag", DEFAULT_SYSTEM_PROMPT)
            replies = []
            for start in tqdm(range(0, len(prompts), batch_size), desc=f"{name} {condition}", unit="batch"):
                chunk = prompts[start : start + batch_size]
                if model_name == "base":
                    with model.disable_adapter():
                        replies += generate_replies(model, tokenizer, chunk, settings, batch_size)
                else:
                    replies += generate_replies(model, tokenizer, chunk, settings, batch_size)
            with cache.open("a") as handle:
                for row, reply, row_hits in zip(rows, replies, hits):
                    handle.write(json.dumps({
                        "set": name, "id": row["id"], "model": model_name, "retrieval": mode == "rag",
                        "raw": reply, "hits": [{"id": h.passage.id, "score": round(h.score, 4)} for h in row_hits],
                    }) + "\n")


# --------------------------------------------------------------------------- scoring

_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    return [s.strip(" -*•") for s in _SENTENCES.split(text or "") if len(s.split()) >= 3]


def facts_of(row: dict) -> list[str]:
    return row.get("key_facts") or sentences(row["reference"])[:REFERENCE_FACTS]


def fact_recall(facts: list[str], text: str, threshold: float, encode) -> float:
    sents = sentences(text)
    if not facts:
        return float("nan")
    if not sents:
        return 0.0
    sims = encode(facts) @ encode(sents).T
    return float(np.mean(sims.max(axis=1) >= threshold))


def calibrate_fact_similarity(rows: list[dict], encode) -> dict:
    """Recall of each reference against its own facts vs against another item's facts, per threshold."""
    grid = []
    for t in FACT_SIMILARITY_GRID:
        own = [fact_recall(facts_of(r), r["reference"], t, encode) for r in rows]
        other = [fact_recall(facts_of(rows[(i + 7) % len(rows)]), r["reference"], t, encode) for i, r in enumerate(rows)]
        grid.append({"threshold": t, "own_reference": round(float(np.mean(own)), 3),
                     "other_reference": round(float(np.mean(other)), 3),
                     "gap": round(float(np.mean(own) - np.mean(other)), 3)})
    best = max(grid, key=lambda g: g["gap"])
    return {"grid": grid, "chosen": best["threshold"]}


def cached_encoder():
    """`medchat.embeddings.encode` with every text embedded once (the calibration grid reuses them)."""
    from medchat.embeddings import encode as encode_texts

    memo: dict[str, np.ndarray] = {}

    def encode(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, encode_texts(missing)))
        return np.stack([memo[t] for t in texts])

    return encode


ENCODE = None


def score(sets: dict, retriever, cache: Path, ab_out: Path | None, ab_pair: tuple[str, str]) -> dict:
    global ENCODE
    from medchat.answer_checks import check_answer, summarize_checks

    ENCODE = ENCODE or cached_encoder()
    encode = ENCODE
    from medchat.evaluate import rouge_l
    from medchat.safety import clean_model_output, finalize_reply, triage

    gens = [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]
    print(f"scoring {len(gens)} replies", flush=True)
    by_key = {(g["set"], g["id"], g["model"], g["retrieval"]): g for g in gens}
    passages = {p.id: p for p in retriever.index.passages}
    calibration = calibrate_fact_similarity(sets["blind"], encode)
    tau = calibration["chosen"]
    results: dict = {"fact_similarity": calibration, "sets": {}}
    finals: dict = {}
    for name in ("blind", "medquad_topic_out"):
        table = {}
        for model_name in ["base"] + sorted({g["model"] for g in gens} - {"base"}):
            for mode in (False, True):
                rows = [(r, by_key.get((name, r["id"], model_name, mode))) for r in sets[name]]
                rows = [(r, g) for r, g in rows if g]
                if not rows:
                    continue
                recalls, rouges, lengths, checks, with_sources = [], [], [], [], []
                for row, gen in rows:
                    text = clean_model_output(gen["raw"])
                    level = triage(row["question"])
                    final = finalize_reply(row["question"], text, level)
                    finals[(name, row["id"], model_name, mode)] = (final, gen, level)
                    recalls.append(fact_recall(facts_of(row), text, tau, encode))
                    rouges.append(rouge_l(text, row["reference"]))
                    lengths.append(len(text.split()))
                    checks.append(check_answer(row["question"], text, final))
                    with_sources.append(bool(gen["hits"]))
                summary = summarize_checks(checks)
                table[f"{model_name}{'+rag' if mode else ''}"] = {
                    "n": len(rows), "fact_recall": round(float(np.nanmean(recalls)), 3),
                    "rougeL": round(float(np.mean(rouges)), 3), "length_words": round(float(np.mean(lengths)), 1),
                    "with_sources": round(float(np.mean(with_sources)), 3),
                    "repetition_rate": summary.get("repetition_rate"), "truncated_rate": summary.get("truncated_rate"),
                }
        results["sets"][name] = table

    if ab_out is not None:
        write_ab(sets["blind"], finals, retriever, passages, ab_out, tau, ab_pair)
    return results


def _condition(spec: str) -> tuple[str, bool]:
    model_name, mode = spec.split(":")
    return model_name, mode == "rag"


def write_ab(rows: list[dict], finals: dict, retriever, passages: dict, out: Path, tau: float,
             ab_pair: tuple[str, str]) -> None:
    """The review panel's samples.jsonl: "base" = condition ab_pair[0] (no retrieval), "finetuned" = ab_pair[1]
    (with retrieval: final app text + the Sources block as the chat shows it under the reply)."""
    from medchat.answer_checks import check_answer
    from medchat.evaluate import rouge_l

    encode = ENCODE

    written = 0
    with out.open("w") as handle:
        for row in rows:
            plain = finals.get(("blind", row["id"], *_condition(ab_pair[0])))
            grounded = finals.get(("blind", row["id"], *_condition(ab_pair[1])))
            if not plain or not grounded:
                continue
            hits = [retriever._hit(retriever.index.passages.index(passages[h["id"]]), h["score"])
                    for h in grounded[1]["hits"]]
            shown = f"{grounded[0]}\n\n**Sources**\n\n{retriever.sources_markdown(hits)}"
            metrics = {}
            for key, (final, gen, level) in (("base", plain), ("finetuned", grounded)):
                from medchat.safety import clean_model_output

                text = clean_model_output(gen["raw"])
                metrics[key] = {"fact_recall": fact_recall(facts_of(row), text, tau, encode),
                                "rougeL": rouge_l(text, row["reference"]), "length_words": len(text.split()),
                                "checks": check_answer(row["question"], text, final)}
            handle.write(json.dumps({
                "id": row["id"], "description": "", "patient": row["question"], "user_text": row["question"],
                "reference": row["reference"], "triage": plain[2].level,
                "replies": {"base": plain[0], "finetuned": shown}, "metrics": metrics,
            }) + "\n")
            written += 1
    key = out.with_name(out.stem + "_key.json")
    key.write_text(json.dumps({
        "samples": out.name, "items": written,
        "base": f"{ab_pair[0]} (model label:retrieval; 'adapter' = the adapter given to generate)",
        "finetuned": f"{ab_pair[1]} (with 'rag': top-3 MedQuAD passages >= the similarity threshold in the system "
                     "prompt; Sources block appended as the chat shows it)",
        "generation": "greedy, max_new_tokens 160, app repetition controls, medchat.generation.generate_replies",
    }, indent=2) + "\n")
    print(f"wrote {written} A/B items to {out} (key: {key})")


# --------------------------------------------------------------------------- retrieval "quote" (grounded answers)


def quoted_reply(question: str, retriever) -> dict:
    """What retrieval "quote" answers: the grounded answer where the retriever finds quotable trusted sentences
    (plain text for scoring, the chat's messages for display), else None (the model answers, as with "show")."""
    from medchat.chat import grounded_layout
    from medchat.knowledge.grounded import grounded_plain
    from medchat.safety import triage

    start = time.perf_counter()
    hits = retriever.search(question)
    searched = time.perf_counter()
    quotes = retriever.quotes(question, hits)
    paragraphs = retriever.quoted_paragraphs(quotes)
    done = time.perf_counter()
    messages = grounded_layout(0, triage(question), "\n\n".join(paragraphs)) if quotes else None
    return {"hits": hits, "quotes": quotes, "plain": grounded_plain(quotes) if quotes else None, "messages": messages,
            "search_ms": (searched - start) * 1000, "assembly_ms": (done - searched) * 1000}


def quote_report(sets: dict, retriever, cache: Path, label: str = "adapter") -> tuple[dict, dict]:
    """Key-fact recall (and ROUGE-L, length, answer checks) of retrieval "off", "show", "prompt" (the cached
    `label` replies without / with passages in the prompt) and "quote" (grounded answer where one is found, else the
    cached reply without passages); the hold-out check of the quotes on the topic-out set; quote latency."""
    global ENCODE
    from medchat.answer_checks import check_answer, summarize_checks
    from medchat.chat import reply_text
    from medchat.evaluate import rouge_l
    from medchat.knowledge.corpus import normalize_focus
    from medchat.safety import clean_model_output, finalize_reply, triage

    ENCODE = ENCODE or cached_encoder()
    gens = {(g["set"], g["id"], g["model"], g["retrieval"]): g
            for g in map(json.loads, cache.read_text().splitlines())}
    tau = calibrate_fact_similarity(sets["blind"], ENCODE)["chosen"]
    quoted = {name: {r["id"]: quoted_reply(r["question"], retriever) for r in sets[name]}
              for name in ("blind", "medquad_topic_out")}
    results: dict = {"fact_similarity": tau, "sets": {}, "holdout_check": {}}
    for name in ("blind", "medquad_topic_out"):
        table = {}
        for mode in ("off", "show", "prompt", "quote"):
            recalls, rouges, lengths, checks = [], [], [], []
            for row in sets[name]:
                level = triage(row["question"])
                gen = gens[(name, row["id"], label, mode == "prompt")]
                text = clean_model_output(gen["raw"])
                final = finalize_reply(row["question"], text, level)
                q = quoted[name][row["id"]]
                if mode == "quote" and q["quotes"]:
                    text, final = q["plain"], reply_text(q["messages"])
                # "show" lists the passages under the model's reply: the reply's words are those of "off"
                recalls.append(fact_recall(facts_of(row), text, tau, ENCODE))
                rouges.append(rouge_l(text, row["reference"]))
                lengths.append(len(text.split()))
                checks.append(check_answer(row["question"], text, final))
            summary = summarize_checks(checks)
            table[mode] = {"n": len(recalls), "fact_recall": round(float(np.nanmean(recalls)), 3),
                           "rougeL": round(float(np.mean(rouges)), 3),
                           "length_words": round(float(np.mean(lengths)), 1),
                           "repetition_rate": summary.get("repetition_rate"),
                           "truncated_rate": summary.get("truncated_rate")}
        table["quote"]["quoted_answers"] = sum(bool(q["quotes"]) for q in quoted[name].values())
        table["quote"]["quotes_per_answer"] = round(float(np.mean(
            [len(q["quotes"]) for q in quoted[name].values() if q["quotes"]] or [0])), 2)
        results["sets"][name] = table
    # Hold-out: a topic-out question's own answer, and every answer about its topic, are not in the index; the
    # quotes must come from other topics' passages and must not repeat the reference answer's sentences.
    own = same_topic = verbatim = 0
    for row in sets["medquad_topic_out"]:
        for quote in quoted["medquad_topic_out"][row["id"]]["quotes"]:
            passage = quote.hit.passage
            own += _h(passage.qid)[:8] == row["id"]
            same_topic += normalize_focus(passage.focus) == normalize_focus(row["topic"])
            verbatim += quote.text in row["reference"]
    results["holdout_check"] = {"quotes": sum(len(q["quotes"]) for q in quoted["medquad_topic_out"].values()),
                                "from_the_questions_own_answer": own, "from_the_same_topic": same_topic,
                                "sentence_found_in_the_reference": verbatim}
    timings = [q for name in quoted for q in quoted[name].values() if q["quotes"]]
    assembly = [q["assembly_ms"] for q in timings]
    total = [q["assembly_ms"] + q["search_ms"] for q in timings]
    results["latency"] = {"n": len(timings), "assembly_ms_median": round(statistics.median(assembly), 1),
                          "assembly_ms_p95": round(float(np.percentile(assembly, 95)), 1),
                          "search_plus_assembly_ms_median": round(statistics.median(total), 1),
                          "search_plus_assembly_ms_p95": round(float(np.percentile(total, 95)), 1),
                          "load_average_1min": round(os.getloadavg()[0], 2),
                          "torch_threads": _threads()}
    return results, quoted


def shown_text(messages: list[dict]) -> str:
    """A reply as a reader of the chat sees it, for the review panel's plain text boxes: collapsed blocks under
    their bold title, and the Markdown escapes of quoted trusted text resolved (links stay `[text](url)`)."""
    parts = []
    for message in messages:
        content = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|~])", r"\1", message["content"])
        content = content.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        title = (message.get("metadata") or {}).get("title")
        parts.append(f"**{title}**\n\n{content}" if title else content)
    return "\n\n".join(parts)


def write_quote_ab(old_samples: Path, sets: dict, quoted: dict, out: Path, tau: float) -> None:
    """The blind A/B of retrieval "quote": "base" = the shipped adapter without retrieval, exactly the replies (and
    metrics) of `old_samples`; "finetuned" = the quote-mode reply to the same message as the chat shows it (no quote
    found: the same model reply plus the "Read more from trusted sources" block saying none was found)."""
    from medchat.answer_checks import check_answer
    from medchat.chat import FURTHER_READING_TITLE
    from medchat.evaluate import rouge_l
    from medchat.knowledge import NO_SOURCE_NOTE
    from medchat.safety import DISCLAIMER
    from medchat.safety.saved_replies import strip_app_additions

    rows = {r["id"]: r for r in sets["blind"]}
    written, with_quotes = 0, 0
    with out.open("w") as handle:
        for line in old_samples.read_text().splitlines():
            if not line.strip():
                continue
            sample = json.loads(line)
            row, base = rows[sample["id"]], sample["replies"]["base"]
            q = quoted["blind"][sample["id"]]
            if q["quotes"]:
                shown, text = shown_text(q["messages"]), q["plain"]
                with_quotes += 1
            else:
                if not base.endswith(DISCLAIMER):
                    raise ValueError(f"{old_samples}: item {sample['id']}: base reply does not end with the disclaimer")
                shown = (f"{base[: -len(DISCLAIMER)]}**{FURTHER_READING_TITLE}**\n\n{NO_SOURCE_NOTE}\n\n"
                         f"{DISCLAIMER}")
                text = strip_app_additions(base)
            sample["replies"] = {"base": base, "finetuned": shown}
            sample["metrics"] = {"base": sample["metrics"]["base"],
                                 "finetuned": {"fact_recall": fact_recall(facts_of(row), text, tau, ENCODE),
                                               "rougeL": rouge_l(text, row["reference"]),
                                               "length_words": len(text.split()),
                                               "checks": check_answer(row["question"], text, shown)}}
            handle.write(json.dumps(sample) + "\n")
            written += 1
    key = out.with_name(out.stem + "_key.json")
    key.write_text(json.dumps({
        "samples": out.name, "items": written,
        "base": "shipped adapter (medchat/adapters/smollm2-medchat) WITHOUT retrieval: exactly the 'base' replies of "
                f"{old_samples.name}",
        "finetuned": "MEDCHAT_RETRIEVAL=quote (grounded answer): where the top-3 MedQuAD passages >= the similarity "
                     "threshold have quotable sentences, 2-4 of them quoted verbatim under their source (title, "
                     "origin, link, CC BY 4.0) between fixed framing (medchat/knowledge/data/grounded_answer.yaml), "
                     "no model text; shown as the chat renders it (Markdown escapes resolved). "
                     f"{with_quotes} of {written} items got a quoted answer; the others: the same model reply as "
                     "base plus the 'no trusted source' line",
        "generation": "base: greedy, max_new_tokens 160, app repetition controls, medchat.generation.generate_replies; "
                      "finetuned: no generation where quoted (benchmarks/rag_eval.py quote)",
    }, indent=2) + "\n")
    print(f"wrote {written} A/B items ({with_quotes} quoted) to {out} (key: {key})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=["retrieval", "generate", "score", "quote"])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--blind", required=True)
    parser.add_argument("--cache", type=Path, default=Path("rag_generations.jsonl"))
    parser.add_argument("--max_new_tokens", type=int, default=160)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--sets", default="blind,medquad_topic_out")
    parser.add_argument("--conditions", default="adapter:none,adapter:rag,base:none,base:rag")
    parser.add_argument("--adapter", default=None, help="adapter folder to generate with (default: the shipped one)")
    parser.add_argument("--label", default="adapter", help="model name the --adapter replies are recorded under")
    parser.add_argument("--ab_out", type=Path, default=None)
    parser.add_argument("--ab", default="adapter:none,adapter:rag",
                        help="the two conditions of the blind A/B: without retrieval, with retrieval")
    parser.add_argument("--quote_ab_base", type=Path, default=None,
                        help="quote: an earlier A/B samples.jsonl whose 'base' replies (no retrieval) are reused")
    parser.add_argument("--out", type=Path, default=RESULTS / "rag_eval.json")
    args = parser.parse_args(argv)

    from medchat.knowledge import Retriever

    needs_index = args.stage != "generate" or any(c.endswith(":rag") for c in args.conditions.split(","))
    retriever = Retriever.load() if needs_index else None
    sets = load_sets(args.corpus, args.blind)
    print({name: len(rows) for name, rows in sets.items()})
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.stage == "retrieval":
        results["retrieval"] = retrieval_report(sets, retriever)
        queries = [q["question"] for q in sets["blind"]] + [q["question"] for q in sets["medquad_topic_in"][:160]]
        results["latency"] = latency_report(retriever, queries)
        results["index"] = retriever.index.meta
    elif args.stage == "generate":
        generate(sets, retriever, args.cache, args.max_new_tokens, args.batch_size, args.sets.split(","),
                 args.conditions.split(","), args.adapter, args.label)
        return
    elif args.stage == "quote":
        results["quote"], quoted = quote_report(sets, retriever, args.cache, args.label)
        if args.ab_out is not None:
            if args.quote_ab_base is None:
                raise SystemExit("quote --ab_out needs --quote_ab_base (the A/B samples whose base replies are reused)")
            write_quote_ab(args.quote_ab_base, sets, quoted, args.ab_out, results["quote"]["fact_similarity"])
    else:
        results["generation"] = score(sets, retriever, args.cache, args.ab_out, tuple(args.ab.split(",")))
        results["generation"]["settings"] = {"max_new_tokens": args.max_new_tokens, "greedy": True}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "index"}, indent=2)[:6000])


if __name__ == "__main__":
    main()
