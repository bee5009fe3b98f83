"""Fast serving of a 4-bit base with a LoRA adapter.

Two measured levers (see `benchmarks/README.md` for the numbers):

* `merge_and_requantize(model)`: fold the LoRA adapter into the NF4 base, on the GPU: dequantize each 4-bit weight,
  add the adapter's delta, quantize again with the same settings (block size, double quant, NF4). The result is a
  plain 4-bit model with no adapter modules (fewer kernels per token). Re-quantizing rounds part of the adapter's
  delta away: `logit_drift` measures how much, and callers should check it before serving a merged model.
* `FastServingModel(model)`: decoding with a static KV cache whose single-token step is captured once as a CUDA graph
  and replayed for every new token (no Python or kernel-launch cost per layer). A one-row prompt is prefilled as a
  CUDA graph too: right padded to the next of a few bucket lengths (causal attention keeps the padding out of the
  real tokens), run with plain causal attention over the prompt alone, its keys and values copied into the static
  cache. Eager, the launch overhead of an 8B 4-bit model with an unmerged adapter is most of the time to first
  token; the graph removes it. It exposes the
  subset of `model.generate` that `medchat.generation` uses (streamer, stopping criteria, eos ids, sampling with
  temperature / top-p / top-k / repetition penalty), so `stream_reply(FastServingModel(model), ...)` works
  unchanged; anything else falls back to `model.generate`. Without CUDA (or with `cuda_graphs=False`) the same
  static-cache loop runs eagerly.
* `PerCallServingModel(model)`: the ZeroGPU path, where nothing may stay on the GPU between `@spaces.GPU` calls: each
  `generate` builds its decoder inside the call, records one decode graph after two eager steps and frees it all.
  `serving_generator` picks the path for the hardware (what `app.py` hands to `stream_reply`).

Both work on a plain `transformers` causal LM or a `peft` model around one (adapter unmerged).
"""

from __future__ import annotations

import inspect
import logging
import threading

import torch

from medchat.generation import model_device

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- merge the adapter into the 4-bit base


@torch.no_grad()
def merge_and_requantize(model, adapter_name: str | None = None):
    """Merge the (active) LoRA adapter of a peft model over a bitsandbytes 4-bit base into the base weights and
    return the base model (adapter modules removed). Works on the weights' own device (peft's own 4-bit merge
    round-trips every weight through the CPU). Non-4-bit LoRA layers are merged by peft as usual."""
    import bitsandbytes as bnb
    import bitsandbytes.functional as bnbf
    from peft.tuners.lora import LoraLayer

    for module in model.modules():
        if not isinstance(module, LoraLayer):
            continue
        base = module.get_base_layer()
        names = [adapter_name] if adapter_name else list(module.active_adapters)
        names = [n for n in names if n in module.lora_A]
        if not names:
            continue
        if not isinstance(base, bnb.nn.Linear4bit):
            module.merge(adapter_names=names)
            continue
        weight = base.weight
        state = weight.quant_state
        if getattr(state, "packing_format_for_cpu", False):  # bitsandbytes repacks 4-bit weights for CPU inference
            weight.data, weight.quant_state = bnbf._convert_weight_packed_for_cpu_inverse(weight.data, state)
            state = weight.quant_state
        merged = bnbf.dequantize_4bit(weight.data, state).to(torch.float32)
        for name in names:
            merged += module.get_delta_weight(name).to(torch.float32)
        merged = merged.to(state.dtype)
        packed, new_state = bnbf.quantize_4bit(
            merged,
            blocksize=state.blocksize,
            compress_statistics=state.nested,
            quant_type=state.quant_type,
            quant_storage=weight.quant_storage,
        )
        base.weight = bnb.nn.Params4bit(
            data=packed,
            requires_grad=False,
            quant_state=new_state,
            blocksize=state.blocksize,
            compress_statistics=state.nested,
            quant_type=state.quant_type,
            quant_storage=weight.quant_storage,
            module=base,
            bnb_quantized=True,
        )
        del merged
    return model.unload() if hasattr(model, "unload") else model


@torch.no_grad()
def logit_drift(reference_logits: torch.Tensor, other_logits: torch.Tensor) -> dict[str, float]:
    """How far `other` is from `reference` (same inputs): relative L2 of the logits, mean KL(ref || other) of the
    next-token distributions, max |Δlogit| and top-1 agreement."""
    ref = reference_logits.float().flatten(0, -2)
    oth = other_logits.float().flatten(0, -2)
    log_p = torch.log_softmax(ref, -1)
    log_q = torch.log_softmax(oth, -1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return {
        "rel_l2": float((ref - oth).norm() / ref.norm().clamp(min=1e-12)),
        "kl_mean": float(kl.mean()),
        "max_abs": float((ref - oth).abs().max()),
        "top1_agree": float((ref.argmax(-1) == oth.argmax(-1)).float().mean()),
    }


# --------------------------------------------------------------------------- static cache + CUDA-graph decoding


def _cache_kwarg(model) -> str:
    """transformers renamed `past_key_values` to `cache` in the model forward (5.2x); use whichever it takes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


# Prompt lengths a one-row prefill is padded up to (at most 1.5x the work; one CUDA graph each, captured on first use
# or all at once with `capture_prefill`). Longer prompts are prefilled eagerly.
PREFILL_BUCKETS = (32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)


def _returned_cache(output):
    """The cache a forward returned (`cache` in transformers >= 5.2x, `past_key_values` before)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


class StaticDecoder:
    """Prefill + one-token decode steps over a `StaticCache` for a fixed batch size, with the decode step replayed
    as a CUDA graph when `cuda_graph` is on. Rows are left padded; every row shares the cache slot and carries its
    own position. Masks are built here as 4-D boolean tensors, so no mask code of transformers runs in the step."""

    def __init__(self, model, batch_size: int = 1, max_cache_len: int = 2048, cuda_graph: bool | None = None,
                 bucketed_prefill: bool = True):
        from transformers import StaticCache

        self.model = model
        self.config = model.config
        self.batch_size = int(batch_size)
        self.max_cache_len = int(max_cache_len)
        self.device = model_device(model)
        self.cuda_graph = (self.device.type == "cuda") if cuda_graph is None else bool(cuda_graph)
        self.cache_kw = _cache_kwarg(model)
        self.cache = StaticCache(config=self.config, max_cache_len=self.max_cache_len)
        b, length, dev = self.batch_size, self.max_cache_len, self.device
        with torch.inference_mode():
            self.tok = torch.zeros((b, 1), dtype=torch.long, device=dev)
            self.pos = torch.zeros((b, 1), dtype=torch.long, device=dev)
            self.cur = torch.zeros((1, 1), dtype=torch.long, device=dev)
            self.valid = torch.zeros((b, length), dtype=torch.bool, device=dev)
            self.logits = None
        self.graph = None
        self.length = 0  # tokens in the cache (host copy of `cur`)
        # One-row bucketed prefill: static inputs per bucket, the real length and last index, graphs in one pool.
        # Off for a decoder that lives for one request (ZeroGPU): the prompt goes straight into the static cache, one
        # eager forward, with no warm-up forward to allocate the cache and no graph to record for a single use.
        self.buckets = (tuple(T for T in PREFILL_BUCKETS if T < self.max_cache_len)
                        if self.batch_size == 1 and bucketed_prefill else ())
        self.prefill_inputs: dict[int, torch.Tensor] = {}
        self.prefill_logits: dict[int, torch.Tensor] = {}
        self.prefill_graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._prefill_pool = None
        with torch.inference_mode():
            self.prompt_len = torch.zeros((), dtype=torch.long, device=dev)
            self.last_index = torch.zeros((1,), dtype=torch.long, device=dev)

    # -- the pieces (every state change in inference mode: the cache and buffers are inference tensors)
    @torch.inference_mode()
    def reset(self) -> None:
        self.cache.reset()
        self.valid.zero_()
        self.cur.zero_()
        self.pos.zero_()
        self.length = 0

    def bucket_for(self, t: int) -> int | None:
        return next((T for T in self.buckets if T >= t), None)

    @torch.inference_mode()
    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the prompt (left padded, [batch, T]) and return the last position's logits [batch, vocab]."""
        b, t = input_ids.shape
        if b != self.batch_size:
            raise ValueError(f"batch {b} != decoder batch {self.batch_size}")
        if t >= self.max_cache_len:
            raise ValueError(f"prompt of {t} tokens does not fit a cache of {self.max_cache_len}")
        bucket = self.bucket_for(t)
        if bucket is not None and (attention_mask is None or bool(attention_mask.all())):
            return self._prefill_bucketed(input_ids, t, bucket)
        return self._prefill_masked(input_ids, attention_mask)

    @torch.inference_mode()
    def ensure_cache(self) -> None:
        """The static cache allocates its tensors on its first update; the bucketed prefill copies into them."""
        if not all(getattr(layer, "is_initialized", False) for layer in self.cache.layers):
            with torch.inference_mode():
                self._prefill_masked(torch.zeros((self.batch_size, 1), dtype=torch.long, device=self.device), None)

    def _prefill_bucketed(self, input_ids: torch.Tensor, t: int, bucket: int) -> torch.Tensor:
        self.ensure_cache()
        self.reset()
        if bucket not in self.prefill_inputs:
            self.prefill_inputs[bucket] = torch.zeros((1, bucket), dtype=torch.long, device=self.device)
        inputs = self.prefill_inputs[bucket]
        inputs.zero_()  # the padding after the prompt: any token, causal attention keeps it out of the prompt
        inputs[:, :t].copy_(input_ids.to(self.device))
        self.prompt_len.fill_(t)
        self.last_index.fill_(t - 1)
        if self.cuda_graph:
            self.capture_prefill((bucket,))
            self.prefill_graphs[bucket].replay()
            logits = self.prefill_logits[bucket]
        else:
            logits = self._prefill_bucket_step(bucket)
        self.valid[:, :t] = True
        self.cur.fill_(t)
        self.pos.fill_(t)
        self.length = t
        return logits[:, -1, :]

    def _prefill_bucket_step(self, bucket: int) -> torch.Tensor:
        """The prompt alone with plain causal attention (a fresh dynamic cache: no mask, flash kernels), its keys
        and values copied into the static cache, whose length is set to the real prompt length so the first decode
        step overwrites the padding. Only tensor ops with fixed shapes: this is what the prefill graph records."""
        out = self.model(input_ids=self.prefill_inputs[bucket], use_cache=True, logits_to_keep=self.last_index)
        for src, dst in zip(_returned_cache(out).layers, self.cache.layers):
            dst.keys[:, :, :bucket].copy_(src.keys)
            dst.values[:, :, :bucket].copy_(src.values)
            dst.cumulative_length.copy_(self.prompt_len)
        return out.logits

    @torch.inference_mode()
    def capture_prefill(self, buckets=None) -> None:
        """Record the bucketed prefill of these lengths (default: all) as CUDA graphs sharing one memory pool (they
        never run at the same time)."""
        if not self.cuda_graph:
            return
        todo = [T for T in (self.buckets if buckets is None else buckets) if T not in self.prefill_graphs]
        if not todo:
            return
        self.ensure_cache()
        if self._prefill_pool is None:
            self._prefill_pool = torch.cuda.graph_pool_handle()
        with torch.inference_mode():
            for bucket in todo:
                self.prefill_inputs.setdefault(bucket, torch.zeros((1, bucket), dtype=torch.long, device=self.device))
                self.prompt_len.fill_(1)
                self.last_index.zero_()
                stream = torch.cuda.Stream(self.device)
                stream.wait_stream(torch.cuda.current_stream(self.device))
                with torch.cuda.stream(stream):
                    self._prefill_bucket_step(bucket)  # warm-up: kernel selection, lazy allocations
                torch.cuda.current_stream(self.device).wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=self._prefill_pool):
                    self.prefill_logits[bucket] = self._prefill_bucket_step(bucket)
                self.prefill_graphs[bucket] = graph
        self.reset()

    def _prefill_masked(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Left-padded rows (or a prompt longer than every bucket) straight into the static cache, eagerly."""
        b, t = input_ids.shape
        self.reset()
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.to(self.device).bool()
        self.valid[:, :t] = attention_mask
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        idx = torch.arange(t, device=self.device)
        mask = torch.zeros((b, 1, t, self.max_cache_len), dtype=torch.bool, device=self.device)
        mask[:, :, :, :t] = (idx[:, None] >= idx[None, :])[None, None] & attention_mask[:, None, None, :]
        # A padding query attends to itself only: a row with no key at all would give NaN and poison the cache.
        mask[:, :, idx, idx] = True
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: self.cache},
        )
        self.cur.fill_(t)
        self.pos.copy_(position_ids[:, -1:] + 1)
        self.length = t
        return out.logits[:, -1, :]

    def _step(self) -> torch.Tensor:
        self.valid.scatter_(1, self.cur.expand(self.batch_size, 1), True)
        out = self.model(
            input_ids=self.tok,
            attention_mask=self.valid[:, None, None, :],
            position_ids=self.pos,
            use_cache=True,
            **{self.cache_kw: self.cache},
        )
        self.pos.add_(1)
        self.cur.add_(1)
        return out.logits[:, -1, :]

    @torch.inference_mode()
    def capture(self) -> None:
        """Record the decode step as a CUDA graph (after a warm-up on a dummy prompt); state is reset after."""
        if not self.cuda_graph or self.graph is not None:
            return
        with torch.inference_mode():
            self._prefill_masked(torch.zeros((self.batch_size, 4), dtype=torch.long, device=self.device), None)
            stream = torch.cuda.Stream(self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self._step()
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.logits = self._step()
            self.graph = graph
            self.reset()

    @torch.inference_mode()
    def capture_current(self) -> None:
        """Record the decode step as a CUDA graph from the current state, after eager decode steps of this request
        served as the warm-up: a capture only records (nothing runs, the state is unchanged), the next `decode`
        replays it. No dummy prompt, no extra steps: what a decoder built inside one ZeroGPU call needs."""
        if not self.cuda_graph or self.graph is not None:
            return
        graph = torch.cuda.CUDAGraph()
        # thread_local: the capture runs on the app's generation thread; other threads' CUDA calls must not void it
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.logits = self._step()
        self.graph = graph

    @torch.inference_mode()
    def decode(self, next_tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row and return the next logits [batch, vocab] (a static buffer under CUDA graphs:
        read or copy it before the next call)."""
        if self.length + 1 > self.max_cache_len:
            raise ValueError("the static cache is full")
        self.tok.copy_(next_tokens.view(self.batch_size, 1))
        self.length += 1
        if self.graph is not None:
            self.graph.replay()
            return self.logits
        return self._step()


def _logits_processors(repetition_penalty, temperature, top_k, top_p, do_sample):
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    procs = LogitsProcessorList()
    if repetition_penalty is not None and float(repetition_penalty) != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty=float(repetition_penalty)))
    if do_sample:
        if temperature is not None and float(temperature) != 1.0:
            procs.append(TemperatureLogitsWarper(float(temperature)))
        if top_k is not None and int(top_k) > 0:
            procs.append(TopKLogitsWarper(top_k=int(top_k)))
        if top_p is not None and float(top_p) < 1.0:
            procs.append(TopPLogitsWarper(top_p=float(top_p)))
    return procs


class FastServingModel:
    """A drop-in for `model` in `medchat.generation.stream_reply` / `generate_replies`: `generate` runs the static
    cache decoder (CUDA graph when available) for the batch sizes it was built for and falls back to
    `model.generate` for anything else. Attribute access is forwarded to the wrapped model.

    One static cache per batch size: a call that finds it busy (another request of the app streaming at the same
    time) runs `model.generate` instead of waiting."""

    _SUPPORTED = {
        "input_ids", "attention_mask", "max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_p",
        "top_k", "repetition_penalty", "eos_token_id", "pad_token_id", "streamer", "stopping_criteria",
    }

    def __init__(self, model, max_cache_len: int = 4096, cuda_graphs: bool | None = None, batch_sizes=(1,),
                 capture_prefill: bool = True):
        self.model = model
        self.max_cache_len = int(max_cache_len)
        self.cuda_graphs = cuda_graphs
        self.decoders: dict[int, StaticDecoder] = {}
        self._lock = threading.Lock()
        for b in batch_sizes:
            self.decoder(b)
        if capture_prefill and 1 in self.decoders:  # every one-row prefill graph now, not on a user's first request
            self.decoders[1].capture_prefill()

    def __getattr__(self, name):
        if name == "model":  # not yet set (during unpickling, say)
            raise AttributeError(name)
        return getattr(self.model, name)

    def decoder(self, batch_size: int) -> StaticDecoder:
        if batch_size not in self.decoders:
            dec = StaticDecoder(self.model, batch_size, self.max_cache_len, self.cuda_graphs)
            dec.ensure_cache()
            dec.capture()
            self.decoders[batch_size] = dec
        return self.decoders[batch_size]

    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        kwargs = _expand_generation_config(kwargs)
        unsupported = set(kwargs) - self._SUPPORTED
        prompt_len = input_ids.shape[1] if input_ids is not None else 0
        max_new = int(kwargs.get("max_new_tokens") or self.model.generation_config.max_new_tokens or 256)
        if (unsupported or input_ids is None or input_ids.shape[0] not in self.decoders
                or prompt_len + max_new > self.max_cache_len or not self._lock.acquire(blocking=False)):
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        try:
            kwargs["max_new_tokens"] = max_new
            return _sample_loop(self.model, self.decoder(input_ids.shape[0]), input_ids, attention_mask, **kwargs)
        finally:
            self._lock.release()


_FROM_CONFIG = ("max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_p", "top_k", "repetition_penalty",
                "eos_token_id", "pad_token_id")


def _expand_generation_config(kwargs: dict) -> dict:
    """`generate(generation_config=...)` (what `medchat.generation` passes) as the plain keywords the static decoders
    support; a setting they do not implement (n-gram blocking, beams) is kept as a keyword, so `generate` falls back
    to the model's own and stays exact."""
    config = kwargs.pop("generation_config", None)
    if config is None:
        return kwargs
    out = {name: getattr(config, name, None) for name in _FROM_CONFIG}
    if getattr(config, "no_repeat_ngram_size", 0):
        out["no_repeat_ngram_size"] = config.no_repeat_ngram_size
    if (getattr(config, "num_beams", 1) or 1) > 1:
        out["num_beams"] = config.num_beams
    out.update({k: v for k, v in kwargs.items()})  # explicit keywords win over the config
    return {k: v for k, v in out.items() if v is not None or k in kwargs}


@torch.inference_mode()
def _sample_loop(model, dec: StaticDecoder, input_ids, attention_mask, *, max_new_tokens, do_sample=None,
                 temperature=None, top_p=None, top_k=None, repetition_penalty=None, eos_token_id=None,
                 pad_token_id=None, streamer=None, stopping_criteria=None, min_new_tokens=None, capture_after=None,
                 **_):
    """`model.generate`'s sampling (the subset medchat uses) over a StaticDecoder: prefill, then one decode step per
    token. `capture_after=k`: record the decode step as a CUDA graph after the first k eager steps of this request
    (`StaticDecoder.capture_current`) when fewer graph replays than that would not pay for the capture."""
    gen_cfg = model.generation_config
    pick = lambda value, default: default if value is None else value  # noqa: E731
    do_sample = bool(pick(do_sample, gen_cfg.do_sample))
    procs = _logits_processors(
        pick(repetition_penalty, gen_cfg.repetition_penalty),
        pick(temperature, gen_cfg.temperature),
        pick(top_k, gen_cfg.top_k),
        pick(top_p, gen_cfg.top_p),
        do_sample,
    )
    eos = eos_token_id if eos_token_id is not None else gen_cfg.eos_token_id
    eos = [] if eos is None else ([int(eos)] if isinstance(eos, int) else [int(e) for e in eos])
    pad = pick(pad_token_id, gen_cfg.pad_token_id)
    pad = pad if pad is not None else (eos[0] if eos else 0)
    min_new = int(min_new_tokens or 0)

    device = dec.device
    ids = input_ids.to(device)
    if streamer is not None:
        streamer.put(ids.cpu())
    eos_t = torch.tensor(eos, device=device) if eos else None
    unfinished = torch.ones(ids.shape[0], dtype=torch.bool, device=device)
    # Token t and the rows' finished flags reach the host through pinned buffers while the GPU already runs decode
    # step t+1: the streamer's work (tokenizer decode, the app's queue and thread) overlaps the GPU instead of
    # stalling it between steps (H200, 8B shape: the app streamed +0.4 to +6.9 % slower than a raw generate of the
    # same tokens with the host read first, +1.3 / -1.0 % with the overlap; benchmarks/README.md). A reply ending on
    # EOS pays one unused step.
    on_gpu = device.type == "cuda"
    host_tokens = torch.empty(ids.shape[0], dtype=torch.long, pin_memory=on_gpu)
    host_unfinished = torch.empty(ids.shape[0], dtype=torch.bool, pin_memory=on_gpu)
    copied = torch.cuda.Event() if on_gpu else None
    logits = dec.prefill(ids, attention_mask)
    for step in range(max_new_tokens):
        scores = procs(ids, logits.float())
        if eos_t is not None and step < min_new:
            scores[:, eos_t] = -float("inf")
        if do_sample:
            nxt = torch.multinomial(torch.softmax(scores, -1), num_samples=1).squeeze(1)
        else:
            nxt = scores.argmax(-1)
        nxt = torch.where(unfinished, nxt, torch.full_like(nxt, pad))
        ids = torch.cat([ids, nxt[:, None]], dim=-1)
        if eos_t is not None:
            unfinished &= ~torch.isin(nxt, eos_t)
        if stopping_criteria is not None:
            unfinished &= ~stopping_criteria(ids, scores).to(device)
        host_tokens.copy_(nxt, non_blocking=True)
        host_unfinished.copy_(unfinished, non_blocking=True)
        if copied is not None:
            copied.record()
        last = step + 1 == max_new_tokens
        # Only a graph replay is queued ahead: it launches in microseconds, while an eager step's kernel launches
        # take as long as its GPU work (8B + 224 unmerged LoRA layers), so queuing one first delayed the first
        # token by an eager step (H200: TTFT 146 ms against 90 ms).
        overlap = not last and dec.graph is not None
        if overlap:
            logits = dec.decode(nxt)  # queued on the GPU; the host reads token t below while it runs
        if copied is not None:
            copied.synchronize()  # waits for the two copies only, not for the step queued after them
        if streamer is not None:
            streamer.put(host_tokens.clone())
        if last or not bool(host_unfinished.any()):
            break
        if overlap:
            continue
        if capture_after is not None and step == capture_after:  # after the host read: an ended reply records none
            try:
                dec.capture_current()
            except RuntimeError:  # the reply goes on eagerly, as model.generate would have produced it
                logger.warning("CUDA graph capture failed: this reply decodes eagerly", exc_info=True)
                dec.cuda_graph, dec.graph = False, None
        logits = dec.decode(nxt)
    if streamer is not None:
        streamer.end()
    return ids


class PerCallServingModel:
    """The ZeroGPU path: nothing is kept on the GPU between calls (a ZeroGPU Space gets the GPU for one
    `@spaces.GPU` call at a time), so each `generate` builds its own decoder inside the call and drops it at the
    end: a static KV cache sized to this request (prompt + max_new_tokens, rounded up to `cache_round`), the prompt
    prefilled eagerly straight into it (one forward: the first token comes as fast as `model.generate`'s), the
    first `eager_steps` decode steps eager (they are the graph's warm-up), then the decode step recorded once as a
    CUDA graph and replayed for every further token. Eager decoding of an 8B model with 224 unmerged LoRA layers is
    bound by launching kernels (H200: 15-20 tok/s); the replays are not (benchmarks/README.md). Replies shorter
    than `min_graph_tokens` go to `model.generate` as before. A drop-in for `model` in
    `medchat.generation.stream_reply`: call `generate` inside the `@spaces.GPU` function."""

    def __init__(self, model, eager_steps: int = 2, min_graph_tokens: int = 8, cache_round: int = 256,
                 cuda_graphs: bool | None = None):
        self.model = model
        self.eager_steps = int(eager_steps)
        self.min_graph_tokens = int(min_graph_tokens)
        self.cache_round = int(cache_round)
        self.cuda_graphs = cuda_graphs
        self.calls = 0  # requests served by a per-call decoder (tests, benchmark)

    def __getattr__(self, name):
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def cache_len(self, prompt_len: int, max_new_tokens: int) -> int:
        need = int(prompt_len) + int(max_new_tokens) + 1
        return -(-need // self.cache_round) * self.cache_round

    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        kwargs = _expand_generation_config(kwargs)
        max_new = int(kwargs.get("max_new_tokens") or self.model.generation_config.max_new_tokens or 256)
        if (set(kwargs) - FastServingModel._SUPPORTED or input_ids is None or max_new < self.min_graph_tokens):
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        kwargs["max_new_tokens"] = max_new
        dec = StaticDecoder(self.model, input_ids.shape[0], self.cache_len(input_ids.shape[1], max_new),
                            self.cuda_graphs, bucketed_prefill=False)
        self.calls += 1
        try:
            return _sample_loop(self.model, dec, input_ids, attention_mask, capture_after=self.eager_steps, **kwargs)
        finally:
            del dec  # the cache and the graph go with the call


def serving_generator(model, *, zero_gpu: bool, max_cache_len: int, fast_decode: bool | None = None):
    """What the app hands to `stream_reply` as the model: on ZeroGPU a `PerCallServingModel` (per-call decoder and
    graph), on a dedicated CUDA GPU a `FastServingModel` (graphs captured once at start-up), else the model itself
    (a CPU has no launch overhead to save). `fast_decode=False` (MEDCHAT_FAST_DECODE=0) keeps plain `generate`."""
    if fast_decode is False:
        return model
    if zero_gpu:
        return PerCallServingModel(model)
    if torch.cuda.is_available():
        return FastServingModel(model, max_cache_len=max_cache_len)
    return model


__all__ = ["FastServingModel", "PerCallServingModel", "StaticDecoder", "logit_drift", "merge_and_requantize",
           "serving_generator"]
