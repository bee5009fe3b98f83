"""The red-flag catalogue: presentations written from public triage guidance, as data files.

Each file under `data/catalogue/` is a YAML list of presentations:

    - id: heart_attack                 # unique across the catalogue
      level: emergency                 # emergency | crisis | urgent | routine (routine = a look-alike)
      label: possible heart attack     # words used in Triage.reason
      tip: heart                       # key of texts.TIPS for the emergency guidance (optional)
      source: https://www.nhs.uk/...   # the public guidance the presentation is written from
      looks_like: heart_attack         # look-alikes only: which red flag they resemble (optional)
      phrasings:                       # lay wording: short, rambling, third person, typos, slang,
        - "..."                        # resolved-but-dangerous, other languages

The phrasings are the exemplars of the learned signal (`learned.py`); the rules do not read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from medchat.safety.texts import LEVELS, TIPS

CATALOGUE_DIR = Path(__file__).resolve().parent / "data" / "catalogue"
REQUIRED = ("id", "level", "label", "source", "phrasings")


class CatalogueError(ValueError):
    """A catalogue file that cannot be used: says which file, which entry and which field."""


@dataclass(frozen=True)
class Presentation:
    id: str
    level: str
    label: str
    source: str
    phrasings: tuple[str, ...]
    tip: str = ""
    looks_like: str = ""
    file: str = ""


def _parse(path: Path) -> list[Presentation]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise CatalogueError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(entries, list):
        raise CatalogueError(f"{path}: expected a list of presentations at the top level")
    out = []
    for i, e in enumerate(entries):
        where = f"{path.name} entry {i + 1} ({e.get('id', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict):
            raise CatalogueError(f"{where}: expected a mapping with fields {', '.join(REQUIRED)}")
        missing = [k for k in REQUIRED if not e.get(k)]
        if missing:
            raise CatalogueError(f"{where}: missing field(s) {', '.join(missing)}")
        if e["level"] not in LEVELS:
            raise CatalogueError(f"{where}: level {e['level']!r} is not one of {', '.join(LEVELS)}")
        if e.get("tip") and e["tip"] not in TIPS:
            raise CatalogueError(f"{where}: tip {e['tip']!r} is not a key of texts.TIPS ({', '.join(TIPS)})")
        phrasings = e["phrasings"]
        if not isinstance(phrasings, list):
            raise CatalogueError(f"{where}: phrasings must be a list of strings")
        for j, p in enumerate(phrasings):
            if not isinstance(p, str) or not p.strip():
                raise CatalogueError(f"{where}: phrasing {j + 1} is {p!r}, not text (quote it if it contains ': ')")
        out.append(Presentation(
            id=str(e["id"]), level=e["level"], label=str(e["label"]), source=str(e["source"]),
            phrasings=tuple(p.strip() for p in phrasings), tip=e.get("tip") or "",
            looks_like=e.get("looks_like") or "", file=path.name,
        ))
    return out


def load_catalogue(directory: str | Path = CATALOGUE_DIR) -> tuple[Presentation, ...]:
    """Every presentation of every *.yaml file in `directory`; ids must be unique."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CatalogueError(f"{directory}: no catalogue files (*.yaml)")
    seen: dict[str, str] = {}
    out: list[Presentation] = []
    for path in files:
        for p in _parse(path):
            if p.id in seen:
                raise CatalogueError(f"{path.name}: id {p.id!r} is already used in {seen[p.id]}")
            seen[p.id] = path.name
            out.append(p)
    return tuple(out)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Presentation, ...]:
    return load_catalogue()
