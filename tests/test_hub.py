"""Model card content and exactly what a push uploads (a double stands in for HfApi at the network boundary)."""


from huggingface_hub.utils import filter_repo_objects

from medchat.hub import UPLOAD_PATTERNS, build_model_card, push_adapter

SUMMARY = {
    "base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "dataset": "ruslanmv/ai-medical-chatbot",
    "steps": 120, "tokens_seen": 456789, "train_loss": 1.91, "eval_loss": 1.83, "eval_perplexity": 6.23,
    "wall_time_s": 812.0, "versions": {"gpu": "NVIDIA H100 80GB HBM3"},
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
    "data": {"train_rows": 900, "eval_rows": 100},
}
METRICS = {"n": 50, "models": {"base": {"reference_nll": 2.5, "rougeL": 0.12, "impersonation_rate": 0.0},
                               "finetuned": {"reference_nll": 1.9, "rougeL": 0.17, "impersonation_rate": 0.0}}}


class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))


def test_model_card_metadata_metrics_disclaimer_and_no_secret(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETsecretSECRET")
    card = build_model_card(SUMMARY, METRICS, hub_model_id="alice/medchat-llama3")
    data = card.data.to_dict()
    assert data["base_model"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert data["library_name"] == "peft"
    assert data["datasets"] == ["ruslanmv/ai-medical-chatbot"]
    assert data["license"] == "llama3"
    assert "medical" in data["tags"]
    text = str(card)
    assert "| reference_nll | 2.5 | 1.9 |" in text  # the table comes from medchat.evaluate's metrics
    assert "not a doctor" in text and "## Intended use" in text and "## Limitations" in text
    assert "NVIDIA H100" in text
    assert "hf_SECRET" not in text


def test_push_uploads_only_the_adapter_files(tmp_path):
    folder = tmp_path / "adapter"
    (folder / "eval").mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja", "README.md", "run_summary.json", "loss_curve.png", "eval/metrics.json",
                 "eval/report.md", "eval/nll_per_item.png", "eval/samples.jsonl", "optimizer.pt", "notes.txt"):
        (folder / name).write_text("x")
    api = RecordingApi()
    push_adapter(folder, "alice/medchat", private=True, api=api)
    assert api.calls[0] == ("create_repo", "alice/medchat", {"repo_type": "model", "private": True, "exist_ok": True})
    upload = api.calls[1][1]
    assert upload["repo_id"] == "alice/medchat" and upload["folder_path"] == str(folder)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    uploaded = set(filter_repo_objects(files, allow_patterns=upload["allow_patterns"]))
    assert uploaded == set(files) - {"optimizer.pt", "notes.txt", "eval/samples.jsonl"}
    assert upload["allow_patterns"] == UPLOAD_PATTERNS
