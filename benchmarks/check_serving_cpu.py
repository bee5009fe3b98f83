"""CPU correctness check of `medchat.serving` (no GPU, a few seconds): the static-cache decoder gives the same tokens
as `model.generate` (greedy, left-padded batch, seeded sampling with temperature/top-p/repetition penalty), on a
plain model and on a 4-bit NF4 base with an unmerged LoRA; and `merge_and_requantize` vs unmerged logit drift.

    python -m benchmarks.check_serving_cpu
"""

from __future__ import annotations

import sys

import torch



def tiny_model(quantized: bool):
    from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=256, vocab_size=512, rope_theta=500000.0, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    if not quantized:
        return LlamaForCausalLM(cfg).eval()
    from peft import LoraConfig, get_peft_model

    from medchat.modeling import LORA_TARGET_MODULES

    with torch.device("meta"):
        skeleton = LlamaForCausalLM(cfg)
    state = {k: torch.randn(v.shape) * 0.05 if v.ndim == 2 else torch.ones(v.shape)
             for k, v in skeleton.state_dict().items()}
    model = LlamaForCausalLM.from_pretrained(
        None, config=cfg, state_dict=state, dtype=torch.float32, device_map="cpu",
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32))
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=list(LORA_TARGET_MODULES)))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    return model.eval()


def check(quantized: bool) -> bool:
    from medchat.serving import FastServingModel, logit_drift, merge_and_requantize

    model = tiny_model(quantized)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    fast = FastServingModel(model, max_cache_len=64, batch_sizes=(1, 3))
    ok = True
    ids = torch.randint(3, 512, (1, 9))
    ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    out = fast.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    ok &= (same := torch.equal(ref, out))
    print(f"[{'4-bit+LoRA' if quantized else 'plain'}] greedy batch 1 equal: {same}")
    rows = [torch.randint(3, 512, (n,)) for n in (9, 5, 7)]
    batch = torch.zeros(3, 9, dtype=torch.long)
    mask = torch.zeros(3, 9, dtype=torch.long)
    for i, r in enumerate(rows):
        batch[i, 9 - len(r):] = r
        mask[i, 9 - len(r):] = 1
    ref = model.generate(input_ids=batch, attention_mask=mask, max_new_tokens=10, do_sample=False)
    out = fast.generate(input_ids=batch, attention_mask=mask, max_new_tokens=10, do_sample=False)
    ok &= (same := torch.equal(ref, out))
    print(f"  greedy left-padded batch of 3 equal: {same}")
    kw = dict(max_new_tokens=12, do_sample=True, temperature=0.7, top_p=0.9, top_k=0, repetition_penalty=1.1)
    torch.manual_seed(5)
    ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
    torch.manual_seed(5)
    out = fast.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
    ok &= (same := torch.equal(ref, out))
    print(f"  seeded sampling (T 0.7, top-p 0.9, rep. penalty 1.1) equal: {same}")
    if quantized:
        with torch.no_grad():
            x = torch.randint(3, 512, (2, 16))
            unmerged = model(input_ids=x).logits
            with model.disable_adapter():
                base = model(input_ids=x).logits
            merged_model = merge_and_requantize(model)
            merged = merged_model(input_ids=x).logits
        drift, effect = logit_drift(unmerged, merged), logit_drift(unmerged, base)
        print(f"  merge+requantize drift vs unmerged: {drift}")
        print(f"  adapter effect (base vs unmerged):  {effect}")
        ok &= drift["rel_l2"] < effect["rel_l2"]
    return bool(ok)


if __name__ == "__main__":
    results = [check(False), check(True)]
    print("OK" if all(results) else "MISMATCH")
    sys.exit(0 if all(results) else 1)
