"""Packed-sequence attention without flash-attn: PyTorch's own `torch.nn.attention.varlen.varlen_attn` (flash
kernels inside torch >= 2.10) registered as a transformers attention implementation, "sdpa_varlen".

With TRL's padding-free batches (`packing=True, packing_strategy="bfd"`) the collator sends `cu_seq_lens_q/k` and
`max_length_q/k`; stock SDPA instead gets a dense block-diagonal [T, T] mask and computes every masked block. Without
those kwargs (generation, unpacked batches) the function is transformers' SDPA, unchanged.
"""

from __future__ import annotations

import functools
import inspect

import torch

NAME = "sdpa_varlen"


@functools.cache  # called by every attention layer on every step: inspect the signature once
def _varlen_call():
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    kwargs = {}
    if "is_causal" in params:  # torch 2.10 spelling
        kwargs["is_causal"] = True
    else:  # later: a (left, right) window; (-1, 0) is causal
        kwargs["window_size"] = (-1, 0)
    return varlen_attn, kwargs, "enable_gqa" in params, "scale" in params


def _reference(q, k, v, cu, scaling):
    """Per-document causal SDPA (CPU fallback and the check)."""
    out = torch.empty_like(q)
    bounds = cu.tolist()
    for a, b in zip(bounds, bounds[1:]):
        qs, ks, vs = (t[a:b].transpose(0, 1)[None] for t in (q, k, v))
        out[a:b] = torch.nn.functional.scaled_dot_product_attention(
            qs, ks, vs, is_causal=True, scale=scaling, enable_gqa=ks.shape[1] != qs.shape[1]
        )[0].transpose(0, 1)
    return out


def varlen_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
                          **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cu = kwargs.get("cu_seq_lens_q")
    if cu is None or attention_mask is not None or query.shape[0] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    q = query[0].transpose(0, 1).contiguous()  # [T, H, D]
    k = key[0].transpose(0, 1).contiguous()
    v = value[0].transpose(0, 1).contiguous()
    cu = cu.to(device=q.device, dtype=torch.int32)
    if q.device.type != "cuda":
        return _reference(q, k, v, cu, scaling)[None], None
    fn, extra, has_gqa, has_scale = _varlen_call()
    if k.shape[1] != q.shape[1]:
        if has_gqa:
            extra = {**extra, "enable_gqa": True}
        else:
            rep = q.shape[1] // k.shape[1]
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
    if has_scale and scaling is not None:
        extra = {**extra, "scale": scaling}
    max_len = int(kwargs.get("max_length_q") or int((cu[1:] - cu[:-1]).max()))
    out = fn(q, k, v, cu, cu, max_len, max_len, **extra)
    return out[None], None  # [1, T, H, D]


def register(check: bool = True) -> str:
    """Register "sdpa_varlen" with transformers; on CUDA, check it against per-document SDPA first."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_sdpa_attention)
    if check and torch.cuda.is_available():
        g = torch.Generator(device="cuda").manual_seed(0)
        lens = [300, 512, 77, 135]
        cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32, device="cuda")
        t = sum(lens)
        q = torch.randn(t, 32, 128, device="cuda", dtype=torch.bfloat16, generator=g, requires_grad=True)
        k = torch.randn(t, 8, 128, device="cuda", dtype=torch.bfloat16, generator=g, requires_grad=True)
        v = torch.randn(t, 8, 128, device="cuda", dtype=torch.bfloat16, generator=g, requires_grad=True)

        class _M:
            num_key_value_groups = 4
            is_causal = True

        got, _ = varlen_sdpa_attention(_M(), q.transpose(0, 1)[None], k.transpose(0, 1)[None],
                                       v.transpose(0, 1)[None], None, scaling=128 ** -0.5, cu_seq_lens_q=cu,
                                       max_length_q=max(lens))
        ref = _reference(q, k, v, cu, 128 ** -0.5)
        err = float((got[0].float() - ref.float()).norm() / ref.float().norm())
        gq = torch.autograd.grad(got.float().square().sum(), q)[0]
        rq = torch.autograd.grad(ref.float().square().sum(), q)[0]
        gerr = float((gq.float() - rq.float()).norm() / rq.float().norm())
        if not (err < 2e-2 and gerr < 5e-2):
            raise RuntimeError(f"varlen attention check failed: rel err fwd {err:.3g}, grad {gerr:.3g}")
    return NAME
