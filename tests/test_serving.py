"""The fast decoder (static KV cache; a CUDA graph on a GPU) gives the same tokens as model.generate, on a plain
model and on a 4-bit NF4 base with an unmerged LoRA, and streams through medchat.generation unchanged."""

import pytest
import torch

from benchmarks.check_serving_cpu import tiny_model
from medchat.serving import FastServingModel


@pytest.mark.parametrize("quantized", [False, True], ids=["plain", "nf4+lora"])
def test_fast_decoder_matches_generate_greedy_batched_and_sampled(quantized):
    model = tiny_model(quantized)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    fast = FastServingModel(model, max_cache_len=64, batch_sizes=(1, 3))
    ids = torch.randint(3, 512, (1, 9))
    mask = torch.ones_like(ids)
    assert torch.equal(model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False),
                       fast.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False))

    rows = [torch.randint(3, 512, (n,)) for n in (9, 5, 7)]
    batch, batch_mask = torch.zeros(3, 9, dtype=torch.long), torch.zeros(3, 9, dtype=torch.long)
    for i, row in enumerate(rows):  # left padding, as medchat.generation batches
        batch[i, 9 - len(row):], batch_mask[i, 9 - len(row):] = row, 1
    assert torch.equal(model.generate(input_ids=batch, attention_mask=batch_mask, max_new_tokens=10, do_sample=False),
                       fast.generate(input_ids=batch, attention_mask=batch_mask, max_new_tokens=10, do_sample=False))

    sampling = dict(max_new_tokens=12, do_sample=True, temperature=0.7, top_p=0.9, top_k=0, repetition_penalty=1.1)
    torch.manual_seed(5)
    reference = model.generate(input_ids=ids, attention_mask=mask, **sampling)
    torch.manual_seed(5)
    assert torch.equal(reference, fast.generate(input_ids=ids, attention_mask=mask, **sampling))


def test_fast_decoder_streams_like_the_app(tiny_model_dir, tmp_path):
    from medchat.generation import GenerationSettings, generate_replies, stream_reply
    from medchat.modeling import load_model_and_tokenizer
    from tests.test_generation import make_chatty_model_dir

    chatty = make_chatty_model_dir(tmp_path / "chatty", tiny_model_dir)
    model, tokenizer = load_model_and_tokenizer(str(chatty), load_in_4bit=False)
    messages = [{"role": "user", "content": "My knee hurts after running."}]
    settings = GenerationSettings(max_new_tokens=8, do_sample=False, repetition_penalty=1.0)
    streamed = list(stream_reply(FastServingModel(model, max_cache_len=256), tokenizer, messages, settings))
    assert streamed[-1] == generate_replies(model, tokenizer, [messages], settings)[0]


def test_one_row_prompts_prefill_in_padded_buckets_and_give_the_same_tokens(monkeypatch):
    """A one-row prompt is right padded to the next bucket length (the path the GPU records as a CUDA graph);
    requests of different lengths, on and across bucket edges, one after another, give generate's tokens; a prompt
    longer than every bucket falls back to the masked prefill."""
    from medchat import serving

    model = tiny_model(True)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    fast = FastServingModel(model, max_cache_len=160, batch_sizes=(1,))
    decoder = fast.decoders[1]
    assert decoder.buckets == (32, 64, 96, 128)
    seen = []
    bucket_step, masked = serving.StaticDecoder._prefill_bucket_step, serving.StaticDecoder._prefill_masked
    monkeypatch.setattr(serving.StaticDecoder, "_prefill_bucket_step",
                        lambda self, bucket: seen.append(bucket) or bucket_step(self, bucket))
    monkeypatch.setattr(serving.StaticDecoder, "_prefill_masked",
                        lambda self, ids, mask: seen.append(("masked", ids.shape[1])) or masked(self, ids, mask))
    torch.manual_seed(1)
    for n in (5, 32, 33, 100, 140, 20):
        ids = torch.randint(3, 512, (1, n))
        mask = torch.ones_like(ids)
        expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
        assert torch.equal(expected, fast.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8,
                                                   do_sample=False)), n
    assert seen == [32, 32, 64, 128, ("masked", 140), 32]
