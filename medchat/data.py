"""Training data: load, map, validate, clean, dedupe, mix and split patient-doctor conversations.

`build_splits(source, recipe)` turns a Hub dataset id or a local file into two `datasets.Dataset`
splits with the columns ``id, messages, description, patient, reference, source`` (see
docs/architecture.md) and a report of every count.

Sources and column mapping (column names are case-insensitive; extra columns are ignored):

- **dialogue**: ``Patient`` -> user turn, ``Doctor`` -> assistant reply, optional ``Description``
  (the site's one-line summary of the question) as context. Aliases: user ``input``/``prompt``,
  assistant ``output``/``response``, context ``context``.
- **messages**: a ``messages`` list of ``{"role", "content"}`` with roles system/user/assistant,
  ending with an assistant turn. System messages in the data are dropped: every conversation
  gets the recipe's ``system_prompt``, so training and the app use the same one.
- **qa** (MedQuAD): ``question``/``answer``. Templated questions ("What is (are) X ?", "How to
  diagnose X ?", ...) are rewritten into patient-style messages ("Can you explain what X is?"),
  phrasing chosen per row by a hash so the set is varied but deterministic.

Local files: ``.jsonl``/``.json`` (JSON lines, a list of objects), ``.csv``, ``.parquet``, each also
``.gz``, read with ``datasets.load_dataset("json" | "csv" | "parquet", data_files=PATH)``; rows are
numbered as an editor shows them (JSON lines: the line number; CSV: the record after the header).
When Arrow refuses a JSON file as a whole (an invalid line, a ``{"data": [...]}`` document), it is
read line by line here, to name every bad line and keep the rest. Anything else that is not an
existing path is treated as a Hub id and read with ``datasets.load_dataset(id,
split=recipe.dataset_split)``.

Validation: a missing / empty / non-text field, an unknown role, or messages that do not end
with an assistant turn make the row bad. Every bad row of a source is reported at once in one
`BadRowsError` (a `DataValidationError`) naming the file, then per problem the field and the
1-based row numbers. With ``skip_bad_rows`` such rows are skipped and counted (``bad_rows_skipped``,
``bad_row_reasons``) and listed by number (``bad_row_numbers``) in the report; nothing else is lost.
A file-wide problem (no supported columns, unsupported type) cannot be skipped and says so.

Cleaning, in this order, every drop counted under ``dropped`` in the report:

1. ``clean_boilerplate``: `medchat.boilerplate.strip_boilerplate` on every assistant turn
   (rule counts under ``boilerplate_removed``); then drop a reply that is
   ``empty_after_cleaning``, ``mostly_boilerplate`` (more than ``max_boilerplate_fraction`` of
   its words removed) or still ``impersonation`` (a site or a doctor's name survived).
   ``strip_dosing``: `medchat.dosing.strip_dosing` removes sentences that prescribe a specific
   medicine dose or schedule ("fluconazole 150 mg once a week"), counted under
   ``dosing_sentences_removed``; an assistant that has examined nobody must not prescribe, and a
   model trained on such sentences learns to invent prescriptions (see the blind review).
2. ``too_short``: fewer than ``min_reply_words`` words (0 disables).
3. ``truncated`` (``drop_truncated``): the reply stops mid-sentence
   (`medchat.answer_checks.looks_truncated`).
4. ``duplicate``: same normalized patient text and reply as a row already kept.

Split (leak-free, deterministic, independent of row order): each row's side is decided by a
hash of ``split_seed`` and its *normalized patient text* (lowercase, punctuation removed,
whitespace collapsed; all user turns for messages rows), so identical or near-identical
questions always land on the same side. ``eval_fraction`` of the patient texts go to eval;
``eval_max_rows`` caps eval by keeping the lowest hashes (whole patient groups) and returns the
rest to train. Rows are sorted by hash, so the output order does not depend on the input order.

Retrieval context (``retrieval_context``): each row's system prompt gets the trusted passages retrieved for its
user turn (`medchat.knowledge.add_retrieval_context`), laid out exactly as the app gives them with retrieval on.

Mixing: ``mix_dataset`` (e.g. MedQuAD) goes through the same loading/validation/cleaning, its
answers are trimmed to ``mix_max_answer_words`` at a paragraph or sentence end, and it only
feeds train: ``mix_weight`` is the fraction of the final train set drawn from it (the lowest
hashes, so the choice is deterministic). Mix rows whose patient text is in eval are left out.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from medchat.answer_checks import looks_truncated
from medchat.boilerplate import impersonation_findings, normalize_spacing, strip_boilerplate
from medchat.dosing import strip_dosing

logger = logging.getLogger(__name__)

__all__ = [
    "DataRecipe",
    "BadRowsError",
    "DataSourceNotFound",
    "DataValidationError",
    "Splits",
    "build_splits",
    "load_conversations",
    "normalize_patient_text",
    "rewrite_medquad_question",
    "trim_answer",
    "DEFAULT_SYSTEM_PROMPT",
    "COLUMNS",
]

DEFAULT_SYSTEM_PROMPT = (
    "You are medchat, a careful and helpful medical information assistant. You are not a doctor and you "
    "cannot examine the person, so do not diagnose with certainty or claim to be a doctor. Acknowledge the "
    "concern briefly, explain the most likely causes in plain language, give practical and safe self-care "
    "advice, and say clearly when and how urgently to see a doctor; for warning signs of an emergency, tell "
    "them to seek emergency care now. Do not greet with a website name, sign with a name, or add a signature."
)

COLUMNS = ("id", "messages", "description", "patient", "reference", "source")
ROLES = ("system", "user", "assistant")
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".parquet")

# Column aliases, lowercase. The first present wins.
USER_COLUMNS = ("patient", "input", "prompt")
ASSISTANT_COLUMNS = ("doctor", "output", "response")
CONTEXT_COLUMNS = ("description", "context")
SKIP_HINT = "fix these rows, or pass --skip_bad_rows to skip them (their numbers are listed in the report)"
# Row numbers listed per problem in one error message; the report (with --skip_bad_rows) lists them all.
MAX_ROWS_LISTED = 1000


@dataclass
class DataRecipe:
    """Data section of a training recipe. Flat, simple types so `TrlParser` can hold it next to `SFTConfig`."""

    dataset: str = field(
        default="ruslanmv/ai-medical-chatbot",
        metadata={"help": "Hub dataset id or local .jsonl/.jsonl.gz/.json/.csv/.parquet file."},
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to read from a Hub dataset."})
    system_prompt: str = field(
        default=DEFAULT_SYSTEM_PROMPT,
        metadata={"help": "System message of every conversation (system messages in the data are dropped)."},
    )
    use_description: bool = field(
        default=True,
        metadata={"help": "Prepend the Description column to the user turn when it adds something."},
    )
    eval_fraction: float = field(default=0.1, metadata={"help": "Fraction of patient texts held out for eval."})
    eval_max_rows: int | None = field(
        default=None, metadata={"help": "Cap on eval rows; the rest of the held-out rows go back to train."}
    )
    max_rows: int | None = field(default=None, metadata={"help": "Read at most this many rows of the main source."})
    split_seed: int = field(default=42, metadata={"help": "Seed of the hash that assigns train/eval."})
    skip_bad_rows: bool = field(
        default=False, metadata={"help": "Skip (and count) invalid rows instead of stopping with an error."}
    )
    clean_boilerplate: bool = field(
        default=True, metadata={"help": "Strip site greetings, signatures, closers and links from replies."}
    )
    strip_dosing: bool = field(
        default=True, metadata={"help": "Remove sentences that prescribe a specific medicine dose or schedule."}
    )
    min_reply_words: int = field(default=20, metadata={"help": "Drop replies shorter than this (0 = keep all)."})
    max_boilerplate_fraction: float = field(
        default=0.5, metadata={"help": "Drop a reply if cleaning removed more than this fraction of its words."}
    )
    drop_truncated: bool = field(default=True, metadata={"help": "Drop replies that stop mid-sentence."})
    mix_dataset: str | None = field(
        default=None, metadata={"help": "Optional second source mixed into train only (e.g. MedQuAD jsonl.gz)."}
    )
    mix_weight: float = field(
        default=0.0, metadata={"help": "Fraction of the final train set drawn from mix_dataset (0 <= w < 1)."}
    )
    mix_max_answer_words: int = field(
        default=250, metadata={"help": "Trim mix answers to about this many words at a paragraph/sentence end."}
    )
    retrieval_context: bool = field(
        default=False,
        metadata={"help": "Add the trusted passages retrieved for each user turn to its system prompt, as the app "
                          "does with retrieval on (medchat.knowledge), so the model learns to use them."},
    )


class DataValidationError(ValueError):
    """Data that cannot become conversations: one row (file, 1-based row, field) or the whole file (row None).

    ``fixable_by_skipping`` says whether ``--skip_bad_rows`` would help: it does for a bad row, not for a file
    with the wrong columns or type.
    """

    def __init__(self, file: str, row: int | None, field_name: str | None, problem: str,
                 fixable_by_skipping: bool | None = None):
        self.file, self.row, self.field, self.problem = file, row, field_name, problem
        self.fixable_by_skipping = row is not None if fixable_by_skipping is None else fixable_by_skipping
        where = f"{file}"
        if row is not None:
            where += f": row {row}"
        if field_name:
            where += f": field '{field_name}'"
        super().__init__(f"{where}: {problem}" + (f"; {SKIP_HINT}" if self.fixable_by_skipping else ""))

    @property
    def reason(self) -> str:
        """The problem without the row number, for counting in the report."""
        return f"field '{self.field}': {self.problem}" if self.field else self.problem


class BadRowsError(DataValidationError):
    """Every bad row of a source in one message, grouped by problem: "field 'Doctor': empty: rows 2, 9"."""

    def __init__(self, file: str, errors: list[DataValidationError]):
        self.errors = errors
        by_reason = _rows_by_reason(errors)
        lines = [f"{file}: {len(errors)} bad row{'s' if len(errors) != 1 else ''}:"]
        for reason, rows in by_reason.items():
            listed = ", ".join(map(str, rows[:MAX_ROWS_LISTED]))
            more = f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else ""
            lines.append(f"  {reason}: row{'s' if len(rows) != 1 else ''} {listed}{more}")
        lines.append(SKIP_HINT[0].upper() + SKIP_HINT[1:] + ".")
        first = errors[0]
        self.file, self.row, self.field, self.problem = file, first.row, first.field, first.problem
        self.fixable_by_skipping = True
        ValueError.__init__(self, "\n".join(lines))


class DataSourceNotFound(DataValidationError, FileNotFoundError):
    """A local data file that does not exist (and does not look like a Hub id)."""

    def __init__(self, message: str):
        self.file, self.row, self.field, self.problem = None, None, None, message
        self.fixable_by_skipping = False
        ValueError.__init__(self, message)


def _rows_by_reason(errors: list[DataValidationError]) -> dict[str, list[int]]:
    by_reason: dict[str, list[int]] = {}
    for e in errors:
        by_reason.setdefault(e.reason, []).append(e.row)
    return by_reason


@dataclass
class Splits:
    train: Any  # datasets.Dataset
    eval: Any  # datasets.Dataset
    report: dict


@dataclass
class _Conv:
    """One conversation on its way through the pipeline."""

    messages: list[dict]  # without the system message
    patient: str
    description: str
    key: str  # normalized user text: dedupe + split
    source: str
    reply_raw: str = ""


# --------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------
def normalize_patient_text(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: the identity used for dedupe and split."""
    text = (text or "").lower()
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def _hash01(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _short_hash(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _clean_ws(text: str) -> str:
    """Trim, unify newlines, collapse runs of spaces; keep paragraph breaks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _description_adds(description: str, patient: str) -> bool:
    """The description is worth prepending: not empty and not already said by the patient."""
    d, p = normalize_patient_text(description), normalize_patient_text(patient)
    if not d or d in p:
        return False
    dw = set(d.split())
    return len(dw & set(p.split())) / len(dw) < 0.9


# MedQuAD question templates -> patient-style phrasings (chosen per row by hash).
_QUESTION_TEMPLATES: list[tuple[re.Pattern, tuple[str, ...]]] = [
    (re.compile(r"^what (?:is|are) \(are\) (?P<x>.+?)$", re.I),
     ("Can you explain what {x} is?", "What is {x}? I'd like to understand it.", "Could you tell me what {x} is?")),
    (re.compile(r"^do you have information about (?P<x>.+?)$", re.I),
     ("Can you tell me about {x}?", "What should I know about {x}?")),
    (re.compile(r"^what are the (?:signs and )?symptoms (?:of|for) (?P<x>.+?)$", re.I),
     ("What are the symptoms of {x}?", "What signs and symptoms does {x} cause?", "How would I know if I have {x}? What are the symptoms?")),
    (re.compile(r"^what are the treatments? for (?P<x>.+?)$", re.I),
     ("How is {x} treated?", "What treatment options are there for {x}?", "What can be done to treat {x}?")),
    (re.compile(r"^is (?P<x>.+?) inherited$", re.I),
     ("Is {x} inherited? Could it run in my family?", "Can {x} be passed down in families?")),
    (re.compile(r"^how many people are affected by (?P<x>.+?)$", re.I),
     ("How common is {x}?", "How many people get {x}?")),
    (re.compile(r"^what are the genetic changes related to (?P<x>.+?)$", re.I),
     ("What genetic changes cause {x}?", "Which genes are involved in {x}?")),
    (re.compile(r"^what causes (?P<x>.+?)$", re.I),
     ("What causes {x}?", "Why does someone get {x}?")),
    (re.compile(r"^how to diagnose (?P<x>.+?)$", re.I),
     ("How is {x} diagnosed?", "What tests are used to diagnose {x}?")),
    (re.compile(r"^what research \(or clinical trials\) is being done for (?P<x>.+?)$", re.I),
     ("Is there any research or are there clinical trials on {x}?", "What research is being done on {x}?")),
    (re.compile(r"^what is the outlook for (?P<x>.+?)$", re.I),
     ("What is the outlook for someone with {x}?", "What is the prognosis of {x}?")),
    (re.compile(r"^who is at risk for (?P<x>.+?)\??$", re.I),
     ("Who is at risk of {x}?", "Am I at risk of {x}? Who usually gets it?")),
    (re.compile(r"^what to do for (?P<x>.+?)$", re.I),
     ("What should I do about {x}?", "What can I do to manage {x}?")),
    (re.compile(r"^how to prevent (?P<x>.+?)$", re.I),
     ("How can {x} be prevented?", "What can I do to prevent {x}?")),
    (re.compile(r"^what are the stages of (?P<x>.+?)$", re.I),
     ("What are the stages of {x}?",)),
    (re.compile(r"^what are the complications of (?P<x>.+?)$", re.I),
     ("What complications can {x} cause?", "What are the possible complications of {x}?")),
    (re.compile(r"^where to find support for people with (?P<x>.+?)$", re.I),
     ("Where can I find support for living with {x}?",)),
]


def rewrite_medquad_question(question: str, seed_key: str = "") -> str:
    """Rewrite a templated MedQuAD question into a patient-style message.

    "What is (are) Gout ?" -> "Can you explain what Gout is?". Unknown forms are kept, with the
    spacing before "?" fixed and the first letter capitalised.
    """
    q = " ".join((question or "").split())
    core = re.sub(r"\s*\?+\s*$", "", q).strip()
    for rx, phrasings in _QUESTION_TEMPLATES:
        m = rx.match(core)
        if m and m.group("x").strip(" ?"):
            x = m.group("x").strip(" ?")
            pick = int(_hash01(0, seed_key or q) * len(phrasings)) % len(phrasings)
            return phrasings[pick].format(x=x)
    if not core:
        return q
    core = core[0].upper() + core[1:]
    return core + ("?" if q.endswith("?") or re.match(r"(?i)^(what|how|who|why|when|where|is|are|can|do|does)\b", core) else "")


def trim_answer(text: str, max_words: int) -> str:
    """Keep whole paragraphs up to ~max_words; if the first paragraph alone is longer, cut it at the
    last sentence end within the budget (never mid-sentence)."""
    if max_words <= 0 or len(text.split()) <= max_words:
        return text
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n(?=\s*\S)", text) if p.strip()]
    kept: list[str] = []
    used = 0
    for p in paragraphs:
        n = len(p.split())
        if used + n <= max_words:
            kept.append(p)
            used += n
            continue
        if used < max_words * 0.5:  # room left: take the sentences of this paragraph that fit
            part = ""
            for s in re.split(r"(?<=[.!?])\s+", p):
                if used + len((part + " " + s).split()) > max_words:
                    break
                part = (part + " " + s).strip()
            if part and re.search(r"[.!?]$", part):
                kept.append(part)
        break
    # never end on a heading / list lead-in ("Key Points", "... include:")
    while kept and not re.search(r"[.!?)]$", kept[-1]):
        kept.pop()
    return "\n".join(kept) if kept else text


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def _is_local(source: str) -> bool:
    return Path(source).exists() or source.lower().endswith(LOCAL_SUFFIXES)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _builder(path: Path, label: str) -> str:
    """The `datasets` packaged loader of a local file: json, csv or parquet (`.gz` is decompressed by it)."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, builder in ((".jsonl", "json"), (".json", "json"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return builder
    raise DataValidationError(label, None, None, f"unsupported file type (use one of {', '.join(LOCAL_SUFFIXES)})",
                              fixable_by_skipping=False)


def _read_rows(source: str, split: str, max_rows: int | None, log: Callable) -> tuple[str, list[tuple[int, Any]]]:
    """Return (label for messages, [(1-based row, dict | DataValidationError)])."""
    import datasets

    if not _is_local(source):
        label = f"{source} (split {split})"
        log(f"[medchat.data] loading Hub dataset {label}")
        ds = datasets.load_dataset(source, split=split)
        if max_rows is not None:
            ds = ds.select(range(min(max_rows, len(ds))))
        return label, [(i + 1, row) for i, row in enumerate(ds)]

    path = Path(source)
    label = str(source)
    if not path.exists():
        raise DataSourceNotFound(f"{source}: no such data file (expected a Hub id or an existing local file)")
    builder = _builder(path, label)
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train")
    except (datasets.exceptions.DatasetGenerationError, ValueError) as exc:  # ArrowInvalid is a ValueError
        if builder != "json":
            raise DataValidationError(label, None, None, f"not a readable {builder} file ({exc.__cause__ or exc})",
                                      fixable_by_skipping=False) from None
        # Arrow refuses a JSON file as a whole (an invalid line, a {"data": [...]} document): read it here to name
        # every bad line and keep the good ones.
        return label, _read_json_by_hand(path, label, max_rows)
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    # Arrow skips blank lines of JSON lines: number rows by their line, as an editor shows them
    numbers = _json_line_numbers(path) if builder == "json" else None
    return label, [(numbers[i] if numbers else i + 1, row) for i, row in enumerate(ds)]


def _json_line_numbers(path: Path) -> list[int] | None:
    """Line number of each record of a JSON lines file; None for a JSON document (rows are list positions)."""
    numbers = []
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                if not numbers and line.lstrip().startswith("["):
                    return None
                numbers.append(lineno)
    return numbers


def _read_json_by_hand(path: Path, label: str, max_rows: int | None) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    doc = _json_document(path) if path.name.lower().endswith((".json", ".json.gz")) else None
    if doc is None:
        with _open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                if max_rows is not None and len(rows) >= max_rows:
                    break
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    rows.append((lineno, DataValidationError(label, lineno, None, f"invalid JSON ({e.msg})")))
                    continue
                rows.append((lineno, obj))
        return rows
    if isinstance(doc, dict):  # {"data": [...]} / {"train": [...]}
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataValidationError(label, None, None, "a .json file must hold a list of objects",
                                      fixable_by_skipping=False)
        doc = lists[0]
    return [(i + 1, obj) for i, obj in enumerate(doc[: max_rows if max_rows is not None else None])]


def _json_document(path: Path) -> Any:
    """The parsed document of a .json file that starts with '[' or '{' and parses whole; None for JSON lines."""
    with _open_text(path) as f:
        head = f.read(1 << 16).lstrip()
    if not head.startswith(("[", "{")):
        return None
    try:
        with _open_text(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        if head.startswith("["):
            raise DataValidationError(str(path), None, None, f"invalid JSON document ({e.msg}, line {e.lineno})",
                                      fixable_by_skipping=False) from None
        return None


def _detect_format(rows: list[tuple[int, Any]], label: str) -> tuple[str, dict[str, str]]:
    """Pick the row format from the columns of the whole file; return (format, {canonical: lower name})."""
    keys: set[str] = set()
    for _, obj in rows:
        if isinstance(obj, dict):
            keys.update(str(k).strip().lower() for k in obj)
    if "messages" in keys:
        return "messages", {"messages": "messages"}
    user = next((c for c in USER_COLUMNS if c in keys), None)
    assistant = next((c for c in ASSISTANT_COLUMNS if c in keys), None)
    if user and assistant:
        ctx = next((c for c in CONTEXT_COLUMNS if c in keys), None)
        return "dialogue", {"user": user, "assistant": assistant, **({"context": ctx} if ctx else {})}
    if "question" in keys and "answer" in keys:
        return "qa", {"user": "question", "assistant": "answer"}
    found = ", ".join(sorted(keys)) or "none"
    raise DataValidationError(
        label,
        None,
        None,
        f"no supported columns (need Patient+Doctor[+Description], question+answer, or messages; found: {found})",
        fixable_by_skipping=False,  # every row has the wrong columns: rename them, skipping would skip all
    )


def _field(obj: dict, lower_name: str) -> tuple[str, Any, bool]:
    """(original column name, value, present) for a case-insensitive column."""
    for k, v in obj.items():
        if str(k).strip().lower() == lower_name:
            return str(k), v, True
    return lower_name, None, False


def _text_field(obj: dict, lower_name: str, label: str, row: int, display: str, required: bool = True) -> str:
    name, value, present = _field(obj, lower_name)
    name = name if present else display
    if not present:
        if required:
            raise DataValidationError(label, row, name, "missing")
        return ""
    if value is None or (isinstance(value, float) and value != value):  # None / NaN
        if required:  # Arrow gives every row every column: a key absent from one row reads as null
            raise DataValidationError(label, row, name, "missing or empty (null)")
        return ""
    if not isinstance(value, str):
        raise DataValidationError(label, row, name, f"expected text, got {type(value).__name__}")
    text = _clean_ws(value)
    if required and not text:
        raise DataValidationError(label, row, name, "empty")
    return text


# Column names as errors spell them when the column is missing (the dataset's own spelling).
_DISPLAY_NAMES = {"patient": "Patient", "doctor": "Doctor"}


def _row_to_conv(obj: Any, fmt: str, cols: dict, label: str, row: int, recipe: DataRecipe, source_label: str) -> _Conv:
    if not isinstance(obj, dict):
        raise DataValidationError(label, row, None, f"expected an object, got {type(obj).__name__}")
    if fmt == "messages":
        return _messages_conv(obj, label, row, source_label)
    user = _text_field(obj, cols["user"], label, row, _DISPLAY_NAMES.get(cols["user"], cols["user"]))
    reply = _text_field(obj, cols["assistant"], label, row, _DISPLAY_NAMES.get(cols["assistant"], cols["assistant"]))
    description = ""
    if "context" in cols:
        description = _text_field(obj, cols["context"], label, row, "Description", required=False)
    patient = user
    if fmt == "qa":
        key_seed = str(_field(obj, "qid")[1] or user)
        patient = rewrite_medquad_question(user, key_seed)
        # GARD-style answers repeat a question first ("How might X be treated? Currently ...")
        stripped = re.sub(r"^[^\n.!?]{3,200}\?\s+(?=\S)", "", reply, count=1)
        if len(stripped.split()) >= 5:
            reply = stripped
    content = patient
    if recipe.use_description and description and _description_adds(description, patient):
        content = f"{description}\n\n{patient}"
    _, row_source, has_source = _field(obj, "source")
    src = source_label + (f"/{row_source}" if has_source and isinstance(row_source, str) and row_source else "")
    return _Conv(
        messages=[{"role": "user", "content": content}, {"role": "assistant", "content": reply}],
        patient=patient,
        description=description,
        key=normalize_patient_text(patient),
        source=src,
        reply_raw=reply,
    )


def _messages_conv(obj: dict, label: str, row: int, source_label: str) -> _Conv:
    name, msgs, present = _field(obj, "messages")
    if not present:
        raise DataValidationError(label, row, "messages", "missing")
    if isinstance(msgs, str):  # CSV / stringified JSON
        try:
            msgs = json.loads(msgs)
        except json.JSONDecodeError:
            raise DataValidationError(label, row, name, "not a list of {role, content} (invalid JSON text)") from None
    if not isinstance(msgs, list) or not msgs:
        raise DataValidationError(label, row, name, "expected a non-empty list of {role, content}")
    out = []
    for i, m in enumerate(msgs):
        where = f"{name}[{i}]"
        if not isinstance(m, dict):
            raise DataValidationError(label, row, where, f"expected an object, got {type(m).__name__}")
        role = m.get("role")
        if role not in ROLES:
            raise DataValidationError(label, row, f"{where}.role", f"unknown role {role!r} (use system, user or assistant)")
        content = m.get("content")
        if not isinstance(content, str):
            raise DataValidationError(label, row, f"{where}.content", f"expected text, got {type(content).__name__}")
        content = _clean_ws(content)
        if not content:
            raise DataValidationError(label, row, f"{where}.content", "empty")
        if role == "system":
            continue  # the recipe's system prompt replaces it (see module docstring)
        out.append({"role": role, "content": content})
    if not out or out[-1]["role"] != "assistant":
        raise DataValidationError(label, row, name, "must end with an assistant turn")
    users = [m["content"] for m in out if m["role"] == "user"]
    if not users:
        raise DataValidationError(label, row, name, "has no user turn")
    return _Conv(
        messages=out,
        patient=users[-1],
        description="",
        key=normalize_patient_text("\n".join(users)),
        source=source_label,
        reply_raw=out[-1]["content"],
    )


def load_conversations(
    source: str, recipe: DataRecipe, *, max_rows: int | None = None, log: Callable = logger.info
) -> tuple[list[_Conv], dict]:
    """Read and validate one source. Returns (conversations, partial report)."""
    label, rows = _read_rows(source, recipe.dataset_split, max_rows, log)
    source_label = _source_label(source)
    report: dict = {"source": label, "rows_read": len(rows)}
    fmt, cols = _detect_format(rows, label)
    report["format"] = fmt
    convs: list[_Conv] = []
    errors: list[DataValidationError] = []
    for row, obj in _progress(rows, f"reading {source_label}"):
        try:
            if isinstance(obj, DataValidationError):
                raise obj
            convs.append(_row_to_conv(obj, fmt, cols, label, row, recipe, source_label))
        except DataValidationError as e:
            errors.append(e)
    if errors and not recipe.skip_bad_rows:
        raise BadRowsError(label, errors)  # every bad row at once: one fix-and-rerun, not one per row
    report["bad_rows_skipped"] = len(errors)
    report["bad_row_reasons"] = {reason: len(rows) for reason, rows in _rows_by_reason(errors).items()}
    report["bad_row_numbers"] = _rows_by_reason(errors)
    if errors:
        listed = "; ".join(f"{reason}: rows {', '.join(map(str, rows))}"
                           for reason, rows in report["bad_row_numbers"].items())
        log(f"[medchat.data] {label}: skipped {len(errors)} bad rows: {listed}")
    return convs, report


def _source_label(source: str) -> str:
    if _is_local(source):
        name = Path(source).name
        for suffix in sorted(LOCAL_SUFFIXES, key=len, reverse=True):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return name
    return source


def _progress(items: list, desc: str) -> Iterable:
    if len(items) < 20000:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="row")


# --------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------
DROP_RULES = ("empty_after_cleaning", "mostly_boilerplate", "impersonation", "too_short", "truncated", "duplicate")


def _clean(
    convs: list[_Conv], recipe: DataRecipe, report: dict, *, max_answer_words: int = 0, seen: set | None = None
) -> list[_Conv]:
    dropped = {r: 0 for r in DROP_RULES}
    removed: dict[str, int] = {}
    cleaned_replies = dosing_replies = dosing_sentences = 0
    kept: list[_Conv] = []
    seen = set() if seen is None else seen
    for conv in _progress(convs, "cleaning"):
        drop = None
        for m in conv.messages:
            if m["role"] != "assistant":
                continue
            text = m["content"]
            if recipe.clean_boilerplate:
                res = strip_boilerplate(text)
                if res.rules:
                    cleaned_replies += 1
                    for r in res.rules:
                        removed[r] = removed.get(r, 0) + 1
                before = len(normalize_spacing(text).split())
                after = len(res.text.split())
                text = res.text
                if not text:
                    drop = drop or "empty_after_cleaning"
                elif before and 1 - after / before > recipe.max_boilerplate_fraction:
                    drop = drop or "mostly_boilerplate"
                elif impersonation_findings(text):
                    drop = drop or "impersonation"
            if recipe.strip_dosing:
                dosing = strip_dosing(text)
                if dosing.removed:
                    dosing_replies += 1
                    dosing_sentences += len(dosing.removed)
                    text = dosing.text
            if max_answer_words:
                text = trim_answer(text, max_answer_words)
            m["content"] = text
        reply = conv.messages[-1]["content"]
        if drop is None and recipe.min_reply_words and len(reply.split()) < recipe.min_reply_words:
            drop = "too_short"
        if drop is None and recipe.drop_truncated and looks_truncated(reply):
            drop = "truncated"
        if drop is None:
            ident = (conv.key, normalize_patient_text(reply))
            if ident in seen:
                drop = "duplicate"
            seen.add(ident)
        if drop:
            dropped[drop] += 1
            continue
        kept.append(conv)
    report["replies_with_boilerplate"] = cleaned_replies
    report["boilerplate_removed"] = dict(sorted(removed.items(), key=lambda kv: -kv[1]))
    report["replies_with_dosing"] = dosing_replies
    report["dosing_sentences_removed"] = dosing_sentences
    report["dropped"] = dropped
    report["duplicates"] = dropped["duplicate"]
    report["kept"] = len(kept)
    return kept


def _merge_clean_reports(target: dict, parts: list[dict]) -> None:
    """Sum the counts of several `_clean` reports (the mix source is cleaned in chunks)."""
    for key in ("replies_with_boilerplate", "replies_with_dosing", "dosing_sentences_removed", "kept"):
        target[key] = sum(p.get(key, 0) for p in parts)
    removed: dict[str, int] = {}
    dropped = {r: 0 for r in DROP_RULES}
    for p in parts:
        for k, v in p.get("boilerplate_removed", {}).items():
            removed[k] = removed.get(k, 0) + v
        for k, v in p.get("dropped", {}).items():
            dropped[k] += v
    target["boilerplate_removed"] = dict(sorted(removed.items(), key=lambda kv: -kv[1]))
    target["dropped"] = dropped
    target["duplicates"] = dropped["duplicate"]


# --------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------
def _assign_ids(convs: list[_Conv]) -> list[str]:
    """Stable id = hash of the normalized patient text; rows sharing a patient text get a reply-hash suffix."""
    base = [_short_hash(c.key) for c in convs]
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    return [
        b if counts[b] == 1 else f"{b}-{_short_hash(normalize_patient_text(c.messages[-1]['content']), 6)}"
        for b, c in zip(base, convs)
    ]


def _to_rows(convs: list[_Conv], ids: list[str], system_prompt: str) -> list[dict]:
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [
        {
            "id": i,
            "messages": system + c.messages,
            "description": c.description,
            "patient": c.patient,
            "reference": c.messages[-1]["content"],
            "source": c.source,
        }
        for c, i in zip(convs, ids)
    ]


def _to_dataset(rows: list[dict]):
    import datasets

    msg = datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")})
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": msg,
            "description": datasets.Value("string"),
            "patient": datasets.Value("string"),
            "reference": datasets.Value("string"),
            "source": datasets.Value("string"),
        }
    )
    if not rows:  # from_list([]) has no columns; an empty eval split must still have them
        return datasets.Dataset.from_dict({c: [] for c in COLUMNS}, features=features)
    return datasets.Dataset.from_list(rows, features=features)


def build_splits(source: str | None, recipe: DataRecipe, log: Callable = logger.info) -> Splits:
    """Load, validate, clean, dedupe, mix and split; see the module docstring."""
    # 1.0 sends every row to eval: scoring a data set that was never trained on
    if not 0 <= recipe.eval_fraction <= 1:
        raise ValueError(f"eval_fraction must be in [0, 1], got {recipe.eval_fraction}")
    if not 0 <= recipe.mix_weight < 1:
        raise ValueError(f"mix_weight must be in [0, 1), got {recipe.mix_weight}")
    if recipe.mix_weight > 0 and not recipe.mix_dataset:
        raise ValueError("mix_weight > 0 needs mix_dataset")
    source = source or recipe.dataset

    convs, report = load_conversations(source, recipe, max_rows=recipe.max_rows, log=log)
    report["description_used"] = sum(
        1 for c in convs if c.description and c.messages[0]["content"].startswith(c.description + "\n\n")
    )
    convs = _clean(convs, recipe, report)

    # leak-free split on the normalized patient text
    seed = recipe.split_seed
    score = {c.key: _hash01(seed, c.key) for c in convs}
    eval_convs: list[_Conv] = []
    train_convs: list[_Conv] = []
    for c in convs:
        held_out = recipe.eval_fraction == 1 or score[c.key] < recipe.eval_fraction
        (eval_convs if held_out else train_convs).append(c)
    capped = 0
    if recipe.eval_max_rows is not None and len(eval_convs) > recipe.eval_max_rows:
        # keep whole patient groups with the lowest hashes; the rest go back to train
        eval_convs.sort(key=lambda c: (score[c.key], c.key))
        cut = recipe.eval_max_rows
        while 0 < cut < len(eval_convs) and eval_convs[cut].key == eval_convs[cut - 1].key:
            cut -= 1
        capped = len(eval_convs) - cut
        train_convs += eval_convs[cut:]
        eval_convs = eval_convs[:cut]
    eval_keys = {c.key for c in eval_convs}

    # mix source: train only
    mix_report = None
    mix_convs: list[_Conv] = []
    if recipe.mix_dataset and recipe.mix_weight > 0:
        mix_all, mix_report = load_conversations(recipe.mix_dataset, recipe, log=log)
        wanted = round(recipe.mix_weight / (1 - recipe.mix_weight) * len(train_convs))
        # leak guard: a mix question identical to an eval (or main train) patient text is left out
        leaked = sum(c.key in eval_keys for c in mix_all)
        main_keys = {c.key for c in train_convs}
        mix_all = [c for c in mix_all if c.key not in eval_keys and c.key not in main_keys]
        # deterministic choice: lowest hashes first; clean in chunks only as many as needed
        # (cleaning all 16k MedQuAD answers would take most of the time)
        mix_all.sort(key=lambda c: (_hash01(seed + 1, c.key), c.key, c.reply_raw))
        seen: set = set()
        reports = []
        pos = 0
        while len(mix_convs) < wanted and pos < len(mix_all):
            chunk = mix_all[pos : pos + max(64, 2 * (wanted - len(mix_convs)))]
            pos += len(chunk)
            part: dict = {}
            mix_convs += _clean(chunk, recipe, part, max_answer_words=recipe.mix_max_answer_words, seen=seen)
            reports.append(part)
        mix_convs = mix_convs[:wanted]
        _merge_clean_reports(mix_report, reports)
        mix_report.update(
            candidates=len(mix_all), cleaned=pos, wanted=wanted, used=len(mix_convs), left_out_in_eval=leaked
        )
        if len(mix_convs) < wanted:
            log(f"[medchat.data] mix source has only {len(mix_convs)} usable rows of {wanted} wanted")

    train_all = train_convs + mix_convs
    def output_order(c: _Conv) -> tuple:
        return _hash01(seed + 2, c.key), c.key, c.messages[-1]["content"]

    train_all.sort(key=output_order)
    eval_convs.sort(key=output_order)
    ids = _assign_ids(train_all + eval_convs)
    train_rows = _to_rows(train_all, ids[: len(train_all)], recipe.system_prompt)
    eval_rows = _to_rows(eval_convs, ids[len(train_all):], recipe.system_prompt)
    if recipe.retrieval_context:
        from medchat.knowledge import add_retrieval_context

        train_rows, eval_rows = add_retrieval_context(train_rows), add_retrieval_context(eval_rows)

    report.update(
        mix=mix_report,
        mix_rows=len(mix_convs),
        train_rows=len(train_rows),
        eval_rows=len(eval_rows),
        eval_capped_to_train=capped,
        # fingerprint of the held-out split: `medchat.evaluate` checks it rebuilt the very same rows
        eval_ids_sha256=hashlib.sha256("\n".join(sorted(r["id"] for r in eval_rows)).encode()).hexdigest(),
    )
    log(
        f"[medchat.data] {report['source']}: read {report['rows_read']}, kept {report['kept']} "
        f"(dropped {report['dropped']}), train {len(train_rows)} (mix {len(mix_convs)}), eval {len(eval_rows)}"
    )
    return Splits(train=_to_dataset(train_rows), eval=_to_dataset(eval_rows), report=report)
