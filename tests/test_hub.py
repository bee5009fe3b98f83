"""Model card content and exactly what a push uploads (a double stands in for HfApi at the network boundary)."""


from huggingface_hub.utils import filter_repo_objects

from medchat.hub import UPLOAD_PATTERNS, build_model_card, push_adapter
from tests.conftest import RecordingApi

SUMMARY = {
    "base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "dataset": "ruslanmv/ai-medical-chatbot",
    "steps": 120, "tokens_seen": 456789, "train_loss": 1.91, "eval_loss": 1.83, "eval_perplexity": 6.23,
    "wall_time_s": 812.0, "versions": {"gpu": "NVIDIA H100 80GB HBM3"},
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
    "data": {"train_rows": 900, "eval_rows": 100},
}
METRICS = {"n": 50, "models": {"base": {"reference_nll": 2.5, "rougeL": 0.12, "impersonation_rate": 0.0},
                               "finetuned": {"reference_nll": 1.9, "rougeL": 0.17, "impersonation_rate": 0.0}}}


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
                 "chat_template.jinja", "README.md", "recipe.yaml", "run_summary.json", "loss_curve.png",
                 "eval/metrics.json",
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


def test_card_shows_the_recipe_without_its_comment_header():
    recipe = "# header comment\nbase_model: meta-llama/Meta-Llama-3-8B-Instruct\neval_max_rows: 500\n"
    text = str(build_model_card(SUMMARY, METRICS, hub_model_id="alice/medchat-llama3", recipe=recipe))
    assert "## Recipe" in text and "```yaml\nbase_model: meta-llama/Meta-Llama-3-8B-Instruct\neval_max_rows: 500\n```" \
        in text and "header comment" not in text
    assert "## Recipe" not in str(build_model_card(SUMMARY, METRICS))  # an adapter from before recipes


def test_load_recipe_from_a_folder_and_from_the_hub_cache_offline(tmp_path, monkeypatch):
    """The Hub path is the real `hf_hub_download`, answered offline from a cache laid out as the Hub client
    writes it (models--OWNER--NAME/refs/main + snapshots/COMMIT/FILE)."""
    from medchat.hub import RECIPE_FILENAME, load_recipe, system_prompt_of

    folder = tmp_path / "adapter"
    folder.mkdir()
    assert load_recipe(folder) is None  # trained before recipes: callers keep their defaults
    (folder / RECIPE_FILENAME).write_text("# comment\nsystem_prompt: Be careful.\neval_max_rows: 500\n")
    assert load_recipe(folder) == {"system_prompt": "Be careful.", "eval_max_rows": 500}
    assert system_prompt_of(folder) == "Be careful." and system_prompt_of(None) is None

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--alice--medchat"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / RECIPE_FILENAME).write_text("system_prompt: From the Hub.\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert load_recipe("alice/medchat") == {"system_prompt": "From the Hub."}
    assert load_recipe("bob/not-cached") is None  # offline and not cached: no recipe, no crash


def test_the_shipped_adapter_carries_the_system_prompt_it_was_trained_with():
    from medchat.data import DEFAULT_SYSTEM_PROMPT, DataRecipe
    from medchat.hub import load_recipe, system_prompt_of
    from medchat.modeling import SHIPPED_ADAPTER

    recipe = load_recipe(SHIPPED_ADAPTER)
    assert system_prompt_of(SHIPPED_ADAPTER) == DEFAULT_SYSTEM_PROMPT
    assert set(DataRecipe.__dataclass_fields__) <= set(recipe)  # every data field, for the held-out split
    assert (recipe["eval_fraction"], recipe["eval_max_rows"], recipe["split_seed"]) == (0.1, None, 42)
