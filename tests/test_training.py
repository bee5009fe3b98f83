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
    """One smoke run (with an eval cap, so two held-out rows go back to train) proves the artifacts, the recipe
    they carry, and that a standalone `python -m medchat.evaluate --adapter DIR` scores only rows never trained on."""
    from transformers import TrainerCallback

    from medchat import training
    from medchat.data import normalize_patient_text
    from medchat.evaluate import load_items
    from medchat.evaluate import main as evaluate_main
    from medchat.hub import load_recipe

    trained_texts: list[str] = []

    class RecordWhatTheTrainerSees(TrainerCallback):
        def on_train_begin(self, args, state, control, train_dataloader=None, processing_class=None, **kwargs):
            for row in train_dataloader.dataset:
                trained_texts.append(normalize_patient_text(processing_class.decode(row["input_ids"])))

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(training, "EXTRA_CALLBACKS", [RecordWhatTheTrainerSees()])
    secret = "hf_SECRETsecretSECRETsecret"
    adapter = main(["--config", "train/configs/smoke.yaml", "--output_dir", str(tmp_path / "run"),
                    "--eval_max_rows", "2", "--hub_token", secret])
    summary = json.loads((adapter / "run_summary.json").read_text())
    evals = [loss for _, loss in summary["eval_losses"]]
    assert len(evals) >= 2 and evals[-1] < evals[0], f"eval loss did not drop: {evals}"
    assert summary["tokens_seen"] > 0 and summary["steps"] == 8
    assert summary["eval_perplexity"] > 1 and summary["wall_time_s"] > 0 and summary["versions"]["trl"]
    assert summary["data"]["train_rows"] > 0 and summary["data"]["eval_capped_to_train"] == 2
    assert len(trained_texts) == summary["data"]["train_rows"]
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "loss_curve.png",
                 "README.md", "recipe.yaml", "eval/metrics.json", "eval/samples.jsonl"):
        assert (adapter / name).is_file(), name
    card = (adapter / "README.md").read_text()
    assert "library_name: peft" in card and "reference_nll" in card
    assert "## Recipe" in card and "eval_max_rows: 2" in card and "min_reply_words: 10" in card
    assert not list(adapter.parent.glob(".adapter-tmp-*"))  # the atomic save left no temporary folder
    modes = {folder.stat().st_mode & 0o777 for folder in (adapter.parent, adapter, adapter / "eval")}
    assert modes == {0o777 & ~_umask()}, modes  # 0755 under umask 022, as every other folder (mkdtemp made 0700)
    assert not (adapter.parent / "README.md").exists()  # no TRL card saying "fine-tuned version of [None]"

    # the recipe: resolved, secret-free, and a config `python -m train` reads back
    recipe_text = (adapter / "recipe.yaml").read_text()
    assert secret not in recipe_text and secret not in card and "hub_token" not in recipe_text
    recipe = load_recipe(adapter)
    assert (recipe["eval_max_rows"], recipe["eval_fraction"], recipe["split_seed"]) == (2, 0.25, 42)
    assert recipe["system_prompt"] and recipe["learning_rate"] == 1e-3 and recipe["max_steps"] == 8
    again_args, again_data, again_training = parse(["--config", str(adapter / "recipe.yaml")])
    assert again_data == parse(["--config", "train/configs/smoke.yaml", "--eval_max_rows", "2"])[1]
    assert (again_training.max_steps, again_training.learning_rate, again_args.lora_r) == (8, 1e-3, 16)

    # standalone evaluation rebuilds training's held-out split from the recipe: no row it scores was trained on
    metrics = evaluate_main(["--adapter", str(adapter), "--data", "examples/sample_conversations.jsonl",
                             "--limit", "0", "--max_new_tokens", "4", "--out", str(tmp_path / "standalone")])
    scored = [json.loads(line) for line in (tmp_path / "standalone" / "samples.jsonl").read_text().splitlines()]
    assert metrics["n"] == len(scored) == 2 and metrics["split"]["same_as_training"] is True
    for row in scored:
        assert not any(normalize_patient_text(row["user_text"]) in text for text in trained_texts), row["id"]
    # what the evaluation did before recipes (fraction only, no cap): it scored rows the adapter was trained on
    old_way = load_items("examples/sample_conversations.jsonl", None, eval_fraction=0.25)
    assert any(normalize_patient_text(item["user_text"]) in text for item in old_way for text in trained_texts)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def test_standalone_split_follows_the_recipe_and_flags_override_it():
    from medchat.evaluate import held_out_recipe

    trained = {"eval_fraction": 0.01, "eval_max_rows": 500, "split_seed": 7, "min_reply_words": 5,
               "system_prompt": "Be careful.", "mix_dataset": "medquad.jsonl.gz", "mix_weight": 0.2,
               "learning_rate": 1e-3}  # a recipe also holds training fields: ignored here
    recipe = held_out_recipe("data.jsonl", trained)
    assert (recipe.eval_fraction, recipe.eval_max_rows, recipe.split_seed, recipe.min_reply_words,
            recipe.system_prompt) == (0.01, 500, 7, 5, "Be careful.")
    assert recipe.mix_dataset is None and recipe.mix_weight == 0  # the mix only ever fed train
    assert held_out_recipe("data.jsonl", trained, eval_max_rows=0, split_seed=1).eval_max_rows is None
    never_trained = held_out_recipe("new.jsonl", trained, eval_fraction=1.0)
    assert (never_trained.eval_fraction, never_trained.eval_max_rows) == (1.0, None)
    assert held_out_recipe("data.jsonl", None).eval_fraction == 0.1  # no recipe.yaml: today's default


def test_an_empty_held_out_split_says_how_to_score_new_data():
    from medchat.evaluate import load_items

    with pytest.raises(SystemExit, match=r"pass --eval_fraction 1\.0"):
        load_items(str(ROOT / "tests/fixtures/data_dialogues.jsonl"), None, eval_fraction=0.0)
    assert len(load_items(str(ROOT / "tests/fixtures/data_dialogues.jsonl"), None, eval_fraction=1.0)) > 0
