"""`python -m train`: recipes parse with CLI overrides, a smoke run learns, an interrupted run resumes."""

import json
from pathlib import Path

import pytest

from train.__main__ import main, parse

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "train" / "configs"


@pytest.mark.parametrize("recipe", ["llama3-8b-qlora.yaml", "smollm2-offline.yaml", "smoke.yaml"])
def test_recipes_parse_and_any_field_can_be_overridden(recipe, tmp_path):
    args, data, training = parse(["--config", str(CONFIGS / recipe), "--max_steps", "10", "--dataset", "x.jsonl",
                                  "--output_dir", str(tmp_path), "--base_model", "some/model", "--lora_r", "8"])
    assert (training.max_steps, data.dataset, training.output_dir, args.base_model, args.lora_r) == \
        (10, "x.jsonl", str(tmp_path), "some/model", 8)
    assert training.assistant_only_loss  # loss on the doctor's replies only, in every recipe


def test_production_recipe_is_llama3_qlora_on_the_hub_dataset():
    args, data, training = parse(["--config", str(CONFIGS / "llama3-8b-qlora.yaml")])
    assert args.base_model == "meta-llama/Meta-Llama-3-8B-Instruct" and args.load_in_4bit
    assert data.dataset == "ruslanmv/ai-medical-chatbot"
    assert (args.lora_r, args.lora_alpha) == (16, 32)
    # measured levers of the fast recipe (benchmarks/README.md): packed padding-free batches, no checkpointing
    assert training.packing and training.packing_strategy == "bfd" and not training.gradient_checkpointing


def test_smoke_recipe_trains_and_writes_every_artifact(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    adapter = main(["--config", "train/configs/smoke.yaml", "--output_dir", str(tmp_path / "run")])
    summary = json.loads((adapter / "run_summary.json").read_text())
    evals = [loss for _, loss in summary["eval_losses"]]
    assert len(evals) >= 2 and evals[-1] < evals[0], f"eval loss did not drop: {evals}"
    assert summary["tokens_seen"] > 0 and summary["steps"] == 8
    assert summary["eval_perplexity"] > 1 and summary["wall_time_s"] > 0 and summary["versions"]["trl"]
    assert summary["data"]["train_rows"] > 0
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "loss_curve.png",
                 "README.md", "eval/metrics.json", "eval/samples.jsonl"):
        assert (adapter / name).is_file(), name
    card = (adapter / "README.md").read_text()
    assert "library_name: peft" in card and "reference_nll" in card
    assert not list(adapter.parent.glob(".adapter-tmp-*"))  # the atomic save left no temporary folder


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch, tiny_model_dir):
    from transformers import TrainerCallback

    from medchat import training

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise KeyboardInterrupt("simulated crash")

    monkeypatch.chdir(ROOT)
    argv = ["--config", "train/configs/smoke.yaml", "--base_model", str(tiny_model_dir), "--output_dir",
            str(tmp_path / "run"), "--max_steps", "8", "--save_steps", "2", "--eval_steps", "4",
            "--final_eval_limit", "0"]
    monkeypatch.setattr(training, "EXTRA_CALLBACKS", [Crash()])
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert (tmp_path / "run" / "checkpoint-4").is_dir() and not (tmp_path / "run" / "adapter").exists()

    monkeypatch.setattr(training, "EXTRA_CALLBACKS", [])
    adapter = main(argv + ["--resume"])
    summary = json.loads((adapter / "run_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-4")
    assert summary["steps"] == 8
    assert [step for step, _ in summary["train_losses"]][-1] == 8


def test_atomic_save_keeps_the_old_adapter_when_saving_fails(tmp_path):
    from medchat.training import save_adapter_atomically

    target = tmp_path / "adapter"
    target.mkdir()
    (target / "adapter_model.safetensors").write_text("old, complete")

    class BrokenModel:
        def save_pretrained(self, path):
            (Path(path) / "adapter_model.safetensors").write_text("half")
            raise OSError("disk full")

    with pytest.raises(OSError):
        save_adapter_atomically(BrokenModel(), None, target)
    assert (target / "adapter_model.safetensors").read_text() == "old, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no half-written folder left behind


def test_train_entrypoint_uses_expandable_allocator_segments_unless_the_user_chose(monkeypatch):
    """`python -m train` sets the CUDA allocator to growable segments (packed batches change shape every step) before
    torch starts CUDA; a value the user exported wins."""
    import importlib
    import os
    import sys

    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    monkeypatch.delitem(sys.modules, "train.__main__", raising=False)
    importlib.import_module("train.__main__")
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"

    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128")
    monkeypatch.delitem(sys.modules, "train.__main__")
    importlib.import_module("train.__main__")
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:128"
