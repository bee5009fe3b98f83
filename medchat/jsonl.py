"""JSON-lines files read one object at a time, each bad line named by its number.

Why not `datasets.load_dataset("json")`: these callers (MedQuAD corpus, labelled triage cases) must stop at a bad
line and say which one; Arrow refuses the whole file with a parser offset.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator


def json_objects(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a .jsonl or .jsonl.gz file; a line that is not a JSON
    object raises `error` naming the file and line."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise error(f"{path}:{line_no}: not valid JSON ({err.msg}); fix or remove the line.") from err
            if not isinstance(row, dict):
                raise error(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}.")
            yield line_no, row
