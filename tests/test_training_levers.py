"""The 8B recipes by GPU memory and their speed levers (issue 14): every recipe keeps the measured 4k-token step and
learning rate of its quality-parity check, `python -m train` warns when a recipe will not fit the GPU it sees, partial checkpointing recomputes
exactly the layers it names, and levers this machine cannot run are turned off with a notice."""

from pathlib import Path

import pytest
import torch

from medchat import training
from medchat.config import MedchatArguments
from train.__main__ import parse

CONFIGS = Path(__file__).resolve().parents[1] / "train" / "configs"
BY_MEMORY = {"llama3-8b-qlora-8gb.yaml": 7.75, "llama3-8b-qlora-24gb.yaml": 24, "llama3-8b-qlora.yaml": 44}
# (tokens per optimizer step, learning rate) whose quality parity at equal tokens was measured (benchmarks/README.md)
PARITY = {"llama3-8b-qlora-8gb.yaml": (8192, 2e-3), "llama3-8b-qlora-24gb.yaml": (8192, 2e-3),
          "llama3-8b-qlora.yaml": (8192, 2e-3)}


@pytest.mark.parametrize("recipe", sorted(BY_MEMORY))
def test_every_8b_recipe_keeps_the_token_step_and_learning_rate_of_its_parity_check(recipe):
    args, data, training_args = parse(["--config", str(CONFIGS / recipe)])
    tokens = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * \
        training_args.max_length
    assert (tokens, training_args.learning_rate, training_args.packing) == (*PARITY[recipe], True)
    assert args.gpu_memory_gib == BY_MEMORY[recipe]
    assert args.base_model == "meta-llama/Meta-Llama-3-8B-Instruct" and data.dataset == "ruslanmv/ai-medical-chatbot"


def test_train_warns_when_the_recipe_will_not_fit_the_gpu_and_names_the_recipes_that_do():
    # a 24 GB card reports about 23.6 GiB: the 24 GiB recipe is meant for it
    assert training.memory_fit_warning(24, 23.6, CONFIGS) is None
    warning = training.memory_fit_warning(44, 23.6, CONFIGS)
    assert "44 GiB" in warning and "23.6 GiB" in warning
    assert "llama3-8b-qlora-24gb.yaml (24 GiB)" in warning and "llama3-8b-qlora-8gb.yaml (7.75 GiB)" in warning
    assert "llama3-8b-qlora.yaml" not in warning
    assert "No recipe" in training.memory_fit_warning(8, 4.0, CONFIGS)
    assert training.memory_fit_warning(None, 4.0, CONFIGS) is None  # a recipe that declares nothing


def test_speed_levers_warn_on_a_small_gpu_and_turn_off_what_this_machine_lacks(monkeypatch, capsys):
    args, _, training_args = parse(["--config", str(CONFIGS / "llama3-8b-qlora.yaml"), "--use_liger_kernel", "true",
                                    "--activation_offloading", "true"])
    monkeypatch.setattr(training, "gpu_memory_gib", lambda: 7.6)  # an 8 GB card
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    callbacks = training.speed_levers(args, training_args)
    err = capsys.readouterr().err
    assert "WARNING" in err and "llama3-8b-qlora-8gb.yaml" in err
    assert not training_args.use_liger_kernel and not training_args.activation_offloading and "liger" in err
    assert callbacks == []  # the default recipe recomputes nothing


def test_checkpoint_layers_recomputes_only_the_first_n_layers():
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                         num_key_value_heads=1, intermediate_size=64, vocab_size=64))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    callback = training.CheckpointFirstLayers(1)
    callback.on_train_begin(None, None, None, model=model)
    assert callback.recomputed == 1
    calls = [0, 0, 0]
    for index, layer in enumerate(model.model.layers):
        # the first module of the layer: a recomputation stops early once it has what the backward needs
        layer.input_layernorm.register_forward_pre_hook(lambda *_, i=index: calls.__setitem__(i, calls[i] + 1))
    ids = torch.randint(0, 64, (1, 8))
    model(input_ids=ids, labels=ids).loss.backward()
    assert calls == [2, 1, 1]  # layer 0 ran again in the backward pass; the others kept their activations


def test_checkpoint_layers_is_a_recipe_field_applied_only_with_checkpointing():
    args = MedchatArguments(checkpoint_layers=6)
    _, _, with_ckpt = parse(["--config", str(CONFIGS / "llama3-8b-qlora-24gb.yaml")])
    _, _, without = parse(["--config", str(CONFIGS / "llama3-8b-qlora.yaml")])
    assert [type(c).__name__ for c in training.speed_levers(args, with_ckpt)] == ["CheckpointFirstLayers"]
    assert training.speed_levers(args, without) == []


def _tiny_lora_model(dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from medchat.modeling import LORA_TARGET_MODULES

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=1, intermediate_size=64, vocab_size=64))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout,
                                            target_modules=LORA_TARGET_MODULES))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.3)
    return model


def _loss_and_grads(model, ids):
    model.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_fused_lora_trains_exactly_like_peft_with_one_a_matmul_per_shared_input():
    ids = torch.randint(0, 64, (2, 12))
    plain, fused = _tiny_lora_model(), _tiny_lora_model()
    callback = training.ApplyLayerLevers(compile_layers=False, fuse_lora=True)
    callback.on_train_begin(None, None, None, model=fused)
    assert callback.applied == {"fused_lora_groups": 4}  # (q, k, v) and (gate, up) in each of 2 layers
    a_matmuls = []
    for module in fused.modules():
        if type(module).__name__ == "Linear" and module.__class__.__module__.startswith("peft"):
            module.lora_A["default"].register_forward_hook(lambda *_: a_matmuls.append(1))
    loss_plain, grads_plain = _loss_and_grads(plain, ids)
    loss_fused, grads_fused = _loss_and_grads(fused, ids)
    assert torch.allclose(loss_plain, loss_fused, atol=1e-6)
    assert grads_plain.keys() == grads_fused.keys()
    for name in grads_plain:
        assert torch.allclose(grads_plain[name], grads_fused[name], atol=1e-5), name
    assert len(a_matmuls) == 2 * 2  # only o_proj and down_proj still call their own A module, in each layer
    with fused.disable_adapter():  # peft's own switch still works through the fused forward
        assert not torch.allclose(fused(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_fused_lora_falls_back_to_peft_when_dropout_would_differ():
    model = _tiny_lora_model(dropout=0.1)
    training.SharedInputLoRA.install(model)
    model.train()
    torch.manual_seed(3)
    ids = torch.randint(0, 64, (1, 8))
    assert torch.isfinite(model(input_ids=ids, labels=ids).loss)
    calls = []
    for module in model.modules():
        if hasattr(module, "lora_dropout"):
            module.lora_dropout["default"].register_forward_hook(lambda *_: calls.append(1))
    model(input_ids=ids, labels=ids)
    assert len(calls) == 7 * 2  # every projection drew its own dropout mask, as peft does


def test_layer_levers_are_recipe_fields_turned_into_one_callback():
    _, _, sft = parse(["--config", str(CONFIGS / "llama3-8b-qlora.yaml")])
    callbacks = training.speed_levers(MedchatArguments(compile_layers=True, fuse_lora=False), sft)
    assert [type(c).__name__ for c in callbacks] == ["ApplyLayerLevers"]
    assert callbacks[0].compile_layers and not callbacks[0].fuse_lora


def test_fused_lora_on_a_4bit_base_gives_peft_s_loss_and_gradients(tiny_model_dir):
    from medchat.modeling import LoraSettings, load_model_and_tokenizer

    def load():
        torch.manual_seed(0)  # the same LoRA A initialisation in both copies
        model, _ = load_model_and_tokenizer(str(tiny_model_dir), load_in_4bit=True, for_training=True,
                                            lora=LoraSettings(dropout=0.0))
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.3)
        return model

    ids = torch.randint(0, 100, (1, 10))
    plain, fused = load(), load()
    assert training.SharedInputLoRA.install(fused) > 0  # the bitsandbytes LoRA layers are grouped as well
    loss_plain, grads_plain = _loss_and_grads(plain, ids)
    loss_fused, grads_fused = _loss_and_grads(fused, ids)
    assert torch.allclose(loss_plain, loss_fused, atol=1e-5)
    for name in grads_plain:
        assert torch.allclose(grads_plain[name], grads_fused[name], atol=1e-4), name
