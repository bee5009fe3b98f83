"""GPU check of `medchat.serving` on a real model: the offline SmolLM2 with the shipped adapter, 4-bit NF4 (and bf16),
`FastServingModel` (bucketed prefill graph + decode graph) against `model.generate`, greedy, on the example prompts.
Reports per prompt how many of the first new tokens are identical and the first-token logit drift (bf16 kernels
differ between the paths: flash prefill over a padded bucket vs the eager shapes, so long greedy runs may part).

    python -m benchmarks.check_serving_gpu --out $OUT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def check(load_in_4bit: bool, prompts: list[str], new_tokens: int) -> dict:
    from medchat.generation import prompt_inputs
    from medchat.modeling import load_model_and_tokenizer
    from medchat.serving import FastServingModel, logit_drift

    model, tokenizer = load_model_and_tokenizer(None, adapter=str(ROOT / "medchat/adapters/smollm2-medchat"),
                                                load_in_4bit=load_in_4bit,
                                                device_map="cuda" if torch.cuda.is_available() else None)
    model.eval()
    t0 = time.perf_counter()
    fast = FastServingModel(model, max_cache_len=2048)
    capture_s = time.perf_counter() - t0
    rows = []
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                  pad_token_id=tokenizer.pad_token_id or 0, repetition_penalty=1.0)
    with torch.inference_mode():
        for prompt in prompts:
            messages = [{"role": "user", "content": prompt}]
            inputs = {k: v.to(model.device) for k, v in prompt_inputs(tokenizer, messages).items()}
            n = inputs["input_ids"].shape[1]
            ref = model.generate(**inputs, **kwargs)[0, n:].tolist()
            got = fast.generate(**inputs, **kwargs)[0, n:].tolist()
            same = next((i for i, (a, b) in enumerate(zip(ref, got)) if a != b), len(ref))
            eager = model(**inputs).logits[:, -1].float()
            graph = fast.decoders[1].prefill(inputs["input_ids"], inputs["attention_mask"]).float()
            drift = logit_drift(eager, graph)
            rows.append({"prompt_tokens": n, "identical_prefix": same, "of": new_tokens,
                         "first_logits_rel_l2": drift["rel_l2"], "first_top1_agree": drift["top1_agree"]})
    return {"load_in_4bit": load_in_4bit, "capture_s": capture_s, "prompts": rows,
            "all_identical": sum(r["identical_prefix"] == r["of"] for r in rows),
            "first_token_agree": sum(r["first_top1_agree"] == 1.0 for r in rows), "n": len(rows)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    prompts = json.loads((ROOT / "examples/prompts.json").read_text())
    results = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke)",
               "runs": [check(q, prompts, args.new_tokens) for q in (True, False)]}
    for run in results["runs"]:
        print(f"[check] 4-bit={run['load_in_4bit']}: {run['all_identical']}/{run['n']} prompts with all "
              f"{args.new_tokens} greedy tokens identical, first token identical "
              f"{run['first_token_agree']}/{run['n']}, "
              f"capture {run['capture_s']:.1f} s; per prompt: "
              + ", ".join(f"{r['identical_prefix']}({r['first_logits_rel_l2']:.1e})" for r in run["prompts"]))
    if args.out:
        Path(args.out, "check_serving_gpu.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
