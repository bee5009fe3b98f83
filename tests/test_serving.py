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
    expected = generate_replies(model, tokenizer, [messages], settings)[0]

    def no_fallback(*args, **kwargs):  # the app's settings must reach the static decoder, not plain generate
        raise AssertionError(f"fell back to model.generate with {sorted(kwargs)}")

    fast = FastServingModel(model, max_cache_len=256)
    model.generate = no_fallback
    streamed = list(stream_reply(fast, tokenizer, messages, settings))
    assert streamed[-1] == expected


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


def test_zerogpu_per_call_decoder_gives_generates_tokens_and_keeps_nothing_between_calls(monkeypatch):
    """The ZeroGPU path (PerCallServingModel): each call builds its own decoder with a cache sized to the request,
    records the decode graph once, after the prompt and two eager decode steps of this request, and frees it all
    when the call returns; tokens are model.generate's (greedy and seeded sampling); a reply shorter than
    min_graph_tokens goes to model.generate untouched."""
    import gc
    import weakref

    from medchat import serving

    model = tiny_model(True)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    built, captured = [], []
    init = serving.StaticDecoder.__init__

    def tracking_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(weakref.ref(self))

    monkeypatch.setattr(serving.StaticDecoder, "__init__", tracking_init)
    monkeypatch.setattr(serving.StaticDecoder, "capture_current",
                        lambda self: captured.append((self.length, self.max_cache_len)))
    per_call = serving.PerCallServingModel(model, eager_steps=2, min_graph_tokens=8, cache_round=64)
    torch.manual_seed(3)
    for n_prompt, n_new, sampling in ((9, 12, False), (70, 20, True), (5, 9, False)):
        ids = torch.randint(3, 512, (1, n_prompt))
        mask = torch.ones_like(ids)
        kwargs = dict(max_new_tokens=n_new, do_sample=sampling, temperature=0.7, top_p=0.9, top_k=0,
                      repetition_penalty=1.1)
        torch.manual_seed(11)
        expected = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        torch.manual_seed(11)
        assert torch.equal(expected, per_call.generate(input_ids=ids, attention_mask=mask, **kwargs)), n_prompt
        gc.collect()
        assert all(ref() is None for ref in built), "a decoder (cache, graph) outlived its call"
        # captured once, after the prompt and 2 eager steps; the cache rounded up from prompt + reply
        assert captured[-1] == (n_prompt + 2, -(-(n_prompt + n_new + 1) // 64) * 64)
    assert len(captured) == len(built) == per_call.calls == 3
    short = per_call.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False)
    assert short.shape[1] == ids.shape[1] + 4 and len(built) == 3  # no decoder for a 4-token reply


def test_zerogpu_per_call_decoder_streams_through_the_app_function(tiny_model_dir, tmp_path):
    from medchat.generation import GenerationSettings, generate_replies, stream_reply
    from medchat.modeling import load_model_and_tokenizer
    from medchat.serving import PerCallServingModel
    from tests.test_generation import make_chatty_model_dir

    chatty = make_chatty_model_dir(tmp_path / "chatty", tiny_model_dir)
    model, tokenizer = load_model_and_tokenizer(str(chatty), load_in_4bit=False)
    messages = [{"role": "user", "content": "My knee hurts after running."}]
    settings = GenerationSettings(max_new_tokens=12, do_sample=False, repetition_penalty=1.0)
    per_call = PerCallServingModel(model)
    streamed = list(stream_reply(per_call, tokenizer, messages, settings))
    assert per_call.calls == 1
    assert streamed[-1] == generate_replies(model, tokenizer, [messages], settings)[0]


def test_serving_generator_picks_the_path_for_the_hardware():
    from medchat.serving import PerCallServingModel, serving_generator

    model = tiny_model(False)
    assert isinstance(serving_generator(model, zero_gpu=True, max_cache_len=256), PerCallServingModel)
    assert serving_generator(model, zero_gpu=True, max_cache_len=256, fast_decode=False) is model
    if not torch.cuda.is_available():  # a CPU has no kernel-launch overhead to save: the model itself
        assert serving_generator(model, zero_gpu=False, max_cache_len=256) is model


def test_decode_step_is_queued_before_the_host_reads_each_token(monkeypatch):
    """Once the decode step is a graph replay, the per-call decoder queues step t+1 before handing token t to the
    streamer (so the app's streaming overlaps the GPU); the eager steps before the capture read the host first (an
    eager step's launches would delay the first token); a reply that ends on EOS pays at most one unused step and
    records no graph when it ends before the capture; tokens stay generate's. The CPU stands in for the graph with
    a replay that runs the recorded step."""
    from medchat import serving

    model = tiny_model(True)
    model.generation_config.pad_token_id = 0
    events = []
    decode = serving.StaticDecoder.decode
    monkeypatch.setattr(serving.StaticDecoder, "decode", lambda self, nxt: events.append("decode") or decode(self, nxt))
    class Replay:  # what capture_current records on a GPU: the decode step, replayed into dec.logits
        def __init__(self, dec):
            self.dec = dec

        def replay(self):
            self.dec.logits = self.dec._step()

    def capture(self):
        events.append("capture")
        self.graph = Replay(self)

    monkeypatch.setattr(serving.StaticDecoder, "capture_current", capture)

    class Streamer:
        def put(self, value):
            events.append("put")

        def end(self):
            events.append("end")

    per_call = serving.PerCallServingModel(model, eager_steps=2, min_graph_tokens=4, cache_round=64)
    ids = torch.randint(3, 512, (1, 9))
    mask = torch.ones_like(ids)
    model.generation_config.eos_token_id = None
    free = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False)
    events.clear()
    assert torch.equal(free, per_call.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                                               streamer=Streamer()))
    # prompt put; steps 0-1 (eager): put, then decode; step 2: put, capture, decode; steps 3-8 (replays): decode
    # queued before the put; the last token (step 9) queues nothing
    assert events == (["put", "put", "decode", "put", "decode", "put", "capture", "decode"]
                      + ["decode", "put"] * 6 + ["put", "end"])

    checked = 0
    for stop_at, expected_decodes, captures in ((6, 7, 1), (1, 1, 0)):  # EOS as token 6 (after the capture) or 1
        eos = int(free[0, ids.shape[1] + stop_at])
        if eos in free[0, ids.shape[1]:ids.shape[1] + stop_at].tolist():
            continue  # the token also came earlier: generation would stop there
        checked += 1
        model.generation_config.eos_token_id = eos
        expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False)
        events.clear()
        got = per_call.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                                streamer=Streamer())
        assert torch.equal(expected, got) and got.shape[1] == ids.shape[1] + stop_at + 1
        assert events.count("put") == stop_at + 2 and events.count("decode") == expected_decodes
        assert events.count("capture") == captures
    assert checked  # at least one EOS case ran
