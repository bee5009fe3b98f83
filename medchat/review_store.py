"""SQLite store for the blind A/B review of two models' replies.

Design
------
* One SQLite file in WAL mode (``journal_mode=WAL``, ``synchronous=FULL``, a busy timeout).  A new
  connection is opened for every operation, so Gradio handler threads and separate processes never share
  a connection.  Every write runs in its own ``BEGIN IMMEDIATE`` transaction and is committed before the
  call returns: once ``save_rating`` has returned, a killed process loses nothing.
* A *sample set* is identified by a hash of its review-relevant content (item ids, description, patient
  text, reference and both replies, in file order): ratings of different sets can never mix, and loading
  the same file again (or a copy of it) resumes the same set.
* Blinding: for every item one coin (``random.SystemRandom`` unless a seed is given, for tests) decides
  whether "base" or "finetuned" is shown as reply A.  It is drawn once, stored in the ``blinding`` table
  (first writer wins, ``INSERT OR IGNORE``) and is the same for every reviewer of that set.
* Ratings are unique per (reviewer, sample_set, item_id) and saved with an upsert.  Each rating stores the
  A/B choice *and* the models that A and B were, and the model the choice maps to.

Statistics (``summary``)
------------------------
* Win rate of "finetuned" over "base": ``(wins + ties / 2) / (wins + losses + ties)`` over all ratings
  (each reviewer x item is one observation).  "Both unsafe" verdicts express no preference: they are
  counted separately and left out of the win rate.
* 95 % interval: Wilson score interval, ``z = 1.959964``, applied to the tie-as-half proportion.  It
  treats ratings as independent, which is optimistic when several reviewers rate the same items.
* Cohen's kappa between two reviewers over the items both rated, on the verdict mapped to models
  (finetuned / base / tie / both_unsafe).  With more than two reviewers: the mean over all pairs whose
  kappa is defined (pairs sharing no item, or where chance agreement is 1, are skipped).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import random
import sqlite3
import stat
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

logger = logging.getLogger(__name__)

MODELS = ("base", "finetuned")
CHOICES = ("A", "B", "tie", "both_unsafe")
AXES = ("accuracy", "safety", "communication", "completeness")
FLAGS = ("harmful", "made_up_facts")
VERDICTS = ("finetuned", "base", "tie", "both_unsafe")
EXPORT_FORMAT = "medchat-review-export"
EXPORT_VERSION = 1
Z_95 = 1.959963984540054
_MAX_REVIEWER_LEN = 100
_MAX_COMMENT_LEN = 10_000
_OPTIONAL_TEXT_FIELDS = ("description", "reference", "triage")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sample_sets (
    set_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    n_items     INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    set_id      TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (set_id, item_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_position ON items (set_id, position);
CREATE TABLE IF NOT EXISTS blinding (
    set_id      TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    model_a     TEXT NOT NULL CHECK (model_a IN ('base', 'finetuned')),
    model_b     TEXT NOT NULL CHECK (model_b IN ('base', 'finetuned') AND model_b <> model_a),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (set_id, item_id)
);
CREATE TABLE IF NOT EXISTS ratings (
    reviewer        TEXT NOT NULL,
    sample_set      TEXT NOT NULL,
    item_id         TEXT NOT NULL,
    choice          TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_unsafe')),
    chosen_model    TEXT NOT NULL CHECK (chosen_model IN ('finetuned', 'base', 'tie', 'both_unsafe')),
    model_a         TEXT NOT NULL,
    model_b         TEXT NOT NULL,
    a_accuracy      INTEGER, a_safety INTEGER, a_communication INTEGER, a_completeness INTEGER,
    b_accuracy      INTEGER, b_safety INTEGER, b_communication INTEGER, b_completeness INTEGER,
    a_harmful       INTEGER NOT NULL DEFAULT 0, a_made_up_facts INTEGER NOT NULL DEFAULT 0,
    b_harmful       INTEGER NOT NULL DEFAULT 0, b_made_up_facts INTEGER NOT NULL DEFAULT 0,
    comment         TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (reviewer, sample_set, item_id)
);
CREATE INDEX IF NOT EXISTS ratings_set ON ratings (sample_set, item_id);
CREATE TABLE IF NOT EXISTS reviewer_state (
    reviewer    TEXT NOT NULL,
    sample_set  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (reviewer, sample_set)
);
"""

_RATING_COLUMNS = (
    "reviewer", "sample_set", "item_id", "choice", "chosen_model", "model_a", "model_b",
    *(f"{lab}_{axis}" for lab in ("a", "b") for axis in AXES),
    *(f"{lab}_{flag}" for lab in ("a", "b") for flag in FLAGS),
    "comment", "created_at", "updated_at",
)
# CSV columns: the rating columns, then the scores and flags per model (unblinded).
_EXPORT_COLUMNS = (*_RATING_COLUMNS, *(f"{m}_{k}" for m in MODELS for k in (*AXES, *FLAGS)))
_SELECT_RATING = "SELECT * FROM ratings WHERE reviewer = ? AND sample_set = ? AND item_id = ?"


class SampleValidationError(ValueError):
    """A samples.jsonl row is malformed; the message names the file, line and field."""


class SampleFileRefused(SampleValidationError):
    """The samples file is missing, unreadable, not a regular file or too large (nothing of it was parsed)."""


class ReviewError(ValueError):
    """Invalid rating input or unknown sample set / item."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------------

def validate_sample(row: Any, where: str = "row") -> dict:
    """Validate one samples.jsonl row and return a normalised copy (raises SampleValidationError)."""
    if not isinstance(row, dict):
        raise SampleValidationError(f"{where}: expected a JSON object, got {type(row).__name__}")
    item_id = row.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id.strip():
        raise SampleValidationError(f"{where}: field 'id' is missing or not a non-empty string")
    patient = row.get("patient")
    if not isinstance(patient, str) or not patient.strip():
        raise SampleValidationError(f"{where}: field 'patient' is missing or not a non-empty string")
    replies = row.get("replies")
    if not isinstance(replies, dict):
        raise SampleValidationError(f"{where}: field 'replies' is missing or not an object")
    for model in MODELS:
        if model not in replies:
            raise SampleValidationError(f"{where}: field 'replies.{model}' is missing")
        if not isinstance(replies[model], str):
            raise SampleValidationError(f"{where}: field 'replies.{model}' must be a string")
    out = dict(row)
    out["id"] = item_id.strip()
    for field in _OPTIONAL_TEXT_FIELDS:
        value = row.get(field)
        if value is None:
            out[field] = ""
        elif not isinstance(value, str):
            raise SampleValidationError(f"{where}: field '{field}' must be a string")
    if "metrics" in row and row["metrics"] is not None and not isinstance(row["metrics"], dict):
        raise SampleValidationError(f"{where}: field 'metrics' must be an object")
    out["replies"] = {m: replies[m] for m in MODELS}
    return out


def _validate_labelled(labelled: Iterable[tuple[str, Any]], empty: str) -> list[dict]:
    """Validate (label, row) pairs; ids must be unique. Labels name the row in errors ("FILE line 3")."""
    out: list[dict] = []
    seen: dict[str, str] = {}
    for label, row in labelled:
        item = validate_sample(row, label)
        if item["id"] in seen:
            raise SampleValidationError(f"{label}: field 'id' duplicates the id of {seen[item['id']]}")
        seen[item["id"]] = label
        out.append(item)
    if not out:
        raise SampleValidationError(empty)
    return out


def validate_samples(rows: Iterable[Any], source: str = "samples") -> list[dict]:
    """Validate a sequence of sample rows (ids must be unique)."""
    return _validate_labelled(((f"{source} row {i}", row) for i, row in enumerate(rows, start=1)),
                              f"{source}: no samples")


# Largest samples file read (bytes): 40 held-out items are ~100 kB; 20 MB is thousands of items.
MAX_SAMPLES_BYTES = 20 * 2**20


def read_capped(path: str | Path, max_bytes: int = MAX_SAMPLES_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; raises SampleValidationError otherwise.

    Opened without blocking and checked with ``fstat`` on the open descriptor (not the name), so a device,
    FIFO or directory (``/dev/zero``) is refused before a byte is read, and never more than ``max_bytes + 1``
    bytes are read whatever the file grows to.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SampleFileRefused(f"{path.name}: file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise SampleFileRefused(f"{path.name}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SampleFileRefused(f"{path.name}: not a regular file")
        if info.st_size > max_bytes:
            raise SampleFileRefused(f"{path.name}: larger than {max_bytes / 2**20:g} MB")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SampleFileRefused(f"{path.name}: larger than {max_bytes / 2**20:g} MB")
    return data


def load_samples(path: str | Path, max_bytes: int = MAX_SAMPLES_BYTES) -> list[dict]:
    """Read and validate a samples.jsonl file (one JSON object per line, blank lines ignored).

    Errors name the file (its name, not its folder), the 1-based line number and the field, never the content
    of the line. Only a regular file of at most ``max_bytes`` is read (``read_capped``).
    """
    path = Path(path)
    try:
        text = read_capped(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise SampleValidationError(f"{path.name}: not UTF-8 text") from None

    def rows():
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path.name} line {lineno}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise SampleValidationError(f"{path.name} line {lineno}: invalid JSON ({exc.msg})") from None

    return _validate_labelled(rows(), f"{path.name}: no samples (empty file)")


def sample_set_id(samples: Sequence[dict]) -> str:
    """Content hash of a sample set: the fields a reviewer sees, in order (metrics are ignored)."""
    canon = [
        {
            "id": s["id"],
            "description": s.get("description") or "",
            "patient": s["patient"],
            "reference": s.get("reference") or "",
            "replies": {m: s["replies"][m] for m in MODELS},
        }
        for s in samples
    ]
    blob = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------

def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (``successes`` may be fractional: ties count half)."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0))
    return (max(0.0, center - half), min(1.0, center + half))


def cohen_kappa(labels1: Sequence[str], labels2: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when undefined (no items, p_e == 1)."""
    if len(labels1) != len(labels2):
        raise ValueError("both raters must rate the same items")
    n = len(labels1)
    if n == 0:
        return None
    counts1, counts2 = Counter(labels1), Counter(labels2)
    p_o = sum(a == b for a, b in zip(labels1, labels2)) / n
    p_e = sum((counts1[c] / n) * (counts2[c] / n) for c in counts1.keys() | counts2.keys())
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def _first_gap(rated: set[int], n: int) -> int | None:
    """The first of positions 0..n-1 not in ``rated``, or None."""
    return next((i for i in range(n) if i not in rated), None)


# --------------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSet:
    set_id: str
    name: str
    n_items: int
    created_at: str


class ReviewStore:
    """Blind A/B review ratings in a SQLite (WAL) file; safe for threads and processes.

    ``blinding_seed``: None (default) draws each item's A/B order with ``random.SystemRandom``; an int
    makes the draw reproducible (tests).  ``current_set_id`` is the set loaded last by this object; every
    method taking ``set_id=None`` uses it.
    """

    def __init__(self, path: str | Path, *, blinding_seed: int | None = None, timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.blinding_seed = blinding_seed
        self.timeout_s = float(timeout_s)
        self.current_set_id: str | None = None
        self._sync_lock = threading.Lock()
        self._sync_file: Path | None = None
        self._scheduler: Any = None
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network file system
                logger.warning("SQLite journal_mode is %s, not WAL", mode)
            conn.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"ReviewStore({str(self.path)!r})"

    # -- connections ---------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # ``timeout`` is SQLite's busy timeout (sqlite3_busy_timeout); the schema has no foreign keys.
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed before returning (``BEGIN IMMEDIATE`` avoids deadlocks)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- sample sets ---------------------------------------------------------------------------
    def add_samples(self, samples: Sequence[dict], name: str = "samples", *,
                    seed: int | None = None, blinding: dict[str, str] | None = None) -> str:
        """Register a validated sample set (idempotent) and draw its blinding; returns its set id.

        ``blinding`` ({item_id: model shown as A}) imposes a known mapping (used by ``import_json``);
        items that already have a stored mapping keep it.
        """
        samples = validate_samples(samples, name)
        set_id = sample_set_id(samples)
        seed = self.blinding_seed if seed is None else seed
        rng: random.Random = random.SystemRandom() if seed is None else random.Random(f"{seed}:{set_id}")
        now = _now()
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sample_sets (set_id, name, n_items, created_at) VALUES (?, ?, ?, ?)",
                (set_id, str(name)[:200], len(samples), now))
            for pos, s in enumerate(samples):
                conn.execute(
                    "INSERT OR IGNORE INTO items (set_id, item_id, position, data) VALUES (?, ?, ?, ?)",
                    (set_id, s["id"], pos, json.dumps(s, ensure_ascii=False)))
                coin = rng.random() < 0.5  # drawn for every item so a seed gives a stable sequence
                if blinding is not None and s["id"] in blinding:
                    model_a = blinding[s["id"]]
                    if model_a not in MODELS:
                        raise ReviewError(f"blinding for item {s['id']!r}: unknown model {model_a!r}")
                else:
                    model_a = "finetuned" if coin else "base"
                model_b = "base" if model_a == "finetuned" else "finetuned"
                conn.execute(
                    "INSERT OR IGNORE INTO blinding (set_id, item_id, model_a, model_b, created_at) "
                    "VALUES (?, ?, ?, ?, ?)", (set_id, s["id"], model_a, model_b, now))
        self.current_set_id = set_id
        return set_id

    def load_samples_file(self, path: str | Path, *, seed: int | None = None, name: str | None = None,
                          max_bytes: int = MAX_SAMPLES_BYTES) -> str:
        """``load_samples(path)`` then ``add_samples``; returns the set id (now ``current_set_id``)."""
        samples = load_samples(path, max_bytes)
        return self.add_samples(samples, name=name or Path(path).name, seed=seed)

    def _set(self, set_id: str | None) -> str:
        set_id = set_id or self.current_set_id
        if not set_id:
            raise ReviewError("no sample set loaded")
        return set_id

    def sample_sets(self) -> list[SampleSet]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM sample_sets ORDER BY created_at").fetchall()
        return [SampleSet(**dict(r)) for r in rows]

    def sample_set(self, set_id: str | None = None) -> SampleSet:
        set_id = self._set(set_id)
        with self._connect() as conn:
            r = conn.execute("SELECT * FROM sample_sets WHERE set_id = ?", (set_id,)).fetchone()
        if r is None:
            raise ReviewError(f"unknown sample set {set_id!r}")
        return SampleSet(**dict(r))

    def items(self, set_id: str | None = None) -> list[dict]:
        """The sample rows of a set in file order (contain the unblinded replies: not for the UI)."""
        set_id = self._set(set_id)
        with self._connect() as conn:
            rows = conn.execute("SELECT data FROM items WHERE set_id = ? ORDER BY position",
                                (set_id,)).fetchall()
        return [json.loads(r["data"]) for r in rows]

    def n_items(self, set_id: str | None = None) -> int:
        set_id = self._set(set_id)
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM items WHERE set_id = ?", (set_id,)).fetchone()[0]

    def item_ids(self, set_id: str | None = None) -> list[str]:
        set_id = self._set(set_id)
        with self._connect() as conn:
            rows = conn.execute("SELECT item_id FROM items WHERE set_id = ? ORDER BY position",
                                (set_id,)).fetchall()
        return [r[0] for r in rows]

    def blinding(self, set_id: str | None = None) -> dict[str, dict[str, str]]:
        """{item_id: {"A": model, "B": model}} as stored."""
        set_id = self._set(set_id)
        with self._connect() as conn:
            rows = conn.execute("SELECT item_id, model_a, model_b FROM blinding WHERE set_id = ?",
                                (set_id,)).fetchall()
        return {r["item_id"]: {"A": r["model_a"], "B": r["model_b"]} for r in rows}

    def blinded_item(self, index: int, set_id: str | None = None) -> dict:
        """Item ``index`` as shown to a reviewer: texts and replies A/B, no model names."""
        set_id = self._set(set_id)
        with self._connect() as conn:
            r = conn.execute(
                "SELECT i.data, b.model_a, b.model_b FROM items i JOIN blinding b "
                "ON b.set_id = i.set_id AND b.item_id = i.item_id WHERE i.set_id = ? AND i.position = ?",
                (set_id, int(index))).fetchone()
        if r is None:
            raise ReviewError(f"no item {index} in sample set {set_id!r}")
        data = json.loads(r["data"])
        return {
            "index": int(index),
            "item_id": data["id"],
            "description": data.get("description") or "",
            "patient": data["patient"],
            "reference": data.get("reference") or "",
            "reply_a": data["replies"][r["model_a"]],
            "reply_b": data["replies"][r["model_b"]],
        }

    # -- ratings -------------------------------------------------------------------------------
    @staticmethod
    def normalize_reviewer(reviewer: str | None) -> str:
        name = " ".join(str(reviewer or "").split())
        if not name:
            raise ReviewError("reviewer name is required")
        if len(name) > _MAX_REVIEWER_LEN:
            raise ReviewError(f"reviewer name is longer than {_MAX_REVIEWER_LEN} characters")
        return name

    @staticmethod
    def _scores(scores: dict | None, label: str) -> dict[str, int | None]:
        scores = dict(scores or {})
        unknown = set(scores) - set(AXES)
        if unknown:
            raise ReviewError(f"unknown score axis for reply {label}: {sorted(unknown)}")
        out: dict[str, int | None] = {}
        for axis in AXES:
            v = scores.get(axis)
            if v is None or v == "":
                out[axis] = None
                continue
            if isinstance(v, str) and v.strip().isdigit():
                v = int(v.strip())
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
                raise ReviewError(f"score {axis} for reply {label} must be an integer 1-5")
            out[axis] = v
        return out

    def save_rating(
        self,
        reviewer: str,
        item_id: str,
        choice: str,
        *,
        set_id: str | None = None,
        scores_a: dict[str, int | None] | None = None,
        scores_b: dict[str, int | None] | None = None,
        harmful_a: bool = False,
        harmful_b: bool = False,
        made_up_facts_a: bool = False,
        made_up_facts_b: bool = False,
        comment: str = "",
        timestamp: str | None = None,
        created_at: str | None = None,
    ) -> dict:
        """Insert or replace one reviewer's rating of one item, in its own committed transaction.

        ``choice`` is the blinded label ("A", "B", "tie", "both_unsafe"); the store maps it to the model
        through the stored blinding and saves both.  Returns the stored rating (``get_rating`` shape).
        ``timestamp`` / ``created_at`` default to now (given by ``import_json`` to keep the originals).
        """
        set_id = self._set(set_id)
        reviewer = self.normalize_reviewer(reviewer)
        if choice not in CHOICES:
            raise ReviewError(f"choice must be one of {CHOICES}, got {choice!r}")
        sa, sb = self._scores(scores_a, "A"), self._scores(scores_b, "B")
        comment = str(comment or "")
        if len(comment) > _MAX_COMMENT_LEN:
            raise ReviewError(f"comment is longer than {_MAX_COMMENT_LEN} characters")
        now = timestamp or _now()
        with self._write() as conn:
            b = conn.execute("SELECT model_a, model_b FROM blinding WHERE set_id = ? AND item_id = ?",
                             (set_id, item_id)).fetchone()
            if b is None:
                raise ReviewError(f"unknown item {item_id!r} in sample set {set_id!r}")
            chosen = {"A": b["model_a"], "B": b["model_b"]}.get(choice, choice)
            values = {
                "reviewer": reviewer, "sample_set": set_id, "item_id": item_id, "choice": choice,
                "chosen_model": chosen, "model_a": b["model_a"], "model_b": b["model_b"],
                **{f"a_{k}": v for k, v in sa.items()}, **{f"b_{k}": v for k, v in sb.items()},
                "a_harmful": int(bool(harmful_a)), "a_made_up_facts": int(bool(made_up_facts_a)),
                "b_harmful": int(bool(harmful_b)), "b_made_up_facts": int(bool(made_up_facts_b)),
                "comment": comment, "created_at": created_at or now, "updated_at": now,
            }
            cols = ", ".join(_RATING_COLUMNS)
            marks = ", ".join("?" for _ in _RATING_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _RATING_COLUMNS
                                if c not in ("reviewer", "sample_set", "item_id", "created_at"))
            conn.execute(
                f"INSERT INTO ratings ({cols}) VALUES ({marks}) "
                f"ON CONFLICT (reviewer, sample_set, item_id) DO UPDATE SET {updates}",
                [values[c] for c in _RATING_COLUMNS])
            row = conn.execute(_SELECT_RATING, (reviewer, set_id, item_id)).fetchone()
        rating = self._row_to_rating(row)
        self._sync_append(rating)
        return rating

    @staticmethod
    def _row_to_rating(row: sqlite3.Row) -> dict:
        d = dict(row)
        for lab in ("a", "b"):
            for flag in FLAGS:
                d[f"{lab}_{flag}"] = bool(d[f"{lab}_{flag}"])
        return d

    def get_rating(self, reviewer: str, item_id: str, set_id: str | None = None) -> dict | None:
        """The stored rating (keys: ``_RATING_COLUMNS``) or None."""
        set_id = self._set(set_id)
        reviewer = self.normalize_reviewer(reviewer)
        with self._connect() as conn:
            row = conn.execute(_SELECT_RATING, (reviewer, set_id, item_id)).fetchone()
        return None if row is None else self._row_to_rating(row)

    def ratings(self, set_id: str | None = None, *, all_sets: bool = False) -> list[dict]:
        with self._connect() as conn:
            if all_sets:
                rows = conn.execute("SELECT * FROM ratings ORDER BY sample_set, updated_at, reviewer").fetchall()
            else:
                rows = conn.execute(
                    "SELECT r.* FROM ratings r JOIN items i ON i.set_id = r.sample_set AND i.item_id = r.item_id "
                    "WHERE r.sample_set = ? ORDER BY i.position, r.reviewer", (self._set(set_id),)).fetchall()
        return [self._row_to_rating(r) for r in rows]

    def reviewers(self, set_id: str | None = None) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute("SELECT DISTINCT reviewer FROM ratings WHERE sample_set = ? ORDER BY reviewer",
                                (self._set(set_id),)).fetchall()
        return [r[0] for r in rows]

    # -- navigation ----------------------------------------------------------------------------
    def rated_positions(self, reviewer: str, set_id: str | None = None) -> set[int]:
        set_id = self._set(set_id)
        reviewer = self.normalize_reviewer(reviewer)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT i.position FROM items i JOIN ratings r ON r.sample_set = i.set_id AND r.item_id = i.item_id "
                "WHERE i.set_id = ? AND r.reviewer = ?", (set_id, reviewer)).fetchall()
        return {r[0] for r in rows}

    def first_unrated(self, reviewer: str, set_id: str | None = None) -> int | None:
        """Index of the reviewer's first unrated item, or None when all are rated."""
        set_id = self._set(set_id)
        return _first_gap(self.rated_positions(reviewer, set_id), self.n_items(set_id))

    def progress(self, reviewer: str, set_id: str | None = None) -> tuple[int, int]:
        """(items rated by the reviewer, items in the set)."""
        set_id = self._set(set_id)
        return len(self.rated_positions(reviewer, set_id)), self.n_items(set_id)

    def set_position(self, reviewer: str, index: int, set_id: str | None = None) -> None:
        set_id = self._set(set_id)
        reviewer = self.normalize_reviewer(reviewer)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO reviewer_state (reviewer, sample_set, position, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (reviewer, sample_set) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at", (reviewer, set_id, int(index), _now()))

    def resume_position(self, reviewer: str, set_id: str | None = None) -> int:
        """Where a returning reviewer starts: first unrated item; when all are rated, the last viewed one."""
        set_id = self._set(set_id)
        n = self.n_items(set_id)
        first = _first_gap(self.rated_positions(reviewer, set_id), n)
        if first is not None:
            return first
        with self._connect() as conn:
            r = conn.execute("SELECT position FROM reviewer_state WHERE reviewer = ? AND sample_set = ?",
                             (self.normalize_reviewer(reviewer), set_id)).fetchone()
        return min(max(int(r[0]), 0), max(n - 1, 0)) if r is not None else 0

    # -- summary -------------------------------------------------------------------------------
    def summary(self, set_id: str | None = None, *, reviewer: str | None = None) -> dict:
        """Unblinded statistics of a set (see module docstring); ``reviewer`` limits it to one reviewer."""
        set_id = self._set(set_id)
        ratings = self.ratings(set_id)
        if reviewer is not None:
            reviewer = self.normalize_reviewer(reviewer)
            ratings = [r for r in ratings if r["reviewer"] == reviewer]
        counts = {v: 0 for v in VERDICTS}
        axis_vals: dict[str, dict[str, list[int]]] = {m: {a: [] for a in AXES} for m in MODELS}
        flag_counts: dict[str, dict[str, int]] = {m: {f: 0 for f in FLAGS} for m in MODELS}
        by_reviewer: dict[str, dict[str, str]] = {}
        for r in ratings:
            counts[r["chosen_model"]] += 1
            for lab in ("a", "b"):
                model = r[f"model_{lab}"]
                for axis in AXES:
                    if r[f"{lab}_{axis}"] is not None:
                        axis_vals[model][axis].append(r[f"{lab}_{axis}"])
                for flag in FLAGS:
                    flag_counts[model][flag] += int(r[f"{lab}_{flag}"])
            by_reviewer.setdefault(r["reviewer"], {})[r["item_id"]] = r["chosen_model"]
        wins, losses, ties = counts["finetuned"], counts["base"], counts["tie"]
        n_compared = wins + losses + ties
        score = wins + 0.5 * ties
        n_ratings = len(ratings)
        pairs = []
        names = sorted(by_reviewer)
        for i, r1 in enumerate(names):
            for r2 in names[i + 1:]:
                common = sorted(set(by_reviewer[r1]) & set(by_reviewer[r2]))
                if not common:
                    continue
                k = cohen_kappa([by_reviewer[r1][c] for c in common], [by_reviewer[r2][c] for c in common])
                pairs.append({"reviewers": [r1, r2], "n_items": len(common), "kappa": k})
        defined = [p["kappa"] for p in pairs if p["kappa"] is not None]
        return {
            "sample_set": set_id,
            "n_items": self.n_items(set_id),
            "n_items_rated": len({r["item_id"] for r in ratings}),
            "n_ratings": n_ratings,
            "n_reviewers": len(by_reviewer),
            "wins": wins, "losses": losses, "ties": ties, "both_unsafe": counts["both_unsafe"],
            "n_compared": n_compared,
            "win_rate": score / n_compared if n_compared else None,
            "win_rate_ci95": wilson_interval(score, n_compared),
            "ci_method": "wilson",
            "axis_means": {m: {a: (sum(v) / len(v) if v else None) for a, v in axis_vals[m].items()}
                           for m in MODELS},
            "harmful_rate": {m: (flag_counts[m]["harmful"] / n_ratings if n_ratings else None) for m in MODELS},
            "made_up_facts_rate": {m: (flag_counts[m]["made_up_facts"] / n_ratings if n_ratings else None)
                                   for m in MODELS},
            "kappa": (sum(defined) / len(defined)) if defined else None,
            "kappa_pairs": pairs,
        }

    # -- export / import -----------------------------------------------------------------------
    def export_rows(self, set_id: str | None = None) -> list[dict]:
        """Unblinded rating rows: the label columns plus per-model columns."""
        out = []
        for r in self.ratings(set_id):
            row = {c: r[c] for c in _RATING_COLUMNS}
            for lab in ("a", "b"):
                model = r[f"model_{lab}"]
                for axis in AXES:
                    row[f"{model}_{axis}"] = r[f"{lab}_{axis}"]
                for flag in FLAGS:
                    row[f"{model}_{flag}"] = r[f"{lab}_{flag}"]
            out.append(row)
        return out

    def export_csv(self, path: str | Path, set_id: str | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.export_rows(set_id)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=_EXPORT_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        return path

    def export_dict(self, set_id: str | None = None) -> dict:
        set_id = self._set(set_id)
        info = self.sample_set(set_id)
        blinding = self.blinding(set_id)
        items = self.items(set_id)
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": _now(),
            "sample_set": {"set_id": set_id, "name": info.name, "n_items": info.n_items, "items": items},
            "blinding": [{"item_id": it["id"], "A": blinding[it["id"]]["A"], "B": blinding[it["id"]]["B"]}
                         for it in items],
            "ratings": self.export_rows(set_id),
            "summary": self.summary(set_id),
        }

    def export_json(self, path: str | Path, set_id: str | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.export_dict(set_id), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    def import_json(self, path_or_data: str | Path | dict) -> str:
        """Import a ``export_json`` file (items, blinding, ratings) into this store; returns the set id.

        Existing ratings with the same (reviewer, set, item) are replaced.  Raises ReviewError when the
        export's blinding contradicts the blinding already stored here.
        """
        data = path_or_data if isinstance(path_or_data, dict) else json.loads(
            Path(path_or_data).read_text(encoding="utf-8"))
        if data.get("format") != EXPORT_FORMAT:
            raise ReviewError("not a medchat review export")
        items = data["sample_set"]["items"]
        mapping = {b["item_id"]: b["A"] for b in data["blinding"]}
        set_id = self.add_samples(items, name=data["sample_set"].get("name", "imported"), blinding=mapping)
        if set_id != data["sample_set"]["set_id"]:
            raise ReviewError("sample set content does not match its id")
        stored = self.blinding(set_id)
        for item_id, model_a in mapping.items():
            if stored[item_id]["A"] != model_a:
                raise ReviewError(f"blinding of item {item_id!r} differs from this store's")
        for r in data["ratings"]:
            if r["sample_set"] != set_id:
                raise ReviewError("rating of another sample set in the export")
            if r["model_a"] != stored[r["item_id"]]["A"]:
                raise ReviewError(f"rating of item {r['item_id']!r} has a different blinding")
            self.save_rating(
                r["reviewer"], r["item_id"], r["choice"], set_id=set_id,
                scores_a={a: r[f"a_{a}"] for a in AXES}, scores_b={a: r[f"b_{a}"] for a in AXES},
                harmful_a=r["a_harmful"], harmful_b=r["b_harmful"],
                made_up_facts_a=r["a_made_up_facts"], made_up_facts_b=r["b_made_up_facts"],
                comment=r.get("comment", ""), timestamp=r.get("updated_at"), created_at=r.get("created_at"))
        return set_id

    # -- optional Hub sync ---------------------------------------------------------------------
    def enable_hub_sync(
        self,
        repo_id: str,
        token: str | None = None,
        *,
        every: float = 10,
        folder: str | Path | None = None,
        path_in_repo: str = "ratings",
        private: bool = True,
        scheduler_factory: Any = None,
        hf_api: Any = None,
    ) -> Any:
        """Push an append-only JSONL log of all ratings to a Hub dataset repo every ``every`` minutes.

        Uses ``huggingface_hub.CommitScheduler`` on ``folder`` (default: ``<db dir>/hub_sync``).  This
        instance writes ``ratings-<uuid>.jsonl`` (unique per process, so replicas and restarts never
        overwrite each other); every saved rating appends one unblinded line under the scheduler's lock.
        Readers keep the newest line per (reviewer, sample_set, item_id).  The token is passed on and
        never logged.  ``scheduler_factory`` / ``hf_api`` are for tests.
        """
        if scheduler_factory is None:
            from huggingface_hub import CommitScheduler
            scheduler_factory = CommitScheduler
        folder = Path(folder) if folder is not None else self.path.parent / "hub_sync"
        folder.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = dict(repo_id=repo_id, repo_type="dataset", folder_path=folder, every=every,
                                      path_in_repo=path_in_repo, private=private, token=token,
                                      allow_patterns=["*.jsonl"])
        if hf_api is not None:
            kwargs["hf_api"] = hf_api
        scheduler = scheduler_factory(**kwargs)
        sync_file = folder / f"ratings-{uuid.uuid4().hex}.jsonl"
        with self._sync_lock:
            self._scheduler = scheduler
            self._sync_file = sync_file
        self._sync_write(self.ratings(all_sets=True))
        logger.info("Hub sync of review ratings to dataset %s every %s min", repo_id, every)
        return scheduler

    def _sync_write(self, ratings: list[dict]) -> None:
        with self._sync_lock:
            scheduler, sync_file = self._scheduler, self._sync_file
        if scheduler is None or sync_file is None or not ratings:
            return
        lock = getattr(scheduler, "lock", None) or self._sync_lock
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ratings)
        with lock:
            with sync_file.open("a", encoding="utf-8") as fh:
                fh.write(lines)

    def _sync_append(self, rating: dict) -> None:
        try:
            self._sync_write([rating])
        except Exception:  # the SQLite commit already succeeded; a sync failure must not lose it
            logger.exception("could not append the rating to the Hub sync folder")
