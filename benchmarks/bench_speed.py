"""Issue 5 speed benchmark: the seed QLoRA recipe vs medchat's recipes and serving paths, side by side, one GPU.

Builds the Meta-Llama-3-8B shape with random weights directly on the GPU (bf16 state dict made on the device, then
`LlamaForCausalLM.from_pretrained(None, state_dict=..., quantization_config=medchat.modeling.quantization_config())`,
so transformers' own bitsandbytes loader quantizes it: NF4 + double quant, bf16 compute, nothing downloaded), then:

* training: each recipe trains a fresh LoRA with TRL's SFTTrainer on the same real rows (HealthCareMagic, Llama 3
  template, assistant-only labels) for `--warmup` + `--steps` optimizer steps; real (non-pad) tokens/s, s/step,
  peak GiB (allocated and reserved), MFU (6 * 7.50e9 matmul params * tokens/s over the card's dense bf16 peak).
  The base model is shared: after each recipe the adapter is unloaded and every non-4-bit weight is restored.
* serving: TTFT for a 500-token prompt, decode tok/s at batch 1 (greedy, 128 new tokens), total tok/s for 4 and 8
  concurrent streams (batched, left padded real prompts), for the seed path (4-bit base + unmerged LoRA, HF
  generate) and medchat's paths (`medchat.serving`: static cache + CUDA graph, merged adapter), plus the overhead
  of the app's streaming (`medchat.generation.stream_reply`) over a raw generate, and the merge's logit drift.

    python -m benchmarks.bench_speed --out $OUT                 # the GPU run (about 6 minutes on an H100)
    python -m benchmarks.bench_speed --tiny --out /tmp/bench    # CPU smoke test of the same code, tiny model
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import math
import statistics
import threading
import time
import traceback
from pathlib import Path

import torch


from benchmarks.common import (  # noqa: E402
    LLAMA3_TOKENIZER, ROOT, SEED_LORA, SEED_RECIPE, environment, save_markdown_and_json, load_rows, make_step_timer, markdown_table,
    prepare_for_training, read_recipe, sft_config, tokenized_dataset,
)

LLAMA3_8B = dict(
    hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336,
    vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192, rms_norm_eps=1e-5, bos_token_id=128000,
    eos_token_id=128001, tie_word_embeddings=False, hidden_act="silu",
)
TINY = dict(LLAMA3_8B, hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=512)
# Dense bf16 peak (vendor datasheet, no sparsity) used for MFU.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def matmul_params(cfg: dict) -> int:
    h, i, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = h * cfg["num_key_value_heads"] // cfg["num_attention_heads"]
    return L * (2 * h * h + 2 * h * kv + 3 * h * i) + h * cfg["vocab_size"]


def peak_tflops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def free_memory() -> None:
    """Drop what the last row left (Python cycles, then the CUDA cache) before the next row measures memory."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def error_text(exc: BaseException) -> str:
    """One failed row is recorded in the table, not fatal to the run."""
    return f"{type(exc).__name__}: {str(exc)[:400]}"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- the model


def build_random_4bit_model(cfg_kwargs: dict, device: torch.device, quantize: bool = True):
    """Random bf16 weights made on the device, quantized by transformers' bitsandbytes loader (medchat's config);
    `quantize=False` keeps them bf16 (the ZeroGPU serving default)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from medchat.modeling import compute_dtype, quantization_config

    dtype = compute_dtype()
    cfg = LlamaConfig(**cfg_kwargs)
    with torch.device("meta"):
        skeleton = LlamaForCausalLM(cfg)
    shapes = {k: v.shape for k, v in skeleton.state_dict().items()}
    del skeleton
    gen = torch.Generator(device=device).manual_seed(0)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("norm.weight"):
            state[key] = torch.ones(shape, dtype=dtype, device=device)
        else:
            state[key] = torch.empty(shape, dtype=dtype, device=device).normal_(0.0, 0.02, generator=gen)
    device_map = {"": device.index or 0} if device.type == "cuda" else "cpu"
    model = LlamaForCausalLM.from_pretrained(None, config=cfg, state_dict=state, dtype=dtype, device_map=device_map,
                                             quantization_config=quantization_config(dtype) if quantize else None)
    del state
    free_memory()
    return model


def float_snapshot(model) -> dict:
    """CPU copies of every parameter that is not 4-bit (embeddings, head, norms): restored after each recipe."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()
            if type(p).__name__ != "Params4bit"}


def restore_base(model, snapshot: dict, liger_saved: dict | None = None) -> None:
    """Undo what a training run left on the shared base model."""
    params = dict(model.named_parameters())
    for name, value in snapshot.items():
        params[name].data = value.to(params[name].device)
        params[name].requires_grad_(False)
    with contextlib.suppress(Exception):
        model.gradient_checkpointing_disable()
    with contextlib.suppress(Exception):
        model.disable_input_require_grads()
    for module in model.modules():  # instance-level forward patches (TRL's fused LM head, Liger)
        module.__dict__.pop("forward", None)
        module._forward_hooks.clear() if module is model.get_input_embeddings() else None
    if liger_saved:
        from transformers.models.llama import modeling_llama

        for key, value in liger_saved.items():
            setattr(modeling_llama, key, value)
    model.config.use_cache = True
    model.eval()


# --------------------------------------------------------------------------- training


def medchat_upcasts() -> bool:
    """Does medchat's loader (for_training, 4-bit) cast norms/embeddings/head to fp32 (prepare_model_for_kbit_training)?
    The YAML rows follow whatever `medchat.modeling` does at the time of the run."""
    import inspect

    from medchat import modeling

    return "prepare_model_for_kbit_training(" in inspect.getsource(modeling.load_model_and_tokenizer)


def train_variants(args, medchat_default: Path, low_memory: Path) -> list[dict]:
    """name, label, lora, sft, upcast (prepare_model_for_kbit_training's fp32 casts), attention, mem cap."""
    upcast = medchat_upcasts()

    def from_yaml(name, path, label, **extra):
        lora, sft = read_recipe(path)
        return {"name": name, "label": f"{label} ({Path(path).resolve().relative_to(ROOT)})",
                "lora": {**SEED_LORA, **{k: v for k, v in lora.items() if k.startswith("lora_")}},
                "sft": sft, "upcast": upcast, **extra}

    # The seed as measured (6.06 GiB peak): TRL's QLoRA path, no fp32 upcast of the non-4-bit weights.
    out = [{"name": "seed", "label": "seed recipe (bs1 GA2 len512, paged AdamW 32-bit, ckpt, no packing)",
            "lora": dict(SEED_LORA), "sft": dict(SEED_RECIPE), "upcast": False}]
    out.append({"name": "seed_upcast", "label": "seed recipe through medchat's loader (fp32 norms/emb/head)",
                "lora": dict(SEED_LORA), "sft": dict(SEED_RECIPE), "upcast": True})
    out.append(from_yaml("default", medchat_default, "medchat default"))
    for extra in args.extra_recipe:
        out.append(from_yaml(Path(extra).stem.replace(".", "_"), extra, "recipe"))
    if low_memory.is_file():
        out.append(from_yaml("low_memory", low_memory, "low_memory, 8 GiB cap", mem_cap_gib=8.0))
    # Levers around the default: packed bfd 512-token bins, bf16 (no fp32 upcast), lora_dropout 0, no ckpt.
    base = dict(SEED_RECIPE, packing=True, packing_strategy="bfd", per_device_train_batch_size=8,
                gradient_accumulation_steps=1, optim="adamw_torch_fused", gradient_checkpointing=False)
    nodrop = dict(SEED_LORA, lora_dropout=0.0)
    levers = [
        ("p8", "packed 8x512, bf16, dropout 0, no ckpt", {}, nodrop, False, None),
        ("p2", "p8 with 2x512 per micro-batch", {"per_device_train_batch_size": 2}, nodrop, False, None),
        ("p4", "p8 with 4x512 per micro-batch", {"per_device_train_batch_size": 4}, nodrop, False, None),
        ("p16", "p8 with 16x512 per micro-batch", {"per_device_train_batch_size": 16}, nodrop, False, None),
        ("p8_ckpt", "p8 + gradient checkpointing", {"gradient_checkpointing": True}, nodrop, False, None),
        ("p8_dropout", "p8 + lora_dropout 0.05", {}, dict(SEED_LORA), False, None),
        ("p8_upcast", "p8 + fp32 norms/emb/head", {}, nodrop, True, None),
        ("p8_liger", "p8 + Liger RMSNorm/SwiGLU/RoPE", {"use_liger_kernel": True}, nodrop, False, None),
        ("p8_varlen", "p8 + varlen flash attention (torch)", {}, nodrop, False, "sdpa_varlen"),
        ("p4_ckpt_ga2", "p4 + ckpt, GA 2 (low-memory shape)", {"per_device_train_batch_size": 4,
                                                              "gradient_checkpointing": True,
                                                              "gradient_accumulation_steps": 2}, nodrop, False, None),
    ]
    for name, label, sft_over, lora, up, attn in levers:
        out.append({"name": name, "label": label, "lora": lora, "sft": {**base, **sft_over}, "upcast": up,
                    "attn": attn})
    wanted = [w for w in (args.train or "").split(",") if w]
    if wanted:
        out = [v for v in out if v["name"] in wanted]
    # Most telling first: later ones are skipped when the call's time budget runs out.
    priority = ["seed", "default", "low_memory", "p4", "p2", "p16", "p8_ckpt", "p8_varlen", "llama3-8b-qlora",
                "p8_dropout", "p8_upcast", "p8_liger", "seed_upcast", "p8", "p4_ckpt_ga2"]
    return sorted(out, key=lambda v: priority.index(v["name"]) if v["name"] in priority else len(priority))


def run_training_variant(v, model, snapshot, tokenizer, train_ds, args, device, cfg) -> dict:
    from trl import SFTTrainer

    from medchat.chat_format import training_chat_template

    liger_saved = None
    if v["sft"].get("use_liger_kernel"):
        from transformers.models.llama import modeling_llama

        liger_saved = {k: getattr(modeling_llama, k) for k in ("apply_rotary_pos_emb", "LlamaRMSNorm", "LlamaMLP")
                       if hasattr(modeling_llama, k)}
    result = {"name": v["name"], "label": v["label"], "lora": v["lora"], "upcast_fp32": v["upcast"],
              "attn": v.get("attn") or "sdpa",
              "sft": {k: val for k, val in v["sft"].items()}}
    cap = v.get("mem_cap_gib")
    total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30 if device.type == "cuda" else None
    warmup = args.warmup if v["name"] != "seed" else max(args.warmup, 3)
    steps = args.steps if v["name"] != "seed" else max(args.steps, 8)
    trainer = peft_model = None
    try:
        free_memory()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            if cap:
                torch.cuda.set_per_process_memory_fraction(min(cap / total_gib, 1.0))
        base_alloc = torch.cuda.memory_allocated() / 2**30 if device.type == "cuda" else None
        if v.get("attn"):
            from medchat.varlen_attention import register

            model.config._attn_implementation = register()
        peft_model = prepare_for_training(model, v["lora"], upcast_to_fp32=v["upcast"])
        tok = copy.deepcopy(tokenizer)
        tok.chat_template = training_chat_template(tok)
        sft_args = sft_config(v["sft"], output_dir=str(Path(args.work) / v["name"]), max_steps=warmup + steps,
                              cuda=device.type == "cuda")
        timer = make_step_timer(warmup)
        t0 = time.perf_counter()
        trainer = SFTTrainer(model=peft_model, args=sft_args, train_dataset=train_ds, processing_class=tok,
                             callbacks=[timer])
        result["setup_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        trainer.train()
        result["train_wall_s"] = round(time.perf_counter() - t0, 2)
        result.update(timer.summary())
        result["final_train_loss"] = next((r["train_loss"] for r in reversed(trainer.state.log_history)
                                           if "train_loss" in r), None)
        if device.type == "cuda":
            result["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / 2**30
            result["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
            result["model_alloc_gib"] = base_alloc
        peak = peak_tflops()
        if peak:
            result["mfu"] = 6 * matmul_params(cfg) * result["tokens_per_s"] / (peak * 1e12)
        if cap:
            result["fits_cap"] = True
    except torch.cuda.OutOfMemoryError as exc:
        result["error"] = f"OOM: {str(exc).splitlines()[0][:200]}"
        result["fits_cap"] = False if cap else None
    except Exception as exc:  # noqa: BLE001 - one failed lever must not lose the rest of the run
        result["error"] = error_text(exc)
        traceback.print_exc()
    finally:
        if trainer is not None:
            trainer.optimizer = None
            trainer.lr_scheduler = None
        del trainer
        if peft_model is not None:
            with contextlib.suppress(Exception):
                peft_model.unload()
        del peft_model
        restore_base(model, snapshot, liger_saved)
        model.config._attn_implementation = "sdpa"
        free_memory()
        if device.type == "cuda" and cap:
            torch.cuda.set_per_process_memory_fraction(1.0)
    log(f"train {v['name']}: " + json.dumps({k: result.get(k) for k in (
        "tokens_per_s", "s_per_step", "tokens_per_step", "peak_alloc_gib", "peak_reserved_gib", "mfu", "error")}))
    return result


# --------------------------------------------------------------------------- serving


def prompt_ids(tokenizer, rows, n_tokens: int) -> list[int]:
    """A real patient prompt in the chat template, cut to exactly `n_tokens` templated tokens."""
    text_ids: list[int] = []
    for row in rows:
        text_ids += tokenizer.encode(f"{row['Description']} {row['Patient']} ", add_special_tokens=False)
        if len(text_ids) > 2 * n_tokens:
            break

    def templated(k):
        msgs = [{"role": "user", "content": tokenizer.decode(text_ids[:k])}]
        out = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])

    lo, hi = 1, len(text_ids)
    while lo < hi:  # largest k whose templated prompt has at most n_tokens
        mid = (lo + hi + 1) // 2
        if len(templated(mid)) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    ids = templated(lo)
    return ids


def left_pad(prompts: list[list[int]], pad_id: int, device):
    """input_ids and attention_mask of token-id lists padded on the left (random-weight runs have no tokenizer)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[row, width - len(p):] = 1
    return ids.to(device), mask.to(device)


def time_generate(gen_model, ids, mask, new_tokens: int, repeats: int = 3) -> float:
    """Median seconds of a greedy generate of exactly `new_tokens` (eos disabled)."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = gen_model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                     min_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                                     pad_token_id=0)
        sync()
        times.append(time.perf_counter() - t0)
        assert out.shape[1] == ids.shape[1] + new_tokens, (out.shape, ids.shape, new_tokens)
    return statistics.median(times)


def serving_metrics(name, label, gen_model, p500, batch_prompts, pad_id, device, args, new_tokens=None,
                    repeats=None, streams=(4, 8)) -> dict:
    res = {"name": name, "label": label}
    args = argparse.Namespace(**{**vars(args), "new_tokens": new_tokens or args.new_tokens,
                                 "repeats": repeats or args.repeats})
    res["new_tokens"] = args.new_tokens
    try:
        ids, mask = left_pad([p500], pad_id, device)
        time_generate(gen_model, ids, mask, 4, repeats=1)  # warm-up
        ttft = time_generate(gen_model, ids, mask, 1, repeats=args.repeats)
        full = time_generate(gen_model, ids, mask, args.new_tokens, repeats=args.repeats)
        res.update(prompt_tokens=len(p500), ttft_ms=ttft * 1e3,
                   decode_tok_s=(args.new_tokens - 1) / max(full - ttft, 1e-9),
                   b1_total_tok_s=args.new_tokens / full)
        for b in streams:
            ids_b, mask_b = left_pad(batch_prompts[:b], pad_id, device)
            time_generate(gen_model, ids_b, mask_b, 2, repeats=1)
            t = time_generate(gen_model, ids_b, mask_b, args.new_tokens, repeats=max(1, args.repeats - 1))
            res[f"streams{b}_tok_s"] = b * args.new_tokens / t
    except Exception as exc:  # noqa: BLE001
        res["error"] = error_text(exc)
        traceback.print_exc()
    log(f"serve {name}: " + json.dumps({k: v for k, v in res.items() if k not in ("label",)}))
    return res


def streaming_overhead(gen_model, tokenizer, rows, device, new_tokens: int, repeats: int = 3) -> dict:
    """App streaming (`stream_reply`, the app's sampling settings) vs a raw generate with the same kwargs/seed, and
    where an overhead comes from: the same generate in a new thread, in a reused thread, and in a new thread with a
    streamer drained by a consumer that does nothing else (stream_reply = this + the app's text cleaning)."""
    from concurrent.futures import ThreadPoolExecutor

    from transformers import TextIteratorStreamer

    from medchat.generation import GenerationSettings, _pad_token_id, eos_token_ids, prompt_inputs, stream_reply

    settings = GenerationSettings(max_new_tokens=new_tokens, seed=1234)
    messages = [{"role": "user", "content": f"{rows[0]['Description']}\n\n{rows[0]['Patient']}"}]
    inputs = {k: v.to(device) for k, v in prompt_inputs(tokenizer, messages).items()}
    eos = eos_token_ids(gen_model, tokenizer)
    kwargs = dict(**inputs, **settings.generate_kwargs(), eos_token_id=eos,
                  pad_token_id=_pad_token_id(gen_model, tokenizer, eos))

    def generate(**extra):
        torch.manual_seed(1234)
        with torch.inference_mode():
            return gen_model.generate(**kwargs, **extra)

    def timed(fn) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    def in_new_thread(streamer=None):
        worker = threading.Thread(target=lambda: generate(**({"streamer": streamer} if streamer else {})))
        worker.start()
        for _ in streamer or ():
            pass
        worker.join()

    raw_t, stream_t, outputs, chunks = [], [], [], []
    for _ in range(repeats + 1):  # the first of each is a warm-up
        raw_t.append(timed(lambda: outputs.append(generate())))
        stream_t.append(timed(lambda: chunks.append(sum(1 for _ in stream_reply(gen_model, tokenizer, messages,
                                                                                  settings)))))
    n_raw = outputs[-1].shape[1] - inputs["input_ids"].shape[1]
    raw, stream = statistics.median(raw_t[1:]), statistics.median(stream_t[1:])
    result = {"new_tokens": n_raw, "raw_s": raw, "stream_s": stream, "overhead": stream / raw - 1,
              "chunks": chunks[-1]}
    result["raw_thread_s"] = statistics.median([timed(in_new_thread) for _ in range(2)])
    with ThreadPoolExecutor(1) as pool:
        result["raw_reused_thread_s"] = [timed(lambda: pool.submit(generate).result()) for _ in range(2)][-1]
    result["thread_streamer_s"] = statistics.median([
        timed(lambda: in_new_thread(TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)))
        for _ in range(2)])
    return result


def attention_micro(device) -> dict:
    """Packed attention cost: one 4096-token row of 8 x 512 documents with SDPA and a block-diagonal mask (what
    transformers does with position_ids and no flash-attn) vs 8 separate causal 512 rows (the floor)."""
    if device.type != "cuda":
        return {}
    q = torch.randn(1, 32, 4096, 128, device=device, dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(1, 32, 4096, 128, device=device, dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(1, 32, 4096, 128, device=device, dtype=torch.bfloat16, requires_grad=True)
    doc = torch.arange(4096, device=device) // 512
    idx = torch.arange(4096, device=device)
    mask = ((doc[:, None] == doc[None, :]) & (idx[:, None] >= idx[None, :]))[None, None]
    F = torch.nn.functional.scaled_dot_product_attention

    def bench(fn, n=10):
        for _ in range(3):
            fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        return (time.perf_counter() - t0) / n * 1e3

    def masked():
        F(q, k, v, attn_mask=mask).sum().backward()

    q8, k8, v8 = (t.detach().view(1, 32, 8, 512, 128).transpose(1, 2).reshape(8, 32, 512, 128).requires_grad_()
                  for t in (q, k, v))

    def causal_docs():
        F(q8, k8, v8, is_causal=True).sum().backward()

    return {"sdpa_blockmask_4096_fwd_bwd_ms_per_layer": bench(masked),
            "sdpa_causal_8x512_fwd_bwd_ms_per_layer": bench(causal_docs)}


def with_synthetic_adapter(model, args, cfg):
    """An adapter like a trained one: LoRA on the 7 projections (r16, alpha 32) with non-zero B, so that merging
    changes the weights (delta rms about `--lora-delta` of the base weights' rms)."""
    from peft import LoraConfig, get_peft_model

    from medchat.modeling import LORA_TARGET_MODULES

    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                  target_modules=LORA_TARGET_MODULES, task_type="CAUSAL_LM"))
    gen = torch.Generator(device="cpu").manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                # delta = 2 * B @ A, A ~ kaiming-uniform (std ~ 1/sqrt(3 fan_in)); target delta std = f * 0.02
                fan_in = p.shape[1]
                a_std = 1 / math.sqrt(3 * cfg["hidden_size"])
                std = args.lora_delta * 0.02 / (2 * math.sqrt(fan_in) * a_std)
                p.copy_(torch.randn(p.shape, generator=gen).to(p.dtype) * std)
    from medchat.modeling import adapter_to_dtype

    adapter_to_dtype(peft_model, next(model.parameters()).dtype)  # as medchat.modeling loads an adapter to serve
    return peft_model.eval()


@torch.inference_mode()
def fast_vs_generate(fast, model, p500, device, new_tokens: int = 32) -> dict:
    """The fast path's greedy tokens and first logits against the model's own generate/forward (GPU numerics:
    bucketed flash prefill and graph replays vs eager kernels)."""
    from medchat.serving import logit_drift

    ids = torch.tensor([p500], device=device)
    mask = torch.ones_like(ids)
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                  pad_token_id=0)
    ref = model.generate(input_ids=ids, attention_mask=mask, **kwargs)[0, len(p500):].tolist()
    got = fast.generate(input_ids=ids, attention_mask=mask, **kwargs)[0, len(p500):].tolist()
    same = next((i for i, (a, b) in enumerate(zip(ref, got)) if a != b), len(ref))
    eager_logits = model(input_ids=ids).logits[:, -1].float()
    graph_logits = fast.decoders[1].prefill(ids, mask).float()
    return {"greedy_tokens_identical_prefix": same, "of": new_tokens,
            "first_logits_vs_eager": logit_drift(eager_logits, graph_logits)}


def run_serving(args, model, tokenizer, rows, device, cfg) -> dict:
    from medchat.serving import FastServingModel, logit_drift, merge_and_requantize

    out = {"paths": []}
    model.eval()
    pad_id = tokenizer.pad_token_id
    p500 = prompt_ids(tokenizer, rows, args.prompt_tokens)
    batch_prompts = []
    for row in rows[1:9]:
        msgs = [{"role": "user", "content": f"{row['Description']}\n\n{row['Patient']}"}]
        enc = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        batch_prompts.append(list(enc["input_ids"]))
    out["batch_prompt_tokens"] = [len(p) for p in batch_prompts]
    peft_model = with_synthetic_adapter(model, args, cfg)
    tokenizer.padding_side = "left"
    peft_model.generation_config.eos_token_id = None  # generate exactly N tokens in the timings

    out["paths"].append(serving_metrics("seed_unmerged_eager", "seed: 4-bit + unmerged LoRA, HF generate",
                                        peft_model, p500, batch_prompts, pad_id, device, args,
                                        new_tokens=args.eager_new_tokens, repeats=2))
    with peft_model.disable_adapter():
        out["paths"].append(serving_metrics("base4_eager", "4-bit base alone, HF generate (reference)",
                                            peft_model, p500, batch_prompts, pad_id, device, args,
                                            new_tokens=args.eager_new_tokens, repeats=2))
    fast = None
    try:
        t0 = time.perf_counter()
        fast = FastServingModel(peft_model, max_cache_len=args.cache_len, batch_sizes=(1, 4, 8))
        out["graph_capture_unmerged_s"] = time.perf_counter() - t0
        out["prefill_graph_buckets"] = sorted(fast.decoders[1].prefill_graphs)
        out["paths"].append(serving_metrics("fast_unmerged_graph", "4-bit + unmerged LoRA, static cache + CUDA graphs "
                                            "(decode; one-row prefill in buckets)", fast, p500, batch_prompts,
                                            pad_id, device, args))
        out["fast_unmerged_vs_generate"] = fast_vs_generate(fast, peft_model, p500, device)
        log(f"fast vs generate: {out['fast_unmerged_vs_generate']}")
    except Exception as exc:  # noqa: BLE001
        out["paths"].append({"name": "fast_unmerged_graph", "error": error_text(exc)})
        traceback.print_exc()
    # streaming overhead on the seed path (HF generate) and on the fast path
    peft_model.generation_config.eos_token_id = [tokenizer.eos_token_id]
    try:
        out["streaming_seed"] = streaming_overhead(peft_model, tokenizer, rows, device, args.eager_new_tokens,
                                                   repeats=1)
        log(f"streaming seed path: {out['streaming_seed']}")
        if fast is not None:
            out["streaming_fast_unmerged"] = streaming_overhead(fast, tokenizer, rows, device, args.stream_tokens)
            log(f"streaming fast unmerged: {out['streaming_fast_unmerged']}")
    except Exception as exc:  # noqa: BLE001
        out["streaming_error"] = error_text(exc)
        traceback.print_exc()
    peft_model.generation_config.eos_token_id = None
    del fast
    gc.collect()
    # merge, then drift
    ids500 = torch.tensor([p500], device=device)
    with torch.inference_mode():
        ref = peft_model(input_ids=ids500).logits[0].float()
        with peft_model.disable_adapter():
            base_logits = peft_model(input_ids=ids500).logits[0].float()
    sync()
    t0 = time.perf_counter()
    merged = merge_and_requantize(peft_model)
    sync()
    out["merge_s"] = time.perf_counter() - t0
    merged.eval()
    with torch.inference_mode():
        got = merged(input_ids=ids500).logits[0].float()
    out["merge_drift_vs_unmerged"] = logit_drift(ref, got)
    out["adapter_effect_vs_base"] = logit_drift(ref, base_logits)
    del ref, base_logits, got
    log(f"merge {out['merge_s']:.1f}s drift {out['merge_drift_vs_unmerged']} adapter effect "
        f"{out['adapter_effect_vs_base']}")
    merged.generation_config.eos_token_id = None
    out["paths"].append(serving_metrics("merged_eager", "merged + requantized 4-bit, HF generate (ZeroGPU path)",
                                        merged, p500, batch_prompts, pad_id, device, args,
                                        new_tokens=args.eager_new_tokens, repeats=2))
    try:
        t0 = time.perf_counter()
        fast = FastServingModel(merged, max_cache_len=args.cache_len, batch_sizes=(1, 4, 8))
        out["graph_capture_merged_s"] = time.perf_counter() - t0
        out["paths"].append(serving_metrics("fast_merged_graph", "merged 4-bit, static cache + CUDA graph",
                                            fast, p500, batch_prompts, pad_id, device, args))
        merged.generation_config.eos_token_id = [tokenizer.eos_token_id]
        out["streaming_fast_merged"] = streaming_overhead(fast, tokenizer, rows, device, args.stream_tokens)
        log(f"streaming fast merged: {out['streaming_fast_merged']}")
    except Exception as exc:  # noqa: BLE001
        out["paths"].append({"name": "fast_merged_graph", "error": error_text(exc)})
        traceback.print_exc()
    fast = merged = peft_model = None  # free the 4-bit serving state before the bf16 model
    gc.collect()
    if not args.skip_bf16:
        out.update(run_serving_bf16(args, tokenizer, rows, device, cfg, p500, batch_prompts, pad_id, out["paths"]))
    return out


def run_serving_bf16(args, tokenizer, rows, device, cfg, p500, batch_prompts, pad_id, paths) -> dict:
    """The ZeroGPU path: bf16 base + unmerged LoRA with `model.generate` (no torch.compile; the GPU is attached per
    call, so nothing captured survives between calls), and what a static cache + CUDA graphs built inside one call
    would give and cost."""
    from medchat.serving import FastServingModel

    out = {}
    try:
        model = build_random_4bit_model(cfg, device, quantize=False)
        peft_model = with_synthetic_adapter(model, args, cfg)
        peft_model.generation_config.eos_token_id = None
        paths.append(serving_metrics("zerogpu_bf16_eager", "ZeroGPU path: bf16 base + unmerged LoRA, HF generate",
                                     peft_model, p500, batch_prompts, pad_id, device, args,
                                     new_tokens=args.eager_new_tokens, repeats=2))
        peft_model.generation_config.eos_token_id = [tokenizer.eos_token_id]
        out["streaming_zerogpu_bf16"] = streaming_overhead(peft_model, tokenizer, rows, device, args.eager_new_tokens,
                                                           repeats=1)
        log(f"streaming zerogpu bf16: {out['streaming_zerogpu_bf16']}")
        peft_model.generation_config.eos_token_id = None
        sync()
        t0 = time.perf_counter()
        fast = FastServingModel(peft_model, max_cache_len=args.cache_len, batch_sizes=(1,), capture_prefill=False)
        fast.decoders[1].capture_prefill((fast.decoders[1].bucket_for(len(p500)),))
        sync()
        out["graph_capture_bf16_one_call_s"] = time.perf_counter() - t0
        paths.append(serving_metrics("bf16_graph", "bf16 base + unmerged LoRA, static cache + CUDA graphs (captured "
                                     "per call on ZeroGPU: see capture s)", fast, p500, batch_prompts, pad_id,
                                     device, args, streams=()))
        del fast, peft_model, model
    except Exception as exc:  # noqa: BLE001
        out["bf16_error"] = error_text(exc)
        traceback.print_exc()
    free_memory()
    return out


# --------------------------------------------------------------------------- report


def write_report(results: dict, out_dir: Path, tag: str) -> str:
    env = results["environment"]
    train = results.get("training", [])
    seed_tps = next((r.get("tokens_per_s") for r in train if r["name"] == "seed"), None)
    for r in train:
        if seed_tps and r.get("tokens_per_s"):
            r["speedup"] = r["tokens_per_s"] / seed_tps
    serve = results.get("serving", {}).get("paths", [])
    seed_dec = next((p.get("decode_tok_s") for p in serve if p["name"] == "seed_unmerged_eager"), None)
    for p in serve:
        if seed_dec and p.get("decode_tok_s"):
            p["decode_speedup"] = p["decode_tok_s"] / seed_dec
    gpu = env.get("gpu") or "CPU"
    lines = [
        f"# Speed benchmark (issue 5): {gpu}", "",
        f"{env['date_utc']} UTC; torch {env['torch']} (CUDA {env.get('cuda')}), transformers {env['transformers']}, "
        f"peft {env['peft']}, trl {env['trl']}, bitsandbytes {env['bitsandbytes']}, liger-kernel "
        f"{env.get('liger_kernel')}; driver {env.get('driver')}.", "",
        f"Model: Llama-3-8B shape, random weights, NF4 + double quant, bf16 compute (built in "
        f"{results.get('model_build_s', 0):.0f} s on the GPU). Data: {results.get('rows')} real HealthCareMagic "
        f"conversations in the Llama 3 template (mean {results.get('mean_tokens', 0):.0f} tokens), assistant-only "
        f"labels. MFU = 6 x {results.get('matmul_params', 0) / 1e9:.2f}e9 x tokens/s / dense bf16 peak.", "",
        "## Training (TRL SFTTrainer, LoRA r16/alpha32 on the 7 projections)", "",
        markdown_table(train, [("name", "recipe"), ("label", "what"), ("tokens_per_s", "real tok/s"),
                               ("speedup", "x seed"), ("s_per_step", "s/step"), ("tokens_per_step", "tok/step"),
                               ("peak_alloc_gib", "peak GiB (alloc)"), ("peak_reserved_gib", "peak GiB (reserved)"),
                               ("mfu", "MFU"), ("error", "error")]), "",
        f"## Serving (batch 1 decode: greedy, {results.get('args', {}).get('new_tokens')} new tokens after the "
        f"{results.get('serving', {}).get('prompt_tokens', 500)}-token prompt)", "",
        markdown_table(serve, [("name", "path"), ("label", "what"), ("ttft_ms", "TTFT ms (500 tok)"),
                               ("decode_tok_s", "decode tok/s (b1)"), ("decode_speedup", "x seed"),
                               ("streams4_tok_s", "total tok/s, 4 streams"),
                               ("streams8_tok_s", "total tok/s, 8 streams"), ("error", "error")]), "",
    ]
    s = results.get("serving", {})
    for key in ("streaming_seed", "streaming_fast_unmerged", "streaming_fast_merged", "streaming_zerogpu_bf16"):
        if key in s:
            v = s[key]
            lines.append(f"- App streaming overhead ({key}): {100 * v['overhead']:+.1f} % "
                         f"(stream_reply {v['stream_s']:.3f} s vs raw generate {v['raw_s']:.3f} s, "
                         f"{v['new_tokens']} tokens, app sampling settings; the same generate in a thread "
                         f"{v.get('raw_thread_s', float('nan')):.3f} s (a reused one {v.get('raw_reused_thread_s', float('nan')):.3f} s), "
                         f"in a new thread with a drained streamer "
                         f"{v.get('thread_streamer_s', float('nan')):.3f} s)")
    if "fast_unmerged_vs_generate" in s:
        c = s["fast_unmerged_vs_generate"]
        lines.append(f"- Fast path vs `model.generate` on the GPU (4-bit + LoRA, greedy, 500-token prompt): first "
                     f"{c['greedy_tokens_identical_prefix']} of {c['of']} tokens identical; first-token logits vs an "
                     f"eager forward: rel L2 {c['first_logits_vs_eager']['rel_l2']:.2e}, top-1 agreement "
                     f"{c['first_logits_vs_eager']['top1_agree']:.0f}")
    captures = {k: round(v, 2) for k, v in s.items() if k.startswith("graph_capture")}
    if captures:
        lines.append(f"- Graph capture seconds: {captures}; one-row prefill buckets: {s.get('prefill_graph_buckets')}")
    if "merge_drift_vs_unmerged" in s:
        d, e = s["merge_drift_vs_unmerged"], s["adapter_effect_vs_base"]
        lines.append(f"- Merge + requantize took {s['merge_s']:.1f} s; logit drift vs unmerged: rel L2 "
                     f"{d['rel_l2']:.4f}, KL {d['kl_mean']:.2e}, top-1 agreement {d['top1_agree']:.3f}; the "
                     f"adapter's own effect (base vs unmerged): rel L2 {e['rel_l2']:.4f}, KL {e['kl_mean']:.2e} "
                     f"(random weights and a synthetic adapter: see the SmolLM2 merge check for a trained one)")
    if results.get("skipped"):
        lines.append(f"- Not run (time budget of the call): {', '.join(results['skipped'])}")
    if results.get("attention_micro"):
        lines.append(f"- Packed attention micro-benchmark (per layer, fwd+bwd): {results['attention_micro']}")
    lines.append("")
    return save_markdown_and_json(out_dir, f"speed_{tag}", lines, results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny Llama-3-shaped model (CPU smoke test)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--work", default="/tmp/medchat-bench")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--train", default="", help="comma list of training variants (default: all)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--default-recipe", default=str(ROOT / "train/configs/llama3-8b-qlora.yaml"))
    parser.add_argument("--extra-recipe", action="append", default=[], help="another recipe YAML to time")
    parser.add_argument("--low-memory-recipe", default=str(ROOT / "train/configs/llama3-8b-qlora-8gb.yaml"))
    parser.add_argument("--prompt-tokens", type=int, default=500)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--stream-tokens", type=int, default=128)
    parser.add_argument("--eager-new-tokens", type=int, default=64, help="new tokens for the slow eager paths")
    parser.add_argument("--train-first", default="seed,default,low_memory",
                        help="training variants run before serving; the others run after it, while time is left")
    parser.add_argument("--time-budget", type=float, default=1e9, help="seconds; later variants are skipped")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-len", type=int, default=4096, help="static cache length (the app's context)")
    parser.add_argument("--skip-bf16", action="store_true", help="skip the bf16 (ZeroGPU) serving rows")
    parser.add_argument("--lora-delta", type=float, default=0.02, help="synthetic adapter: delta rms / weight rms")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from medchat.chat_format import prepare_tokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = TINY if args.tiny else LLAMA3_8B
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    tag = args.tag or ("tiny-cpu" if args.tiny else (env.get("gpu") or "cpu").split()[-1].lower())
    results = {"environment": env, "args": vars(args), "matmul_params": matmul_params(cfg), "config": cfg}
    log(f"environment: {env}")

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA3_TOKENIZER))
    prepare_tokenizer(tokenizer)
    rows = load_rows(limit=args.rows)
    train_ds = tokenized_dataset(tokenizer, rows)
    lengths = [len(x) for x in train_ds["input_ids"]]
    results.update(rows=len(rows), mean_tokens=sum(lengths) / len(lengths))
    log(f"{len(rows)} rows, mean {results['mean_tokens']:.1f} tokens")

    t0 = time.perf_counter()
    model = build_random_4bit_model(cfg, device)
    prepare_tokenizer(tokenizer, model)
    sync()
    results["model_build_s"] = time.perf_counter() - t0
    if device.type == "cuda":
        results["model_alloc_gib"] = torch.cuda.memory_allocated() / 2**30
    log(f"model built in {results['model_build_s']:.1f} s, {results.get('model_alloc_gib')} GiB")
    snapshot = float_snapshot(model)

    started = time.perf_counter() - results["model_build_s"]
    variants = [] if args.skip_train else train_variants(args, Path(args.default_recipe), Path(args.low_memory_recipe))
    first = [w for w in args.train_first.split(",") if w]
    early = [v for v in variants if v["name"] in first]
    late = [v for v in variants if v["name"] not in first]
    results["training"] = []
    results["skipped"] = []

    def train(vs):
        for v in vs:
            if time.perf_counter() - started > args.time_budget:
                results["skipped"].append(v["name"])
                log(f"skipping {v['name']}: time budget")
                continue
            results["training"].append(run_training_variant(v, model, snapshot, tokenizer, train_ds, args, device,
                                                            cfg))
            write_report(results, out_dir, tag)

    train(early)
    if not args.skip_serve:
        try:
            results["serving"] = run_serving(args, model, tokenizer, rows, device, cfg)
            results["serving"]["prompt_tokens"] = args.prompt_tokens
        except Exception as exc:  # noqa: BLE001
            results["serving_error"] = error_text(exc)
            traceback.print_exc()
        free_memory()
        restore_base(model, snapshot)
        write_report(results, out_dir, tag)
    if not args.skip_train and time.perf_counter() - started < args.time_budget:
        results["attention_micro"] = attention_micro(device)
    train(late)
    results["total_s"] = time.perf_counter() - started
    md = write_report(results, out_dir, tag)
    print(md, flush=True)
    return results


if __name__ == "__main__":
    main()
