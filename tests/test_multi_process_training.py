"""`accelerate launch -m train` with two processes (gloo on the CPU): data-parallel training of the smoke recipe.

The same launch config as on GPUs (train/configs/accelerate/data-parallel.yaml), with `--use_cpu true` so the
processes talk over gloo. The tiny random Llama with the SmolLM2 tokenizer keeps it to seconds of compute; the data,
the template, the masks, the sharding and the artifacts are the smoke recipe's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_CONFIG = ROOT / "train" / "configs" / "accelerate" / "data-parallel.yaml"


def launch(tiny_model_dir: Path, output_dir: Path, *extra: str) -> str:
    from tests.conftest import free_port

    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(LAUNCH_CONFIG),
               "--num_processes", "2", "--main_process_port", str(free_port()),
               "-m", "train", "--config", "train/configs/smoke.yaml", "--base_model", str(tiny_model_dir),
               "--output_dir", str(output_dir), "--use_cpu", "true", "--max_steps", "-1", "--eval_steps", "5",
               "--save_steps", "5", "--final_eval_limit", "0", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def train_tokens(tiny_model_dir: Path) -> int:
    """Every training row's tokens, counted here independently of the Trainer (smoke recipe: max_length 256)."""
    from transformers import AutoTokenizer

    from medchat.data import build_splits
    from train.__main__ import parse

    _, recipe, training_args = parse(["--config", str(ROOT / "train/configs/smoke.yaml")])
    splits = build_splits(str(ROOT / recipe.dataset), recipe)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    lengths = [len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"])
               for row in splits.train]
    assert len(lengths) % 4 == 0, "one epoch must fill whole global batches (2 processes x 2 rows) for this check"
    return sum(min(n, training_args.max_length) for n in lengths)


def test_two_processes_train_one_adapter_count_all_tokens_and_resume(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    log = launch(tiny_model_dir, out, "--num_train_epochs", "1")
    assert log.count("[medchat.training] data:") == 2  # both processes ran the recipe
    assert log.count("[medchat.training] adapter written to") == 1  # ... and only the main one wrote it
    summary = json.loads((out / "adapter" / "run_summary.json").read_text())
    assert summary["processes"] == 2
    # 20 rows, 2 per process and step: 5 steps in one epoch (a single process would take 10).
    assert summary["steps"] == 5
    expected = train_tokens(tiny_model_dir)
    assert summary["tokens_seen"] == expected  # both processes' tokens, gathered (one process saw about half)
    evals = [loss for _, loss in summary["eval_losses"]]
    assert evals[-1] < evals[0], evals
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".adapter") or p.name.endswith(".old")]
    assert leftovers == [] and sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-5"]

    log = launch(tiny_model_dir, out, "--num_train_epochs", "2", "--resume")
    assert log.count("[medchat.training] adapter written to") == 1
    summary = json.loads((out / "adapter" / "run_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-5") and summary["steps"] == 10
    assert summary["tokens_seen"] == 2 * expected  # the counter came back from the checkpoint and went on
    assert [step for step, _ in summary["train_losses"]][-1] == 10
