"""Issue 18: the ZeroGPU path, emulated on one GPU: bf16 Llama-3-8B shape + an unmerged LoRA, replies through the
app's streaming function (`medchat.generation.stream_reply`) with the app's sampling settings.

ZeroGPU emulation (what is kept between calls and what is not):
* kept: the model's weights on the GPU (ZeroGPU restores them before each `@spaces.GPU` call; that copy is ZeroGPU's
  cost and is not timed here), the Python objects (model, tokenizer, the `PerCallServingModel` wrapper) and the
  app's generation threads;
* not kept: anything a call puts on the GPU: the static KV cache, the CUDA graph, the allocator's cached blocks
  (`torch.cuda.empty_cache()` after every call) - every call builds, captures and frees its own.
A "call" is timed from before `stream_reply` is called to its last chunk: tokenizing, the thread hand-off, the
decoder's allocation and graph capture, prefill and every token are inside it.

Rows: `per_call` (`PerCallServingModel`: eager prefill, 2 eager decode steps, then one graph capture and replays)
through `stream_reply` and as a raw `generate` of the same tokens (same kwargs and seed, no streamer, main thread);
`today` (`model.generate`, eager, what the app served on ZeroGPU before) through `stream_reply`; short replies on
both paths. Medians of `--repeats` calls with min and max; TTFT = the first generated token reaching the streamer.

    python -m benchmarks.bench_zerogpu --out DIR --tag run1        # about 2 minutes on an H200
    python -m benchmarks.bench_zerogpu --tiny --new-tokens 16 --short-tokens 8 --repeats 2 --out /tmp/z  # CPU
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch


from benchmarks.bench_speed import LLAMA3_8B, TINY, build_random_4bit_model, prompt_ids, with_synthetic_adapter  # noqa: E402
from benchmarks.common import environment, llama3_tokenizer_path, load_rows, markdown_table, save_markdown_and_json  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench_zerogpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class _TimedStreamer:
    """Forwards to the app's streamer; records when each generated token arrives (the first put is the prompt)."""

    def __init__(self, inner, t0: float):
        self.inner, self.t0, self.token_times, self._prompt_seen = inner, t0, [], False

    def put(self, value):
        if self._prompt_seen:
            self.token_times.append(time.perf_counter() - self.t0)
        self._prompt_seen = True
        if self.inner is not None:
            self.inner.put(value)

    def end(self):
        if self.inner is not None:
            self.inner.end()


class TimedGenerator:
    """Wraps what `stream_reply` is given as the model: every generate gets a `_TimedStreamer` (TTFT, token count)."""

    def __init__(self, generator):
        self.generator = generator
        self.last: _TimedStreamer | None = None
        self.t0 = 0.0

    def __getattr__(self, name):
        if name == "generator":
            raise AttributeError(name)
        return getattr(self.generator, name)

    def generate(self, **kwargs):
        self.last = _TimedStreamer(kwargs.get("streamer"), self.t0)
        kwargs["streamer"] = self.last
        return self.generator.generate(**kwargs)


def one_call(fn) -> float:
    """One emulated ZeroGPU call: nothing of the previous call's GPU state survives (cache and graphs were freed
    with their decoder; the allocator's cached blocks are returned)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    fn(t0)
    sync()
    return time.perf_counter() - t0


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "all": values}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--tag", default="zerogpu")
    parser.add_argument("--prompt-tokens", type=int, default=500)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--short-tokens", default="8,32", help="short replies compared with today's path")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--today-repeats", type=int, default=2, help="calls of today's eager path, long reply")
    parser.add_argument("--lora-delta", type=float, default=0.02)
    parser.add_argument("--rows", default=None, help="conversations (jsonl) to cut the prompt from; default: the real rows")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from medchat import serving
    from medchat.chat_format import prepare_tokenizer
    from medchat.generation import GenerationSettings, _pad_token_id, eos_token_ids, prompt_inputs, stream_reply

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = TINY if args.tiny else LLAMA3_8B
    env = environment()
    log(f"environment: {env}")
    tokenizer = AutoTokenizer.from_pretrained(llama3_tokenizer_path())
    prepare_tokenizer(tokenizer)
    rows = load_rows(args.rows, limit=50)
    t0 = time.perf_counter()
    model = with_synthetic_adapter(build_random_4bit_model(cfg, device, quantize=False), args, cfg)
    prepare_tokenizer(tokenizer, model)
    sync()
    results = {"environment": env, "args": vars(args), "command": "python -m benchmarks.bench_zerogpu " +
               " ".join(argv if argv is not None else sys.argv[1:]), "model_build_s": time.perf_counter() - t0}
    if device.type == "cuda":
        results["model_alloc_gib"] = torch.cuda.memory_allocated() / 2**30
    # The prompt: a real patient message cut so that the templated prompt is exactly --prompt-tokens tokens.
    ids = prompt_ids(tokenizer, rows, args.prompt_tokens)
    user_text = tokenizer.decode(ids, skip_special_tokens=False)
    header = "<|start_header_id|>user<|end_header_id|>\n\n"
    user_text = user_text[user_text.index(header) + len(header):user_text.rindex("<|eot_id|>")]
    messages = [{"role": "user", "content": user_text}]
    results["prompt_tokens"] = prompt_inputs(tokenizer, messages)["input_ids"].shape[1]

    # Capture time per call (the benchmark's own probe around the library method).
    capture_s: list[float] = []
    original_capture = serving.StaticDecoder.capture_current

    def timed_capture(self):
        sync()
        c0 = time.perf_counter()
        original_capture(self)
        sync()
        capture_s.append(time.perf_counter() - c0)

    serving.StaticDecoder.capture_current = timed_capture
    per_call = serving.PerCallServingModel(model)

    def streamed(generator, new_tokens: int, seed: int):
        timed = TimedGenerator(generator)
        out = {}
        settings = GenerationSettings(max_new_tokens=new_tokens, seed=seed)  # the app's sampling settings

        def fn(t0):
            timed.t0 = t0
            first_text = None
            for _ in stream_reply(timed, tokenizer, messages, settings):
                if first_text is None:
                    first_text = time.perf_counter() - t0
            out["first_text_s"] = first_text
        out["call_s"] = one_call(fn)
        out["tokens"] = len(timed.last.token_times)
        out["ttft_s"] = timed.last.token_times[0] if timed.last.token_times else None
        out["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        return out

    def raw(generator, new_tokens: int, seed: int):
        settings = GenerationSettings(max_new_tokens=new_tokens, seed=seed)
        eos = eos_token_ids(model, tokenizer)
        out = {}

        def fn(t0):
            inputs = {k: v.to(device) for k, v in prompt_inputs(tokenizer, messages).items()}
            torch.manual_seed(seed)
            config = settings.generation_config(getattr(model, "generation_config", None), eos_token_id=eos,
                                                pad_token_id=_pad_token_id(model, tokenizer, eos))
            with torch.inference_mode():
                result = generator.generate(**inputs, generation_config=config)
            out["tokens"] = result.shape[1] - inputs["input_ids"].shape[1]
        out["call_s"] = one_call(fn)
        return out

    def summary(calls: list[dict]) -> dict:
        res = {"call_s": stats([c["call_s"] for c in calls]), "tokens": [c["tokens"] for c in calls]}
        res["end_to_end_tok_s"] = stats([c["tokens"] / c["call_s"] for c in calls])
        if calls and "ttft_s" in calls[0]:
            res["ttft_ms"] = stats([1e3 * c["ttft_s"] for c in calls if c["ttft_s"] is not None])
            res["first_text_ms"] = stats([1e3 * c["first_text_s"] for c in calls if c["first_text_s"] is not None])
            peaks = [c["peak_alloc_gib"] for c in calls if c.get("peak_alloc_gib") is not None]
            if peaks:
                res["peak_alloc_gib"] = max(peaks)
        return res

    log(f"model built in {results['model_build_s']:.1f} s; prompt {results['prompt_tokens']} tokens")
    first = streamed(per_call, args.new_tokens, seed=0)  # the process's first call: CUDA/cuBLAS start-up
    results["first_call_of_process"] = first
    log(f"first call: {first}")
    capture_s.clear()
    stream_calls, raw_calls = [], []
    for i in range(args.repeats):  # interleaved, same seed per pair: the same tokens
        raw_calls.append(raw(per_call, args.new_tokens, seed=100 + i))
        stream_calls.append(streamed(per_call, args.new_tokens, seed=100 + i))
        log(f"repeat {i}: raw {raw_calls[-1]} stream {stream_calls[-1]}")
    results["per_call_stream"] = summary(stream_calls)
    results["per_call_raw"] = summary(raw_calls)
    results["capture_s"] = stats(capture_s) if capture_s else None
    results["streaming_overhead"] = (results["per_call_stream"]["call_s"]["median"]
                                     / results["per_call_raw"]["call_s"]["median"] - 1)
    # Each pair has the same seed, hence the same tokens, and ran back to back: the median of the pairs' ratios is
    # not moved by drift across the run (one slow raw call moved the ratio of medians by 5 % in an earlier run).
    results["streaming_overhead_paired"] = stats([s["call_s"] / r["call_s"] - 1
                                                  for s, r in zip(stream_calls, raw_calls)])
    results["today_stream"] = summary([streamed(model, args.new_tokens, seed=100 + i)
                                       for i in range(args.today_repeats)])
    log(f"today: {results['today_stream']}")
    results["short"] = []
    for n in [int(x) for x in args.short_tokens.split(",") if x]:
        row = {"new_tokens": n,
               "per_call": summary([streamed(per_call, n, seed=200 + i) for i in range(args.repeats)]),
               "today": summary([streamed(model, n, seed=200 + i) for i in range(args.repeats)])}
        results["short"].append(row)
        log(f"short {n}: per-call {row['per_call']['call_s']} today {row['today']['call_s']}")
    serving.StaticDecoder.capture_current = original_capture

    def fmt(s, scale=1.0, digits=1):
        return f"{s['median'] * scale:.{digits}f} ({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})"

    table = []
    for name, what, res in [
        ("per_call stream_reply", "PerCallServingModel through stream_reply (the app's path)", results["per_call_stream"]),
        ("per_call raw generate", "the same generate, no streamer, main thread", results["per_call_raw"]),
        ("today stream_reply", "model.generate (eager) through stream_reply", results["today_stream"]),
    ] + [(f"short {r['new_tokens']}: {k}", "stream_reply", r[k]) for r in results["short"] for k in ("per_call", "today")]:
        table.append({"row": name, "what": what, "calls": res["call_s"]["n"], "tokens": min(res["tokens"]),
                      "call": fmt(res["call_s"], digits=3), "tok_s": fmt(res["end_to_end_tok_s"]),
                      "ttft": fmt(res["ttft_ms"]) if "ttft_ms" in res else "-",
                      "first_text": fmt(res["first_text_ms"]) if "first_text_ms" in res else "-"})
    gpu = env.get("gpu") or "CPU"
    lines = [
        f"# ZeroGPU path (issue 18): {gpu}", "",
        f"{env['date_utc']} UTC; torch {env['torch']} (CUDA {env.get('cuda')}), transformers {env['transformers']}, "
        f"peft {env['peft']}; driver {env.get('driver')}. Command: `{results['command']}`", "",
        f"bf16 Llama-3-8B shape (random weights) + unmerged LoRA r16 on the 7 projections; a real "
        f"{results['prompt_tokens']}-token prompt; the app's sampling settings (temperature 0.7, top-p 0.9, "
        f"repetition penalty 1.1); every call frees its GPU state and the allocator cache (module doc). Medians of "
        f"the calls, (min-max).", "",
        markdown_table(table, [("row", "row"), ("what", "what"), ("calls", "calls"), ("tokens", "tokens"),
                               ("call", "call s"), ("tok_s", "end-to-end tok/s"), ("ttft", "TTFT ms"),
                               ("first_text", "first text chunk ms")]), "",
        f"- Streaming overhead (stream_reply vs raw generate, per-call path): median of the same-seed pairs "
        f"{fmt(results['streaming_overhead_paired'], 100)} %, ratio of the medians "
        f"{100 * results['streaming_overhead']:+.1f} %",
        f"- Graph capture per call: {fmt(results['capture_s'], 1e3)} ms" if results["capture_s"] else "- no capture",
        f"- First call of the process (CUDA start-up): {first['call_s']:.2f} s, {first['tokens']} tokens",
        "",
    ]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    md = save_markdown_and_json(Path(args.out), f"zerogpu_{args.tag}", lines, results)
    print(md, flush=True)
    return results


if __name__ == "__main__":
    main()
