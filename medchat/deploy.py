"""Create or update the medchat Gradio Space.

    python -m medchat.deploy --space_id user/medchat --adapter user/medchat-llama3-qlora \\
        --base_model meta-llama/Meta-Llama-3-8B-Instruct --hardware zero-a10g [--private] [--dry_run]

Steps (huggingface_hub ``HfApi``): create the Space repo (Gradio SDK, ``exist_ok``), set the ``HF_TOKEN``
secret (gated base model / private adapter), set the ``MEDCHAT_*`` variables, upload only the files the app
needs, and request hardware if asked. ``--dry_run`` prints that plan and touches nothing. The token (env
``HF_TOKEN`` or the saved login) is never printed: it shows as ``HF_TOKEN=***``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, SpaceHardware, get_token
from huggingface_hub.utils import filter_repo_objects

ROOT = Path(__file__).resolve().parent.parent

# Only what the running app needs: its code, templates, a shipped adapter, the knowledge index, example prompts, deps,
# Space card.
ALLOW_PATTERNS = [
    "app.py",
    "requirements.txt",
    "README.md",
    "medchat/*.py",
    "medchat/templates/*",
    "medchat/adapters/*",
    "medchat/knowledge/data/*",  # the trusted-source index the chat retrieves from (built, shipped: ~10 MB)
    "examples/*",
]
IGNORE_PATTERNS = ["*__pycache__*", "*.pyc", ".*", "*/.*"]
REQUIRED_FILES = ("app.py", "requirements.txt")
SECRET_NAME = "HF_TOKEN"
_SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SECRET_LIKE = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|_CODE)$|SECRET")


class DeployError(RuntimeError):
    """The deploy cannot go ahead (bad arguments, missing files or token)."""


@dataclass
class DeployPlan:
    space_id: str
    folder: Path
    files: list[str]
    variables: dict[str, str]
    secrets: list[str]
    hardware: str | None = None
    private: bool = False
    allow_patterns: list[str] = field(default_factory=lambda: list(ALLOW_PATTERNS))
    ignore_patterns: list[str] = field(default_factory=lambda: list(IGNORE_PATTERNS))
    warnings: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/spaces/{self.space_id}"


def resolve_token() -> str | None:
    """``HF_TOKEN`` from the environment, else the token saved by ``hf auth login``."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    try:
        return get_token() or None
    except Exception:  # pragma: no cover - broken token store
        return None


def has_space_front_matter(readme: Path) -> bool:
    """A Space README starts with YAML front matter naming the SDK."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return False
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    return bool(match and re.search(r"(?m)^sdk:\s*gradio\s*$", match.group(1)))


def list_files(folder: Path, allow_patterns: list[str], ignore_patterns: list[str]) -> list[str]:
    """The repo-relative files ``upload_folder`` will send (same filter as huggingface_hub)."""
    paths = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith(".git/"):
            paths.append(rel)
    return list(filter_repo_objects(paths, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))


def _parse_variables(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _VARIABLE.match(key):
            raise DeployError(f"--variable wants KEY=VALUE with an upper-case KEY, got {item!r}")
        if _SECRET_LIKE.search(key):
            raise DeployError(f"{key} looks like a secret; pass it with --secret {key} (value from your environment)")
        out[key] = value
    return out


def plan_deploy(
    space_id: str,
    *,
    adapter: str | None = None,
    base_model: str | None = None,
    hardware: str | None = None,
    private: bool = False,
    variables: dict[str, str] | None = None,
    extra_patterns: list[str] | None = None,
    extra_secrets: list[str] | None = None,
    folder: Path | str | None = None,
    token_available: bool = True,
) -> DeployPlan:
    """Decide what the deploy will do, without any network call."""
    if not _SPACE_ID.match(space_id or ""):
        raise DeployError(f"--space_id must look like 'user/name', got {space_id!r}")
    if adapter and not base_model:
        raise DeployError("--adapter needs --base_model (the model the adapter was trained on, "
                          "e.g. meta-llama/Meta-Llama-3-8B-Instruct)")
    if hardware:
        valid = [h.value for h in SpaceHardware]
        if hardware not in valid:
            raise DeployError(f"--hardware {hardware!r} is not one of: {', '.join(valid)}")
    folder = Path(folder) if folder is not None else ROOT
    warnings: list[str] = []
    allow = list(ALLOW_PATTERNS) + list(extra_patterns or [])
    ignore = list(IGNORE_PATTERNS)
    if not has_space_front_matter(folder / "README.md"):
        ignore.append("README.md")  # a README without front matter would break the Space's configuration
        warnings.append("README.md has no Space front matter (---/sdk: gradio/---): not uploaded; the Space keeps its own")
    files = list_files(folder, allow, ignore)
    missing = [f for f in REQUIRED_FILES if f not in files]
    if missing:
        raise DeployError(f"missing in {folder}: {', '.join(missing)}")

    env: dict[str, str] = {}
    if base_model:
        env["MEDCHAT_BASE_MODEL"] = base_model
        env["MEDCHAT_ADAPTER"] = adapter or ""  # explicit: no adapter rather than the offline default's
    env.update(variables or {})
    for name in extra_secrets or []:
        if not _VARIABLE.match(name) or name == SECRET_NAME:
            raise DeployError(f"--secret wants the upper-case name of an environment variable, got {name!r}")
        if not os.environ.get(name):
            raise DeployError(f"--secret {name}: set {name} in your environment first (its value is never printed)")
        if name in env:
            raise DeployError(f"{name} is given both as a variable and as a secret")
    if not token_available:
        warnings.append(f"no Hugging Face token found: set {SECRET_NAME} or run `hf auth login`")
    return DeployPlan(
        space_id=space_id,
        folder=folder,
        files=files,
        variables=env,
        secrets=([SECRET_NAME] if token_available else []) + list(dict.fromkeys(extra_secrets or [])),
        hardware=hardware,
        private=private,
        allow_patterns=allow,
        ignore_patterns=ignore,
        warnings=warnings,
    )


def format_plan(plan: DeployPlan) -> str:
    lines = [
        f"Space:     {plan.space_id} ({'private' if plan.private else 'public'}, sdk=gradio)",
        f"URL:       {plan.url}",
        f"Hardware:  {plan.hardware or '(unchanged)'}",
        f"Files ({len(plan.files)}):",
        *[f"  {f}" for f in plan.files],
        "Variables:",
        *([f"  {k}={v}" for k, v in plan.variables.items()] or ["  (none)"]),
        "Secrets:",
        *([f"  {name}=***" for name in plan.secrets] or ["  (none)"]),
    ]
    lines += [f"Warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def _redact(text: str, *secrets: str | None) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


def secret_values(plan: DeployPlan, token: str | None, space_token: str | None = None) -> dict[str, str]:
    """Values of the plan's secrets: the Space's Hub token (``space_token``, else the deploy token), the
    others from the environment."""
    return {name: ((space_token or token) if name == SECRET_NAME else os.environ.get(name, "")) or ""
            for name in plan.secrets}


def deploy(plan: DeployPlan, token: str, api=None, space_token: str | None = None) -> str:
    """Carry out ``plan`` with the deploy ``token``; returns the Space URL. ``space_token`` (e.g. a
    read-only token) becomes the Space's HF_TOKEN secret instead of the deploy token."""
    if not token:
        raise DeployError(f"no Hugging Face token: set {SECRET_NAME} or run `hf auth login`")
    values = secret_values(plan, token, space_token)
    if api is None:
        api = HfApi(token=token)
    print(f"Creating/updating {plan.url}", flush=True)
    # private=None keeps the account's default for a new Space (and never changes an existing one)
    api.create_repo(plan.space_id, repo_type="space", space_sdk="gradio", private=plan.private or None, exist_ok=True)
    for name in plan.secrets:
        api.add_space_secret(plan.space_id, name, values[name])
        print(f"  secret {name}=***", flush=True)
    for key, value in plan.variables.items():
        api.add_space_variable(plan.space_id, key, value)
        print(f"  variable {key}={value}", flush=True)
    api.upload_folder(
        repo_id=plan.space_id,
        repo_type="space",
        folder_path=str(plan.folder),
        allow_patterns=plan.allow_patterns,
        ignore_patterns=plan.ignore_patterns,
        commit_message="Deploy medchat",
    )
    print(f"  uploaded {len(plan.files)} files", flush=True)
    if plan.hardware:
        api.request_space_hardware(plan.space_id, plan.hardware)
        print(f"  requested hardware {plan.hardware}", flush=True)
    print(f"Done: {plan.url}", flush=True)
    return plan.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medchat.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space_id", required=True, help="user/name of the Space")
    parser.add_argument("--adapter", default=None, help="LoRA adapter on the Hub (user/adapter)")
    parser.add_argument("--base_model", default=None, help="base model id (e.g. meta-llama/Meta-Llama-3-8B-Instruct)")
    parser.add_argument("--hardware", default=None, help="Space hardware to request, e.g. zero-a10g (ZeroGPU), t4-small")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--variable", action="append", metavar="KEY=VALUE",
                        help="extra Space variable, e.g. MEDCHAT_MAX_CONTEXT_TOKENS=4096 (repeatable)")
    parser.add_argument("--secret", action="append", metavar="NAME",
                        help="extra Space secret taken from your environment, e.g. MEDCHAT_REVIEW_CODE (repeatable)")
    parser.add_argument("--space_token_env", metavar="NAME", default=None,
                        help="environment variable holding the token the Space gets as its HF_TOKEN secret "
                             "(recommended: a read-only token); default: the deploy token")
    parser.add_argument("--include", action="append", metavar="PATTERN",
                        help="extra upload pattern, e.g. eval/samples.jsonl (repeatable)")
    parser.add_argument("--dry_run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)

    token = resolve_token()
    space_token = os.environ.get(args.space_token_env, "").strip() if args.space_token_env else None
    hidden = [token, space_token] + [os.environ.get(name) for name in args.secret or []]
    try:
        if args.space_token_env and not space_token:
            raise DeployError(f"--space_token_env {args.space_token_env}: that environment variable is empty")
        plan = plan_deploy(
            args.space_id,
            adapter=args.adapter,
            base_model=args.base_model,
            hardware=args.hardware,
            private=args.private,
            variables=_parse_variables(args.variable),
            extra_patterns=args.include,
            extra_secrets=args.secret,
            token_available=bool(token),
        )
        print(format_plan(plan), flush=True)
        if args.dry_run:
            print("Dry run: nothing was changed.", flush=True)
            return 0
        deploy(plan, token, space_token=space_token)
    except DeployError as exc:
        print(f"error: {_redact(str(exc), *hidden)}", file=sys.stderr)
        return 2
    except Exception as exc:  # Hub errors: report without ever echoing the token
        print(f"error: deploy failed: {type(exc).__name__}: {_redact(str(exc), *hidden)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
