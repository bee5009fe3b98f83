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
PARITY = {"llama3-8b-qlora-8gb.yaml": (8192, 2e-3), "llama3-8b-qlora-24gb.yaml": (4096, 1.2e-3),
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
