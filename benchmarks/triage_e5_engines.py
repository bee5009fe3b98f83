"""What the languages only e5 reads cost, and what a cheaper e5 would cost in recall (README "Safety", round 16).

    python -m benchmarks.triage_e5_engines [--layers 12,9,6] [--rounds 2]

Speed: multilingual-e5-small on one window a call, 2 threads, each engine in its own process (onnxruntime's spinning
pool would slow the next engine in the same one), the engines in turn for `--rounds` rounds (the machine drifts):
synthetic 16 / 64 / 128-token windows and every 4th written message in e5's languages. Engines: the shipped int8
graph (e5_engine.E5Onnx); onnxruntime's 4-bit MatMulNBits (block 32 like the wheel's, int8 compute); torch's dynamic
int8 Linear; torch float32; OpenVINO float32 and OpenVINO int8 (NNCF post-training quantization, calibrated on every
8th written e5-language message). The engines past the shipped one need packages the app does not: `pip install
onnx-ir openvino nncf` (onnx-ir: onnxruntime's MatMulNBits quantizer); an engine whose package is missing is
skipped. Cosine: each engine's message embeddings against the shipped engine's.

Layers: e5 cut to its first L layers, the shipped recipe otherwise (int8 ONNX). Every exemplar is embedded, and each
written message in e5's languages is scored against every exemplar but its writer's (the mean of the two nearest
flagged minus the two nearest calm: learned.K, the shipped margin). AUC, and recall of red flags at 10 % false alarms
(~2 min a variant here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENGINES = ("onnxruntime int8 (shipped)", "onnxruntime 4-bit MatMulNBits", "torch dynamic int8", "torch float32",
           "OpenVINO float32", "OpenVINO int8 (NNCF)")
SYNTHETIC = (16, 64, 128)


def in_e5_language(text: str) -> bool:
    """Written in a language only e5 reads (engine.reader, before its few-words check: the numbers of round 16)."""
    from medchat.safety import language

    return language.detect(text) not in language.LEARNED_LANGUAGES


def e5_messages(every: int = 1) -> list[str]:
    """The written messages in languages only e5 reads (what second_encoder.score is asked about)."""
    from medchat.safety import learned

    texts = [c["text"] for path in learned.written_files() for c in map(json.loads, path.open(encoding="utf-8"))]
    return [t for t in texts if in_e5_language(t)][::every]


def _session(path: Path):
    import onnxruntime as ort

    from medchat.safety.e5_engine import THREADS

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _runner(engine: str, tmp: Path):
    """`hidden(ids) -> [tokens, 384]` for one engine."""
    from medchat.safety.e5_engine import THREADS, E5Onnx, _bert, _dequantize, export_fp32

    shipped = E5Onnx()
    if engine == ENGINES[0]:
        return shipped._hidden
    wheel = shipped.wheel
    if engine == ENGINES[1]:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                      MatMulNBitsQuantizer)

        q = MatMulNBitsQuantizer(onnx.load(str(export_fp32(wheel, tmp / "fp32.onnx"))),
                                 algo_config=DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True,
                                                                          accuracy_level=4))
        q.process()
        q.model.save_model_to_file(str(tmp / "nbits.onnx"), use_external_data_format=False)
        shipped.session = _session(tmp / "nbits.onnx")
        return shipped._hidden
    if engine.startswith("OpenVINO"):
        return _openvino(engine, wheel, tmp)
    import torch

    torch.set_num_threads(THREADS)
    model = _bert(wheel)
    if engine == ENGINES[2]:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    def hidden(ids):
        embeds = torch.from_numpy(_dequantize(wheel.word[np.asarray(ids)], len(ids))[None])
        with torch.inference_mode():
            return model(inputs_embeds=embeds).last_hidden_state[0].numpy()

    return hidden


def _openvino(engine: str, wheel, tmp: Path):
    """The same float32 graph run by OpenVINO on CPU (latency hint, one stream, 2 threads); int8: NNCF's
    post-training quantization of it (transformer preset), calibrated on written messages' windows."""
    import openvino as ov

    from medchat.safety.e5_engine import THREADS, _dequantize, export_fp32

    def embeds(ids):
        return _dequantize(wheel.word[np.asarray(ids)], len(ids))[None]

    model = ov.Core().read_model(str(export_fp32(wheel, tmp / "fp32.onnx")))
    if engine == ENGINES[5]:
        import nncf

        calibration = [embeds(wheel.windows(t)[0]) for t in e5_messages(every=8)]
        model = nncf.quantize(model, nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(calibration))
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": THREADS, "NUM_STREAMS": 1,
                                                      "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def hidden(ids):
        request.infer({0: embeds(ids)})
        return request.get_output_tensor(0).data[0].copy()

    return hidden


def _available(engine: str) -> bool:
    import importlib.util

    needs = {ENGINES[1]: ("onnx_ir",), ENGINES[4]: ("openvino",), ENGINES[5]: ("openvino", "nncf")}.get(engine, ())
    return all(importlib.util.find_spec(m) is not None for m in needs)


def _time_engine(engine: str, out: Path) -> None:
    """One engine, in this process: median ms per window length and over the messages; message embeddings saved."""
    from medchat.safety.e5_engine import WheelModel

    wheel = WheelModel()
    rng = np.random.default_rng(0)
    synthetic = {n: [wheel.bos, *rng.integers(1000, 20000, n - 2).tolist(), wheel.eos] for n in SYNTHETIC}
    windows = [wheel.windows(t)[0] for t in e5_messages(every=4)]
    with tempfile.TemporaryDirectory() as tmp:
        hidden = _runner(engine, Path(tmp))
        for ids in list(synthetic.values()) + windows[:5]:
            hidden(ids)
        times = {}
        for n, ids in synthetic.items():
            times[n] = []
            for _ in range(9):
                t = time.perf_counter()
                hidden(ids)
                times[n].append(1000 * (time.perf_counter() - t))
        times["messages"], rows = [], []
        for ids in windows:
            t = time.perf_counter()
            rows.append(hidden(ids).mean(0))
            times["messages"].append(1000 * (time.perf_counter() - t))
    np.save(out.with_suffix(".npy"), np.stack(rows))
    out.write_text(json.dumps({str(k): float(np.median(v)) for k, v in times.items()}
                              | {"tokens": float(np.median([len(w) for w in windows])), "n": len(windows)}))


def speed(rounds: int) -> None:
    engines = [e for e in ENGINES if _available(e)]
    for e in ENGINES:
        if e not in engines:
            print(f"  {e}: skipped (pip install onnx-ir openvino nncf)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        results = {e: [] for e in engines}
        embeddings = {}
        for r in range(rounds):
            for i, engine in enumerate(engines):
                out = Path(tmp) / f"{i}.json"
                subprocess.run([sys.executable, "-m", "benchmarks.triage_e5_engines", "--engine", engine,
                                "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                results[engine].append(json.loads(out.read_text()))
                embeddings[engine] = np.load(out.with_suffix(".npy"))
                print(f"  round {r + 1}: {engine} done", file=sys.stderr, flush=True)
        first = results[ENGINES[0]][0]
        print(f"\nmultilingual-e5-small, one window a call, 2 threads; median ms ({rounds} rounds, each engine in its "
              f"own process); messages: {first['n']} written e5-language messages, median {first['tokens']:.0f} tokens")
        print(f"| engine | {' | '.join(f'{n} tokens' for n in SYNTHETIC)} | messages | min cosine to shipped |")
        print("|---|" + "---:|" * (len(SYNTHETIC) + 2))
        ref = embeddings[ENGINES[0]] / np.linalg.norm(embeddings[ENGINES[0]], axis=1, keepdims=True)
        for engine in engines:
            emb = embeddings[engine] / np.linalg.norm(embeddings[engine], axis=1, keepdims=True)
            cells = [np.median([r[key] for r in results[engine]]) for key in [*map(str, SYNTHETIC), "messages"]]
            print(f"| {engine} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {np.min(np.sum(emb * ref, 1)):.4f} |")


def layers(counts: list[int]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from medchat.safety import learned
    from medchat.safety.e5_engine import E5Onnx, export_fp32

    rows = learned.exemplars()
    texts = [r[0] for r in rows]
    flagged = np.isin([r[1] for r in rows], learned.FLAGGED)
    writer = np.array([r[2].split(":")[0] if r[2].startswith("written-") else "" for r in rows])
    asked = np.array([bool(w) and in_e5_language(t) for t, w in zip(texts, writer)])
    engine = E5Onnx()
    print(f"\nnearest exemplars over e5 cut to L layers: {asked.sum()} written e5-language messages, each against the "
          f"{len(rows)} exemplars but its writer's")
    print("| layers | weights' work | AUC | recall at 10 % false alarms |\n|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            fp32 = export_fp32(engine.wheel, Path(tmp) / f"{count}.fp32.onnx", layers=count)
            quantize_dynamic(str(fp32), str(Path(tmp) / f"{count}.onnx"), weight_type=QuantType.QInt8,
                             per_channel=True)
            engine.session = _session(Path(tmp) / f"{count}.onnx")
            matrix = np.concatenate([engine.query(texts[i:i + 256]) for i in range(0, len(texts), 256)])
            margins = []
            for i in np.flatnonzero(asked):
                sims, other = matrix @ matrix[i], writer != writer[i]
                top = [np.sort(sims[other & side])[-learned.K:].mean() for side in (flagged, ~flagged)]
                margins.append(top[0] - top[1])
            margins, positive = np.array(margins), flagged[asked]
            pos, neg = margins[positive], margins[~positive]
            auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
            print(f"| {count} | {count / engine.wheel.layers:.0%} | {auc:.3f} | "
                  f"{np.mean(pos > np.percentile(neg, 90)):.1%} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", default="12,9,6", help="layer counts to score (empty: none)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.engine:
        _time_engine(args.engine, args.out)
        return 0
    from medchat.safety.e5_engine import WheelModel

    print(f"e5: {WheelModel().path.name}; CPU threads 2")
    speed(args.rounds)
    if args.layers:
        layers([int(c) for c in args.layers.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
