"""`python -m medchat.export`: the shipped adapter merged into the 16-bit offline SmolLM2 base on the CPU."""

from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects

from medchat.export import UPLOAD_PATTERNS, main, push_merged
from medchat.modeling import SHIPPED_ADAPTER, load_model_and_tokenizer
from tests.conftest import RecordingApi

# A conversation that is not the export's own probe.
CONVERSATION = [
    {"role": "user", "content": "My knee is swollen after a fall yesterday and it hurts to walk. Is it broken?"},
    {"role": "assistant", "content": "Swelling after a fall is common with a sprain; pain on walking needs a check."},
]


def _logits(model, tokenizer):
    ids = tokenizer.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True, return_tensors="pt")
    with torch.inference_mode():
        return model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits[0].float()


def test_merged_logits_match_base_plus_unmerged_adapter(merged_shipped_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(merged_shipped_model, dtype=torch.float32)
    merged_tokenizer = AutoTokenizer.from_pretrained(merged_shipped_model)
    unmerged, tokenizer = load_model_and_tokenizer(None, adapter=str(SHIPPED_ADAPTER), load_in_4bit=False)
    assert merged_tokenizer.apply_chat_template(CONVERSATION, tokenize=False) == tokenizer.apply_chat_template(
        CONVERSATION, tokenize=False)
    got, want = _logits(merged, merged_tokenizer), _logits(unmerged, tokenizer)
    with unmerged.disable_adapter():
        base = _logits(unmerged, tokenizer)
    # Tolerance: fp32 merge = the same sums in another order (measured max |diff| ~6e-5 on logits of size ~20).
    assert (got - want).abs().max() < 1e-3
    assert (got.argmax(-1) == want.argmax(-1)).all()
    assert (want - base).abs().max() > 1.0  # and the adapter really changes the base: the check could fail


def test_export_folder_is_a_servable_model_with_card_and_end_of_turn_stop(merged_shipped_model):
    names = {p.name for p in merged_shipped_model.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md"} <= names
    assert "adapter_config.json" not in names  # a plain checkpoint, nothing for peft to do
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(merged_shipped_model)
    generation = GenerationConfig.from_pretrained(merged_shipped_model)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in generation.eos_token_id
    assert tokenizer.eos_token == "<|im_end|>"
    assert (generation.temperature, generation.top_p, generation.repetition_penalty) == (0.7, 0.9, 1.1)
    card = ModelCard.load(merged_shipped_model / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "smollm2-medchat" in card.text and "not a doctor" in card.text
    summary = json.loads((merged_shipped_model / "export_summary.json").read_text())
    assert summary["merge_check"]["relative_error"] < 1e-3 and summary["dtype"] == "float32"


def test_bf16_export_is_the_default_and_within_its_stated_tolerance(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETsecretSECRET")
    out = main(["--adapter", str(SHIPPED_ADAPTER), "--out", str(tmp_path / "merged")])
    summary = json.loads((out / "export_summary.json").read_text())
    assert summary["dtype"] == "bfloat16"
    from safetensors import safe_open

    with safe_open(out / "model.safetensors", "pt") as weights:
        assert weights.get_tensor(next(iter(weights.keys()))).dtype == torch.bfloat16
    # bf16 rounding: measured 0.048 of the adapter's effect; the adapter's KL to the base is ~300x the merge's.
    check = summary["merge_check"]
    assert check["relative_error"] < 0.1 and check["kl_to_unmerged"] < check["adapter_kl_to_base"] / 50
    assert "hf_SECRET" not in "".join(p.read_text(errors="ignore") for p in out.iterdir() if p.suffix in (".md", ".json"))


def test_merging_into_4bit_is_refused_and_writes_nothing(tmp_path):
    with pytest.raises(SystemExit, match="2 %"):
        main(["--adapter", str(SHIPPED_ADAPTER), "--out", str(tmp_path / "merged"), "--load_in_4bit", "true"])
    with pytest.raises(SystemExit, match="bfloat16 or float32"):
        main(["--adapter", str(SHIPPED_ADAPTER), "--out", str(tmp_path / "merged"), "--dtype", "nf4"])
    assert not (tmp_path / "merged").exists()


def test_push_uploads_the_merged_model_files(merged_shipped_model):
    api = RecordingApi()
    push_merged(merged_shipped_model, "alice/medchat-merged", private=True, api=api)
    assert api.calls[0] == ("create_repo", "alice/medchat-merged",
                            {"repo_type": "model", "private": True, "exist_ok": True})
    upload = api.calls[1][1]
    files = sorted(p.name for p in merged_shipped_model.iterdir())
    uploaded = set(filter_repo_objects(files, allow_patterns=upload["allow_patterns"]))
    assert uploaded == set(files) and upload["allow_patterns"] == UPLOAD_PATTERNS
