"""Concurrent streams through the remote backend: 8 at once vs one at a time, against a real engine.

    python benchmarks/remote_concurrency.py --model DIR [--continuous_batching] [--max_new_tokens 32] \
        [--out benchmarks/results/remote_concurrency_cpu.json]
    python benchmarks/remote_concurrency.py --url http://host:8000/v1 --served_model medchat   # an engine already up

With --model it starts `transformers serve DIR` on loopback (CPU) and stops it afterwards. Every stream goes through
`medchat.remote.RemoteBackend` and `medchat.safety.finalize_reply`, as the app's handler does, from its own thread
(the app's queue opened up: MEDCHAT_CONCURRENCY=8). Replies are greedy, so each concurrent reply must equal the
same prompt's reply one at a time: a reply that belongs to another prompt (cross-talk) or a different text fails.
Tokens are counted with the served model's tokenizer on the reply text.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROMPTS = json.loads((ROOT / "examples" / "prompts.json").read_text())


class TransformersServe:
    """`transformers serve MODEL` (transformers' own OpenAI-compatible server) on 127.0.0.1:port, CPU, as a child
    process in its own process group; `stop()` kills it (SIGKILL: what a crashed engine looks like)."""

    def __init__(self, model: str | Path, port: int, *, continuous_batching: bool = False, log: Path | None = None):
        self.model, self.port = str(model), port
        self.url = f"http://127.0.0.1:{port}/v1"
        command = [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model, "--host", "127.0.0.1",
                   "--port", str(port), "--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
        if continuous_batching:
            command.append("--continuous-batching")
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)

    def wait_ready(self, timeout: float = 120.0) -> "TransformersServe":
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve was not ready after {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def reply_through_app_path(backend, prompt: str, settings) -> dict:
    """What the app's handler does with one message: validate, triage, stream, finalize every chunk."""
    from medchat.safety import finalize_reply, triage, validate_user_message

    text = validate_user_message(prompt)
    triage_result = triage(text)
    started = time.perf_counter()
    first = None
    model_text = ""
    shown = finalize_reply(text, "", triage_result) if triage_result.guidance else ""
    for model_text in backend.stream([{"role": "user", "content": text}], settings):
        first = first or time.perf_counter() - started
        shown = finalize_reply(text, model_text, triage_result)
    return {"prompt": prompt, "model_text": model_text, "shown": shown, "level": triage_result.level,
            "ttft_s": first, "wall_s": time.perf_counter() - started}


def run_streams(backend, prompts: list[str], settings, concurrency: int) -> dict:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        replies = list(pool.map(lambda p: reply_through_app_path(backend, p, settings), prompts))
    return {"wall_s": time.perf_counter() - started, "replies": replies}


def measure(backend, tokenizer, max_new_tokens: int = 32) -> dict:
    from medchat.generation import GenerationSettings

    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=False)
    reply_through_app_path(backend, PROMPTS[0], GenerationSettings(max_new_tokens=4, do_sample=False))  # warm-up
    one_at_a_time = run_streams(backend, PROMPTS, settings, concurrency=1)
    at_once = run_streams(backend, PROMPTS, settings, concurrency=len(PROMPTS))
    out = {}
    for name, run in (("one_at_a_time", one_at_a_time), (f"{len(PROMPTS)}_at_once", at_once)):
        tokens = sum(len(tokenizer.encode(r["model_text"], add_special_tokens=False)) for r in run["replies"])
        out[name] = {"wall_s": round(run["wall_s"], 2), "reply_tokens": tokens,
                     "total_tok_s": round(tokens / run["wall_s"], 2),
                     "mean_ttft_s": round(sum(r["ttft_s"] or 0 for r in run["replies"]) / len(run["replies"]), 2),
                     "max_ttft_s": round(max(r["ttft_s"] or 0 for r in run["replies"]), 2)}
    same = [a["model_text"] == b["model_text"] for a, b in zip(one_at_a_time["replies"], at_once["replies"])]
    out["same_reply_as_one_at_a_time"] = f"{sum(same)}/{len(same)}"
    out["speedup_total_tok_s"] = round(out[f"{len(PROMPTS)}_at_once"]["total_tok_s"]
                                       / out["one_at_a_time"]["total_tok_s"], 2)
    out["replies"] = [{"prompt": a["prompt"][:60], "level": a["level"], "reply_one_at_a_time": a["model_text"],
                       "reply_at_once": b["model_text"]} for a, b in zip(one_at_a_time["replies"], at_once["replies"])]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model dir to serve with `transformers serve` on loopback")
    parser.add_argument("--url", help="an engine already running: http://host:port/v1")
    parser.add_argument("--served_model", help="model name on that engine")
    parser.add_argument("--tokenizer", help="tokenizer for counting (default: --model)")
    parser.add_argument("--continuous_batching", action="store_true", help="transformers serve --continuous-batching")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--port", type=int, default=18731)
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    if not (args.model or args.url):
        parser.error("give --model DIR (started here) or --url of a running engine")
    from transformers import AutoTokenizer

    from medchat.remote import RemoteBackend

    server = None
    if args.url is None:
        server = TransformersServe(args.model, args.port, continuous_batching=args.continuous_batching).wait_ready()
    try:
        backend = RemoteBackend(server.url if server else args.url, model=args.served_model,
                                tokenizer=args.tokenizer or args.model, read_timeout=600, reply_timeout=600)
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
        result = measure(backend, tokenizer, args.max_new_tokens)
    finally:
        if server:
            server.stop()
    import torch
    import transformers

    result = {"engine": "transformers serve" + (" --continuous-batching" if args.continuous_batching else "")
              if server else args.url, "model": str(args.model or args.served_model),
              "max_new_tokens": args.max_new_tokens, "greedy": True, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, load average "
                         f"{os.getloadavg()[0]:.1f} at the end", "torch": torch.__version__,
              "transformers": transformers.__version__, "command": "python benchmarks/remote_concurrency.py "
              + " ".join(argv if argv is not None else sys.argv[1:]), **result}
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
