"""medchat.deploy against a fake HfApi: exactly which calls, which files; the token is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub.utils import filter_repo_objects

import medchat.deploy as deploy_mod

TOKEN = "hf_TESTtokenVALUE1234567890abcdef"
FRONT_MATTER = "---\ntitle: medchat\nsdk: gradio\napp_file: app.py\n---\n\n# medchat\n"

SHIPPED = [
    "app.py",
    "requirements.txt",
    "README.md",
    "medchat/__init__.py",
    "medchat/generation.py",
    "medchat/templates/llama3.jinja",
    "medchat/adapters/smollm2-medchat/adapter_config.json",
    "medchat/adapters/smollm2-medchat/adapter_model.safetensors",
    "examples/prompts.json",
]
NOT_SHIPPED = [
    "medchat/__pycache__/generation.cpython-311.pyc",
    ".env",
    ".git/config",
    ".ci/run",
    "tests/test_app.py",
    "train/configs/smoke.yaml",
    "outputs/checkpoint-1/adapter_model.safetensors",
    "review.db",
    "docs/architecture.md",
    "Makefile",
]


@pytest.fixture
def project(tmp_path) -> Path:
    for rel in SHIPPED + NOT_SHIPPED:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(FRONT_MATTER if rel == "README.md" else f"# {rel}\n")
    return tmp_path


class FakeHfApi:
    instances: list["FakeHfApi"] = []

    def __init__(self, token=None, **kwargs):
        self.token = token
        self.calls: list[tuple] = []
        self.uploaded: list[str] = []
        FakeHfApi.instances.append(self)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def add_space_secret(self, repo_id, key, value, **kwargs):
        self.calls.append(("add_space_secret", repo_id, key, value == TOKEN))
        self.secret_values = {**getattr(self, "secret_values", {}), key: value}

    def add_space_variable(self, repo_id, key, value, **kwargs):
        self.calls.append(("add_space_variable", repo_id, key, value))

    def upload_folder(self, *, repo_id, folder_path, allow_patterns=None, ignore_patterns=None, **kwargs):
        self.calls.append(("upload_folder", repo_id, kwargs.get("repo_type")))
        root = Path(folder_path)
        paths = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        # The same filter huggingface_hub applies in upload_folder.
        self.uploaded = sorted(filter_repo_objects(paths, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))

    def request_space_hardware(self, repo_id, hardware, **kwargs):
        self.calls.append(("request_space_hardware", repo_id, hardware))


@pytest.fixture
def fake_api(monkeypatch, project):
    FakeHfApi.instances.clear()
    monkeypatch.setattr(deploy_mod, "HfApi", FakeHfApi)
    monkeypatch.setattr(deploy_mod, "ROOT", project)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return FakeHfApi


ARGS = ["--space_id", "alice/medchat", "--adapter", "alice/medchat-llama3", "--base_model",
        "meta-llama/Meta-Llama-3-8B-Instruct", "--hardware", "zero-a10g", "--private"]


def test_deploy_makes_exactly_these_calls_and_uploads_only_needed_files(fake_api, capfd):
    assert deploy_mod.main(ARGS + ["--variable", "MEDCHAT_MAX_CONTEXT_TOKENS=4096"]) == 0
    (api,) = fake_api.instances
    assert api.token == TOKEN
    assert api.calls == [
        ("create_repo", "alice/medchat", {"repo_type": "space", "space_sdk": "gradio", "private": True, "exist_ok": True}),
        ("add_space_secret", "alice/medchat", "HF_TOKEN", True),
        ("add_space_variable", "alice/medchat", "MEDCHAT_BASE_MODEL", "meta-llama/Meta-Llama-3-8B-Instruct"),
        ("add_space_variable", "alice/medchat", "MEDCHAT_ADAPTER", "alice/medchat-llama3"),
        ("add_space_variable", "alice/medchat", "MEDCHAT_MAX_CONTEXT_TOKENS", "4096"),
        ("upload_folder", "alice/medchat", "space"),
        ("request_space_hardware", "alice/medchat", "zero-a10g"),
    ]
    assert api.uploaded == sorted(SHIPPED)
    out, err = capfd.readouterr()
    assert TOKEN not in out + err
    assert "HF_TOKEN=***" in out
    assert "https://huggingface.co/spaces/alice/medchat" in out


def test_dry_run_touches_nothing_and_prints_the_plan(fake_api, capfd):
    assert deploy_mod.main(ARGS + ["--dry_run"]) == 0
    assert fake_api.instances == []
    out, err = capfd.readouterr()
    assert TOKEN not in out + err
    assert "HF_TOKEN=***" in out
    for rel in SHIPPED:
        assert f"  {rel}\n" in out
    for rel in NOT_SHIPPED:
        assert f"  {rel}\n" not in out
    assert "MEDCHAT_BASE_MODEL=meta-llama/Meta-Llama-3-8B-Instruct" in out
    assert "MEDCHAT_ADAPTER=alice/medchat-llama3" in out
    assert "Dry run" in out


def test_token_from_saved_login_and_never_in_errors(fake_api, monkeypatch, capfd):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(deploy_mod, "get_token", lambda: TOKEN)

    def failing_upload(self, **kwargs):
        raise RuntimeError(f"401 Unauthorized for token {TOKEN}")

    monkeypatch.setattr(FakeHfApi, "upload_folder", failing_upload)
    assert deploy_mod.main(["--space_id", "alice/medchat"]) == 1
    (api,) = fake_api.instances
    assert api.token == TOKEN
    out, err = capfd.readouterr()
    assert TOKEN not in out + err
    assert "401 Unauthorized" in err and "***" in err


def test_no_token_fails_before_any_call(fake_api, monkeypatch, capfd):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(deploy_mod, "get_token", lambda: None)
    assert deploy_mod.main(["--space_id", "alice/medchat"]) == 2
    assert fake_api.instances == []
    assert "token" in capfd.readouterr().err


def test_offline_default_space_sets_no_model_variables(fake_api):
    assert deploy_mod.main(["--space_id", "alice/medchat-demo"]) == 0
    (api,) = fake_api.instances
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "add_space_secret", "upload_folder"]
    assert api.calls[0][2]["private"] is None  # not --private: the account's default, never flipped


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--space_id", "not-a-space-id"], "user/name"),
        (["--space_id", "a/b", "--adapter", "a/ad"], "--base_model"),
        (["--space_id", "a/b", "--hardware", "quantum-1"], "hardware"),
        (["--space_id", "a/b", "--variable", "HF_TOKEN=x"], "secret"),
        (["--space_id", "a/b", "--variable", "lower=x"], "KEY=VALUE"),
    ],
)
def test_bad_arguments_are_rejected_without_calls(fake_api, capfd, argv, message):
    assert deploy_mod.main(argv) == 2
    assert fake_api.instances == []
    assert message in capfd.readouterr().err


def test_readme_without_front_matter_is_not_uploaded(fake_api, project, capfd):
    (project / "README.md").write_text("# medchat\nno front matter\n")
    assert deploy_mod.main(["--space_id", "alice/medchat"]) == 0
    (api,) = fake_api.instances
    assert "README.md" not in api.uploaded and "app.py" in api.uploaded
    assert "front matter" in capfd.readouterr().out


def test_missing_requirements_is_an_error(fake_api, project, capfd):
    (project / "requirements.txt").unlink()
    assert deploy_mod.main(["--space_id", "alice/medchat"]) == 2
    assert fake_api.instances == []
    assert "requirements.txt" in capfd.readouterr().err


def test_plan_lists_the_real_repository_files():
    plan = deploy_mod.plan_deploy("alice/medchat", token_available=False)
    assert "app.py" in plan.files and "medchat/generation.py" in plan.files and "examples/prompts.json" in plan.files
    assert not any(f.startswith(("tests/", "train/", ".git", ".ci/")) or f.endswith(".pyc") for f in plan.files)
    assert plan.secrets == []


def test_extra_secret_comes_from_env_and_is_never_printed(fake_api, monkeypatch, capfd):
    code = "review-code-XYZ-987"
    monkeypatch.setenv("MEDCHAT_REVIEW_CODE", code)
    argv = ["--space_id", "alice/medchat", "--secret", "MEDCHAT_REVIEW_CODE", "--variable", "MEDCHAT_REVIEWERS=alice,bob"]
    assert deploy_mod.main(argv + ["--dry_run"]) == 0
    assert deploy_mod.main(argv) == 0
    (api,) = fake_api.instances
    secrets = [c for c in api.calls if c[0] == "add_space_secret"]
    assert secrets == [("add_space_secret", "alice/medchat", "HF_TOKEN", True),
                       ("add_space_secret", "alice/medchat", "MEDCHAT_REVIEW_CODE", False)]
    assert api.secret_values["MEDCHAT_REVIEW_CODE"] == code
    assert ("add_space_variable", "alice/medchat", "MEDCHAT_REVIEWERS", "alice,bob") in api.calls
    out, err = capfd.readouterr()
    assert code not in out + err and TOKEN not in out + err
    assert "MEDCHAT_REVIEW_CODE=***" in out
    assert deploy_mod.main(["--space_id", "a/b", "--variable", f"MEDCHAT_REVIEW_CODE={code}"]) == 2
    assert code not in capfd.readouterr().err


def test_space_can_get_a_separate_read_only_token(fake_api, monkeypatch, capfd):
    read_only = "hf_READONLYtoken0987654321zyxw"
    monkeypatch.setenv("MEDCHAT_SPACE_TOKEN", read_only)
    assert deploy_mod.main(["--space_id", "alice/medchat", "--space_token_env", "MEDCHAT_SPACE_TOKEN"]) == 0
    (api,) = fake_api.instances
    assert api.token == TOKEN  # deploys with the write token
    assert api.secret_values == {"HF_TOKEN": read_only}  # the Space only gets the read-only one
    out, err = capfd.readouterr()
    assert read_only not in out + err and TOKEN not in out + err
    monkeypatch.setenv("MEDCHAT_SPACE_TOKEN", "")
    assert deploy_mod.main(["--space_id", "alice/medchat", "--space_token_env", "MEDCHAT_SPACE_TOKEN"]) == 2
