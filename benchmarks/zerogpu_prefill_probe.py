"""Issue 18 probe: where the ZeroGPU path's first token goes. One emulated call's pieces timed with CUDA syncs (prompt
template, decoder set-up, the prefill variants: masked into the static cache, causal, warm allocator, adapter off,
`generate` of one token, a peft-free LoRA forward) and a torch.profiler summary of one prefill (launches, GPU time).
The benchmark's synthetic adapter is served as the app serves one (`medchat.modeling.adapter_to_dtype`); the
session-6 result `results/h200_2026-12-01_s6/ttft_probe_before.json` was taken before that, with peft's fp32 adapter.

    python -m benchmarks.zerogpu_prefill_probe          # H200: about 1 minute; writes $OUT/ttft_probe.json
    python -m benchmarks.zerogpu_prefill_probe --tiny   # CPU
"""
import gc
import json
import os
import statistics
import sys
import time
import types

import torch
import torch.nn.functional as F
from benchmarks.bench_speed import LLAMA3_8B, TINY, build_random_4bit_model, prompt_ids, with_synthetic_adapter
from benchmarks.common import llama3_tokenizer_path, load_rows
from transformers import AutoTokenizer
from medchat import serving
from medchat.chat_format import prepare_tokenizer
from medchat.generation import prompt_inputs

tiny = "--tiny" in sys.argv
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
cfg = TINY if tiny else LLAMA3_8B
tok = AutoTokenizer.from_pretrained(llama3_tokenizer_path()); prepare_tokenizer(tok)
rows = load_rows(None, limit=50)
args = types.SimpleNamespace(lora_delta=0.02)
model = with_synthetic_adapter(build_random_4bit_model(cfg, dev, quantize=False), args, cfg)
prepare_tokenizer(tok, model)
ids = prompt_ids(tok, rows, 500)
text = tok.decode(ids, skip_special_tokens=False)
h = "<|start_header_id|>user<|end_header_id|>\n\n"
text = text[text.index(h) + len(h):text.rindex("<|eot_id|>")]
messages = [{"role": "user", "content": text}]
def sync():
    if dev.type == "cuda": torch.cuda.synchronize()
def fresh():
    gc.collect()
    if dev.type == "cuda": torch.cuda.empty_cache()
    sync()
R = {}
def timed(name, fn, n=7, clear=True):
    vals = []
    for _ in range(n):
        if clear: fresh()
        else: sync()
        t0 = time.perf_counter(); fn(); sync(); vals.append(1e3 * (time.perf_counter() - t0))
    R[name] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    print(f"{name:40s} {R[name]['median']:8.1f} ms ({R[name]['min']:.1f}-{R[name]['max']:.1f})", flush=True)
inp = prompt_inputs(tok, messages)
input_ids = inp["input_ids"].to(dev)
T = input_ids.shape[1]; print("prompt tokens", T)
L = -(-(T + 257) // 256) * 256
with torch.inference_mode():
    for _ in range(3): model(input_ids=input_ids, use_cache=True, logits_to_keep=1)  # warm process
    timed("tokenize (prompt_inputs)", lambda: prompt_inputs(tok, messages), clear=False)
    timed("StaticDecoder()", lambda: serving.StaticDecoder(model, 1, L, None, bucketed_prefill=False))
    def masked():
        d = serving.StaticDecoder(model, 1, L, None, bucketed_prefill=False); d.prefill(input_ids, None)
    timed("prefill masked->static (current)", masked)
    timed("prefill masked->static, warm allocator", masked, clear=False)
    def causal():
        model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
    timed("prefill causal dynamic cache", causal)
    def causal_copy():
        d = serving.StaticDecoder(model, 1, L, None, bucketed_prefill=False)
        return d, model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
    timed("prefill causal + StaticDecoder()", causal_copy)
    def nolora():
        with model.disable_adapter():
            d = serving.StaticDecoder(model, 1, L, None, bucketed_prefill=False); d.prefill(input_ids, None)
    timed("prefill masked, adapter disabled", nolora)
    timed("prefill masked (again)", masked)
    def gen1():
        model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=1, do_sample=False)
    timed("model.generate(max_new_tokens=1)", gen1)
    # profile current masked prefill
    try:
        from torch.profiler import profile, ProfilerActivity
        fresh()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            masked(); sync()
        ka = prof.key_averages()
        launches = sum(e.count for e in ka if e.key in ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx"))
        gpu_us = sum(getattr(e, "self_device_time_total", 0) for e in ka)
        R["profile"] = {"launches": launches, "gpu_kernel_ms": gpu_us / 1e3}
        print("profile", R["profile"], flush=True)
        print(ka.table(sort_by="self_cpu_time_total", row_limit=25), flush=True)
    except Exception as e:
        print("profile failed", repr(e))
    # lean LoRA forward: same math, no peft bookkeeping
    import peft.tuners.lora.layer as LL
    saved = {}
    for name, m in model.named_modules():
        if isinstance(m, LL.Linear):
            a, b, s, base = m.lora_A["default"], m.lora_B["default"], m.scaling["default"], m.base_layer
            def fwd(x, *args_, _a=a.weight, _b=b.weight, _s=s, _base=base.weight, **kw):
                return F.linear(x, _base) + (F.linear(F.linear(x.to(_a.dtype), _a), _b) * _s).to(x.dtype)
            saved[name] = m.forward; m.forward = fwd
    print("lora dtype", a.weight.dtype, "base", base.weight.dtype)
    timed("prefill masked, lean LoRA forward", masked)
    timed("prefill causal, lean LoRA forward", causal)
    # one decode step eager, lean
    for name, m in model.named_modules():
        if name in saved: m.forward = saved[name]
out = os.environ.get("OUT", "/tmp")
json.dump(R, open(os.path.join(out, "ttft_probe.json"), "w"), indent=1)
