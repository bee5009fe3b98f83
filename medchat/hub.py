"""The Hub side of a trained adapter: its model card and its upload.

The token comes from `HF_TOKEN` or `huggingface-cli login` (huggingface_hub finds it) and is never printed or
written into the card. `load_recipe(adapter)` reads the recipe an adapter was trained with (`recipe.yaml`, from its
folder or its Hub repo): evaluation rebuilds its held-out split from it, the app takes its system prompt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import HfApi, ModelCard, ModelCardData

logger = logging.getLogger(__name__)

RECIPE_FILENAME = "recipe.yaml"

from medchat.offline_model import OFFLINE_HUB_ID, is_offline_default

# What a pushed adapter folder holds; checkpoints and optimizer state stay local.
UPLOAD_PATTERNS = [
    "adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "chat_template.jinja", "README.md", RECIPE_FILENAME, "run_summary.json",
    "loss_curve.png",
    "eval/metrics.json", "eval/report.md", "eval/*.png",
]
MEDICAL_DISCLAIMER = (
    "This adapter produces general health information for education and triage support. It is **not a doctor**, "
    "does not diagnose, and must not replace a qualified healthcare professional. In an emergency, call your local "
    "emergency number. The medchat app adds this disclaimer and emergency/crisis guidance to every reply by code."
)

CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A LoRA adapter for **{{ base_model }}**, fine-tuned with medchat (QLoRA recipe, TRL `SFTTrainer`)
on patient–doctor conversations to answer like a careful doctor: acknowledge, assess, advise, and say when to see a
doctor.

> ⚕️ {{ disclaimer }}

## Training

| | |
|---|---|
| base model | `{{ base_model }}` |
| data | `{{ dataset }}` ({{ train_rows }} train / {{ eval_rows }} held-out conversations after cleaning) |
| method | LoRA r={{ lora.r }}, alpha={{ lora.alpha }}, dropout={{ lora.dropout }} on {{ lora.target_modules | join(", ") }}; loss on assistant tokens only |
| steps / tokens | {{ steps }} optimizer steps, {{ tokens_seen }} tokens |
| losses | train {{ train_loss }}, eval {{ eval_loss }} (perplexity {{ eval_perplexity }}) |
| wall time | {{ wall_time_s }} s on {{ hardware }} |

Data cleaning removed consultation-site boilerplate (greetings, doctor signatures and names, closers, links) and
dropped cut-off or boilerplate-only replies; counts are in `run_summary.json`.

## Evaluation
{% if metrics_table %}
Held-out conversations scored by `python -m medchat.evaluate` (n = {{ eval_n }}): reference-reply NLL under teacher
forcing (lower is better), ROUGE-L against the reference reply, and automatic answer checks on generated replies.

{{ metrics_table }}
{% else %}
No evaluation report was produced for this run (`final_eval_limit: 0`). Run `python -m medchat.evaluate`.
{% endif %}

{% if notes %}
{{ notes }}
{% endif %}
{% if recipe %}
## Recipe

The resolved training recipe is `recipe.yaml`, next to the weights: `python -m train --config recipe.yaml` trains
this adapter again, and `python -m medchat.evaluate --adapter ADAPTER` rebuilds the held-out split it was not
trained on.

<details><summary>recipe.yaml</summary>

```yaml
{{ recipe }}
```

</details>
{% endif %}
## Intended use

Research and demonstration of a medical-information chat assistant; a starting point for supervised, reviewed
deployments. Serve it with the medchat app, which adds triage guidance for emergencies and crises and a disclaimer
to every reply.

## Limitations

- Trained on public consultation transcripts whose advice is of uneven quality; replies can be wrong, outdated or
  incomplete, and can state made-up facts with confidence.
- No access to the patient's history, examination or tests; it cannot diagnose.
- English only; not evaluated for children's dosing, pregnancy, or rare diseases.
- Lower NLL means closer to the reference style, not safer or more correct answers: read the blind review numbers.
"""


def metrics_table(metrics: dict) -> str:
    """Markdown table of base vs fine-tuned from `medchat.evaluate`'s metrics.json."""
    models = metrics["models"]
    names = [name for name in ("base", "finetuned") if name in models]
    keys = [key for key in models[names[0]] if isinstance(models[names[0]][key], (int, float))]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        cells = []
        for name in names:
            value = models[name].get(key)
            cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_model_card(summary: dict, metrics: dict | None, hub_model_id: str | None = None, notes: str = "",
                     recipe: str | None = None) -> ModelCard:
    """The adapter's model card; `notes` is extra Markdown (e.g. a blind-review section) placed before Intended use;
    `recipe` is the text of the adapter's recipe.yaml (written without secrets by `medchat.training`)."""
    base_model = summary["base_model"]
    hub_base = OFFLINE_HUB_ID if is_offline_default(base_model) else base_model
    dataset = summary.get("dataset") or "local data"
    datasets = [dataset] if dataset.count("/") == 1 and not Path(dataset).exists() else None
    card_data = ModelCardData(
        base_model=hub_base,
        library_name="peft",
        datasets=datasets,
        license="apache-2.0" if "SmolLM" in hub_base else "llama3",
        language=["en"],
        pipeline_tag="text-generation",
        tags=["medical", "lora", "qlora", "sft", "trl", "medchat"],
        model_name=hub_model_id or "medchat adapter",
    )
    data = summary.get("data") or {}
    return ModelCard.from_template(
        card_data,
        template_str=CARD_TEMPLATE,
        title=hub_model_id or "medchat adapter",
        base_model=hub_base,
        dataset=dataset,
        train_rows=data.get("train_rows", "?"),
        eval_rows=data.get("eval_rows", "?"),
        lora=summary["lora"],
        steps=summary["steps"],
        tokens_seen=f"{summary['tokens_seen']:,}",
        train_loss=_fmt(summary.get("train_loss")),
        eval_loss=_fmt(summary.get("eval_loss")),
        eval_perplexity=_fmt(summary.get("eval_perplexity")),
        wall_time_s=summary.get("wall_time_s"),
        hardware=summary.get("versions", {}).get("gpu", "CPU"),
        disclaimer=MEDICAL_DISCLAIMER,
        metrics_table=metrics_table(metrics) if metrics else "",
        eval_n=metrics.get("n") if metrics else 0,
        notes=notes,
        recipe=_recipe_body(recipe),
    )


def _recipe_body(recipe: str | None) -> str:
    """The recipe without its comment header (the card says the same in prose)."""
    if not recipe:
        return ""
    return "\n".join(line for line in recipe.splitlines() if not line.startswith("#")).strip()


def load_recipe(adapter: str | Path) -> dict | None:
    """The recipe an adapter was trained with (its `recipe.yaml` as a dict of `MedchatArguments`, `DataRecipe` and
    `SFTConfig` fields), from an adapter folder or a Hub model repo (downloaded into the HF cache; works offline once
    cached). None for an adapter without one (trained before recipes were written), or a Hub repo unreachable
    offline and not cached."""
    import yaml

    folder = Path(adapter)
    if folder.is_dir():
        path = folder / RECIPE_FILENAME
        if not path.is_file():
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        try:
            path = Path(hf_hub_download(str(adapter), RECIPE_FILENAME, token=os.environ.get("HF_TOKEN") or None))
        except LocalEntryNotFoundError:  # offline (or the Hub unreachable) and not in the cache
            logger.warning("no %s for %s: offline and not cached", RECIPE_FILENAME, adapter)
            return None
        except EntryNotFoundError:  # the repo has no recipe: an adapter from before recipes
            return None
    recipe = yaml.safe_load(path.read_text())
    if not isinstance(recipe, dict):
        raise ValueError(f"{RECIPE_FILENAME} of {adapter} is not a mapping of recipe fields")
    return recipe


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def push_adapter(folder: Path, repo_id: str, private: bool = False, api: HfApi | None = None) -> str:
    """Create the model repo if needed and upload the adapter folder (only the files a user needs)."""
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        allow_patterns=UPLOAD_PATTERNS,
        commit_message="Upload medchat adapter",
    )
    return getattr(commit, "commit_url", None) or f"https://huggingface.co/{repo_id}"


def system_prompt_of(adapter: str | Path | None) -> str | None:
    """The system prompt an adapter was trained with (from its recipe.yaml), for serving it the same way; None when
    there is no adapter or it has no recipe. An empty string is a real answer: trained without a system message."""
    recipe = load_recipe(adapter) if adapter else None
    return recipe.get("system_prompt") if recipe else None
