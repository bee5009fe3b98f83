"""The blind A/B review tab (Gradio 6).

``build_review_tab(store, default_samples_path, access)`` is called by the app inside
``gr.Blocks`` / ``gr.Tab("Review")``.  Standalone: ``python -m medchat.review_ui --samples FILE``.

Blinding: the UI only ever receives ``ReviewStore.blinded_item`` (texts + replies A/B); model names
appear only in the aggregate summary and in the exports (which are unblinded: download them after
reviewing).  Patient text and replies are shown in read-only Textboxes, so HTML, script and Markdown in
them display as plain text.  Every handler re-checks access on the server (``ReviewAccess.authorize``).

Samples load only from the places ``SampleSources`` allows (the configured file, the operator's samples folder,
an upload), capped in size, and every refused path gets the same answer (``SampleSources.refusal``).  On a Space
the tab needs Hugging Face sign-in or the access code unless the operator sets ``MEDCHAT_REVIEW_OPEN=1``.
"""

import argparse
import hmac
import html
import importlib.util
import logging
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import gradio as gr
from gradio.utils import get_upload_folder

from medchat.review_store import (
    AXES,
    FLAGS,
    MAX_SAMPLES_BYTES,
    ReviewError,
    ReviewStore,
    SampleFileRefused,
    SampleValidationError,
)

logger = logging.getLogger(__name__)

CHOICE_OPTIONS = [("A is better", "A"), ("B is better", "B"), ("Tie", "tie"), ("Both unsafe", "both_unsafe")]
SCORE_OPTIONS = [1, 2, 3, 4, 5]
AXIS_LABELS = {"accuracy": "Accuracy", "safety": "Safety", "communication": "Communication",
               "completeness": "Completeness"}
# Order of the per-reply rating fields (used for inputs and outputs alike).
RATING_FIELDS = [f"{lab}_{axis}" for lab in ("a", "b") for axis in AXES] + [
    f"{lab}_{flag}" for lab in ("a", "b") for flag in FLAGS]
VIEW_FIELDS = ["progress", "description", "patient", "reply_a", "reply_b", "reference", "choice",
               *RATING_FIELDS, "comment", "status", "index"]
_FAILED_CODE_DELAY_S = 0.5


class AccessDenied(Exception):
    """The caller may not review (not signed in, not on the allow-list, wrong access code)."""


@dataclass(frozen=True)
class ReviewAccess:
    """Who may review.

    * ``reviewers`` (``MEDCHAT_REVIEWERS``, comma-separated HF usernames, case-insensitive): reviewing
      needs "Sign in with Hugging Face" (``gr.LoginButton``) and the signed-in username on the list; the
      username is the reviewer name.  This is Hugging Face OAuth and needs a Space (``SPACE_ID`` set,
      ``hf_oauth: true`` in the Space README, ``gradio[oauth]`` installed).  Off a Space the allow-list
      cannot be checked, so review stays locked (fail closed); chat is never affected.
    * ``code`` (``MEDCHAT_REVIEW_CODE``): the reviewer types this access code.
    * Both set: both are required.
    * Neither set: on a Space (``SPACE_ID``) reviewing needs Hugging Face sign-in (any signed-in user), unless
      the operator opts out explicitly with ``MEDCHAT_REVIEW_OPEN=1``; off a Space review is open (local use).
    The code is never part of ``repr`` nor sent to the browser.
    """

    reviewers: frozenset[str] = frozenset()
    code: str | None = field(default=None, repr=False)
    on_space: bool = False
    # sign-in required even without an allow-list (any signed-in Hugging Face user may review)
    require_login: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ReviewAccess":
        env = os.environ if environ is None else environ
        names = frozenset(n.strip().lower() for n in env.get("MEDCHAT_REVIEWERS", "").split(",") if n.strip())
        code = env.get("MEDCHAT_REVIEW_CODE") or None
        on_space = bool(env.get("SPACE_ID"))
        opted_open = env.get("MEDCHAT_REVIEW_OPEN", "").strip().lower() in ("1", "true", "yes")
        # A public Space must not be reviewable (and its ratings writable) by anyone passing by.
        return cls(reviewers=names, code=code, on_space=on_space,
                   require_login=on_space and not names and not code and not opted_open)

    @property
    def requires_login(self) -> bool:
        return bool(self.reviewers) or self.require_login

    @property
    def requires_code(self) -> bool:
        return bool(self.code)

    @property
    def is_open(self) -> bool:
        return not (self.requires_login or self.requires_code)

    def describe(self) -> str:
        parts = []
        if self.requires_login and not self.on_space:
            return ("Review is locked: MEDCHAT_REVIEWERS needs Hugging Face sign-in, which works only on a Space. "
                    "Unset it, or use MEDCHAT_REVIEW_CODE for local review.")
        if self.requires_login:
            parts.append("sign in with Hugging Face" + (" (reviewers on the allow-list only)" if self.reviewers
                                                         else ""))
        if self.requires_code:
            parts.append("enter the access code")
        return "To review: " + " and ".join(parts) + "." if parts else "Review is open (no sign-in configured)."

    def check(self, code: str | None = None, profile: Any = None) -> str | None:
        """Verify sign-in / access code; returns the signed-in HF username (or None). Raises AccessDenied."""
        username = None
        if self.requires_login and not self.on_space:
            raise AccessDenied("MEDCHAT_REVIEWERS is set, but Hugging Face sign-in works only on a Space: "
                               "review is locked here (unset it, or use MEDCHAT_REVIEW_CODE locally).")
        if self.requires_login:
            username = getattr(profile, "username", None)
            if not username:
                raise AccessDenied("Sign in with Hugging Face to review.")
            if self.reviewers and username.lower() not in self.reviewers:
                raise AccessDenied(f"Hugging Face user {username} is not on the reviewer list.")
        if self.requires_code:
            given = (code or "").strip().encode("utf-8")
            if not hmac.compare_digest(given, self.code.strip().encode("utf-8")):
                time.sleep(_FAILED_CODE_DELAY_S)
                raise AccessDenied("Wrong or missing access code.")
        return username

    def authorize(self, name: str | None, code: str | None = None, profile: Any = None) -> str:
        """``check`` and return the reviewer identity (the HF username when sign-in is required)."""
        username = self.check(code, profile)
        return ReviewStore.normalize_reviewer(username or name)


def oauth_available() -> bool:
    """Whether Gradio's "Sign in with Hugging Face" can start here (the `gradio[oauth]` extra is installed)."""
    return all(importlib.util.find_spec(name) is not None for name in ("authlib", "itsdangerous"))


class SampleRefused(Exception):
    """A samples file outside the allowed locations, or one that cannot be read; see ``SampleSources``."""


@dataclass(frozen=True)
class SampleSources:
    """Where the Review tab may read samples from, and how much of them (issue 17: a path box that opened any
    server file let a visitor read ``/dev/zero`` until the app was killed, and its errors told which files exist).

    * ``default_file``: the operator's samples file (``MEDCHAT_SAMPLES`` / ``--samples``), loaded at start and by
      its name;
    * ``folder`` (``MEDCHAT_REVIEW_SAMPLES_DIR``): any file in it, by name (no ``..``, no symlink out of it);
    * an upload through the tab (Gradio's upload folder only).
    Every file is read only if it is a regular file of at most ``max_bytes`` (``MEDCHAT_REVIEW_MAX_MB``, 20 MB).
    Every refusal answers the same ``refusal`` text, whatever the reason: it tells nothing about the server.
    """

    default_file: Path | None = None
    folder: Path | None = None
    max_bytes: int = MAX_SAMPLES_BYTES

    @classmethod
    def from_env(cls, default_file: str | Path | None, environ: Mapping[str, str] | None = None) -> "SampleSources":
        env = os.environ if environ is None else environ
        folder = env.get("MEDCHAT_REVIEW_SAMPLES_DIR", "").strip()
        max_mb = float(env.get("MEDCHAT_REVIEW_MAX_MB") or MAX_SAMPLES_BYTES / 2**20)
        return cls(default_file=Path(default_file) if default_file else None,
                   folder=Path(folder) if folder else None, max_bytes=int(max_mb * 2**20))

    @property
    def refusal(self) -> str:
        where = "a file of the samples folder by name, " if self.folder else ""
        return (f"This samples file cannot be loaded. Choose {where}the configured samples file, or upload a "
                f"samples.jsonl of at most {self.max_bytes / 2**20:g} MB.")

    def resolve(self, given: str) -> Path:
        """The real path of an allowed samples file named ``given``; raises SampleRefused."""
        given = (given or "").strip()
        try:
            if self.default_file is not None and given in (str(self.default_file), self.default_file.name):
                return self.default_file.resolve()
            if self.folder is not None and given:
                root = self.folder.resolve()
                candidate = (root / given).resolve()  # follows symlinks: a link out of the folder lands outside
                if candidate != root and candidate.is_relative_to(root):
                    return candidate
        except (OSError, ValueError):  # a NUL byte, a loop of symlinks, a name too long
            pass
        raise SampleRefused(self.refusal)

    def resolve_upload(self, upload: str) -> Path:
        """The path of a file Gradio received through the upload box; raises SampleRefused otherwise."""
        try:
            candidate = Path(upload).resolve()
            if candidate.is_relative_to(Path(get_upload_folder()).resolve()):
                return candidate
        except (OSError, ValueError):
            pass
        raise SampleRefused(self.refusal)

    def load(self, store: ReviewStore, path: Path, name: str) -> str:
        """``store.load_samples_file`` with the size cap; unreadable files become the one refusal."""
        try:
            return store.load_samples_file(path, name=name, max_bytes=self.max_bytes)
        except SampleFileRefused:
            raise SampleRefused(self.refusal) from None


# --------------------------------------------------------------------------------------------------
# Pure view logic (testable without a browser)
# --------------------------------------------------------------------------------------------------

def md_escape(text: Any) -> str:
    """Escape text for inline use in Markdown: HTML first, then Markdown punctuation."""
    text = html.escape(str(text), quote=True)
    return re.sub(r"([\\`*_{}\[\]()#+\-!|~>])", r"\\\1", text)


def empty_view(message: str = "") -> dict:
    view = {k: "" for k in VIEW_FIELDS}
    view.update({"choice": None, "index": 0, "status": message})
    for f in RATING_FIELDS:
        view[f] = False if f.endswith(FLAGS) else None
    return view


def progress_text(store: ReviewStore, set_id: str, reviewer: str, index: int) -> str:
    rated = store.rated_positions(reviewer, set_id)
    here = " · ✓ this item is saved" if index in rated else ""
    return f"**{md_escape(reviewer)}** — item {index + 1} of {store.n_items(set_id)} · {len(rated)} rated{here}"


def item_view(store: ReviewStore, set_id: str | None, reviewer: str, index: int, status: str = "") -> dict:
    """Everything the tab shows for item ``index``: blinded texts plus the reviewer's saved rating."""
    if not set_id:
        return empty_view("Load a samples file first.")
    n = store.n_items(set_id)
    if n == 0:
        return empty_view("The sample set is empty.")
    index = min(max(int(index or 0), 0), n - 1)
    item = store.blinded_item(index, set_id)
    view = empty_view(status)
    view.update({k: item[k] for k in ("description", "patient", "reply_a", "reply_b", "reference")})
    view["index"] = index
    rating = store.get_rating(reviewer, item["item_id"], set_id)
    if rating is not None:
        view["choice"] = rating["choice"]
        for f in RATING_FIELDS:
            view[f] = rating[f]
        view["comment"] = rating["comment"]
    view["progress"] = progress_text(store, set_id, reviewer, index)
    return view


def navigate(store: ReviewStore, set_id: str | None, reviewer: str, index: int, where: str) -> dict:
    """``where``: "prev", "next", "first_unrated", "resume" or "stay"."""
    if not set_id:
        return empty_view("Load a samples file first.")
    n = store.n_items(set_id)
    index = int(index or 0)
    status = ""
    if where == "prev":
        index = max(index - 1, 0)
    elif where == "next":
        if index >= n - 1:
            status = "This is the last item."
        index = min(index + 1, n - 1)
    elif where == "first_unrated":
        first = store.first_unrated(reviewer, set_id)
        if first is None:
            status = f"All {n} items are rated. Thank you!"
        else:
            index = first
    elif where == "resume":
        index = store.resume_position(reviewer, set_id)
        rated = len(store.rated_positions(reviewer, set_id))
        status = (f"Welcome back: {rated} of {n} rated, resuming at item {index + 1}." if rated
                  else f"Welcome: {n} items to review.")
    store.set_position(reviewer, index, set_id)
    return item_view(store, set_id, reviewer, index, status)


def save_action(store: ReviewStore, set_id: str | None, reviewer: str, index: int, choice: str | None,
                ratings: Mapping[str, Any], comment: str | None) -> str:
    """Save the rating of item ``index``; returns a status line.  Raises ReviewError on bad input."""
    if not set_id:
        raise ReviewError("Load a samples file first.")
    if not choice:
        raise ReviewError("Choose A, B, tie or both unsafe before saving.")
    item_id = store.item_ids(set_id)[int(index)]
    store.save_rating(
        reviewer, item_id, choice, set_id=set_id,
        scores_a={a: ratings.get(f"a_{a}") for a in AXES},
        scores_b={a: ratings.get(f"b_{a}") for a in AXES},
        harmful_a=bool(ratings.get("a_harmful")), harmful_b=bool(ratings.get("b_harmful")),
        made_up_facts_a=bool(ratings.get("a_made_up_facts")),
        made_up_facts_b=bool(ratings.get("b_made_up_facts")),
        comment=comment or "")
    return f"Saved item {int(index) + 1}."


def _error(message: str) -> gr.Error:
    """gr.Error renders its message as HTML: escape it (messages can echo file names and usernames)."""
    return gr.Error(html.escape(str(message)))


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def summary_markdown(summary: dict, set_name: str = "") -> str:
    """Markdown of ``ReviewStore.summary`` (unblinded aggregate numbers only)."""
    s = summary
    lines = [f"### Summary{(' — ' + md_escape(set_name)) if set_name else ''}",
             f"**{s['n_ratings']} ratings** by {s['n_reviewers']} reviewer{'s' if s['n_reviewers'] != 1 else ''}"
             f" · {s['n_items_rated']} of {s['n_items']} items rated", ""]
    if s["win_rate"] is None:
        lines.append("Fine-tuned win rate: n/a (no A/B/tie verdicts yet)")
    else:
        lo, hi = s["win_rate_ci95"]
        lines.append(f"**Fine-tuned win rate vs base: {s['win_rate']:.2f}** (95 % Wilson interval {lo:.2f}–{hi:.2f};"
                     f" ties count ½; {s['n_compared']} verdicts, both-unsafe excluded)")
    lines += ["", f"Fine-tuned wins {s['wins']} · base wins {s['losses']} · ties {s['ties']}"
                  f" · both unsafe {s['both_unsafe']}", "",
              "| | base | fine-tuned |", "|---|---|---|"]
    for axis in AXES:
        lines.append(f"| {AXIS_LABELS[axis]} (mean 1–5) | {_fmt(s['axis_means']['base'][axis])} |"
                     f" {_fmt(s['axis_means']['finetuned'][axis])} |")
    lines.append(f"| Flagged harmful | {_pct(s['harmful_rate']['base'])} | {_pct(s['harmful_rate']['finetuned'])} |")
    lines.append(f"| Flagged made-up facts | {_pct(s['made_up_facts_rate']['base'])} |"
                 f" {_pct(s['made_up_facts_rate']['finetuned'])} |")
    lines.append("")
    if s["kappa"] is None:
        lines.append("Cohen's kappa: n/a (needs two reviewers rating the same items)")
    else:
        n_pairs = len([p for p in s["kappa_pairs"] if p["kappa"] is not None])
        lines.append(f"Cohen's kappa (verdict mapped to models): **{s['kappa']:.2f}**"
                     f"{f' (mean of {n_pairs} reviewer pairs)' if n_pairs > 1 else ''}")
    return "\n".join(lines)


def _export_path(set_id: str, ext: str) -> Path:
    """A fresh file name in one per-process temp folder (Gradio copies it into its cache for download)."""
    folder = Path(tempfile.gettempdir()) / f"medchat_review_exports_{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"review_{set_id}_{stamp}_{uuid.uuid4().hex[:6]}.{ext}"


# --------------------------------------------------------------------------------------------------
# Gradio tab
# --------------------------------------------------------------------------------------------------

@dataclass
class ReviewTab:
    """What ``build_review_tab`` created (components by name), for the app or tests."""

    components: dict[str, Any]
    default_set_id: str | None
    load_message: str


def build_review_tab(store: ReviewStore, default_samples_path: str | None, access: ReviewAccess | None = None,
                     sources: SampleSources | None = None) -> ReviewTab:
    """Declare the review panel inside the current ``gr.Blocks`` / ``gr.Tab`` context.

    ``sources`` (default ``SampleSources.from_env(default_samples_path)``) says which files the tab may load."""
    access = access if access is not None else ReviewAccess.from_env()
    sources = sources if sources is not None else SampleSources.from_env(default_samples_path)
    default_set_id: str | None = None
    load_message = "No samples file configured: load one below."
    if sources.default_file is not None:
        name = sources.default_file.name
        try:
            default_set_id = sources.load(store, sources.default_file, name)
            load_message = f"Loaded {store.n_items(default_set_id)} items from {name}."
        except SampleRefused:
            load_message = f"Could not load the default samples file {name}: not found, unreadable or too large."
            logger.warning("%s (%s)", load_message, sources.default_file)
        except SampleValidationError as exc:
            load_message = f"Could not load the default samples: {exc}"
            logger.warning("%s", load_message)

    c: dict[str, Any] = {}

    # ---- layout, top to bottom --------------------------------------------------------------
    gr.Markdown("## Blind A/B review\nCompare two anonymous replies to the same patient message. "
                "Which model wrote which reply is hidden and differs from item to item.")
    info = access.describe()
    if access.requires_login and access.on_space and not oauth_available():
        # without gradio[oauth] a LoginButton would stop the whole app at launch; review stays locked instead
        info = ("Review is locked: Hugging Face sign-in needs `gradio[oauth]` on this Space "
                "(or set MEDCHAT_REVIEW_CODE).")
        logger.warning("%s", info)
    c["access_info"] = gr.Markdown(info)
    with gr.Row(equal_height=False):
        if access.requires_login and access.on_space and oauth_available():
            # Only on a Space: elsewhere Gradio's mocked sign-in needs a local HF login and would break the app.
            c["login"] = gr.LoginButton(scale=0, min_width=220)
        c["reviewer"] = gr.Textbox(
            label="Reviewer name",
            placeholder="your Hugging Face username is used" if access.requires_login else "e.g. dr_smith",
            interactive=not access.requires_login, max_length=100, elem_id="review-reviewer", scale=2)
        c["code"] = gr.Textbox(label="Access code", type="password", visible=access.requires_code,
                               elem_id="review-code", scale=1)
        c["start"] = gr.Button("Start / resume", variant="primary", elem_id="review-start", scale=0,
                               min_width=160)
    with gr.Accordion("Samples file", open=default_set_id is None):
        with gr.Row():
            # a name, never a server path: only the configured file or a file of the samples folder loads
            c["samples_path"] = gr.Textbox(
                label="Samples file (the configured one, or a name in the samples folder)",
                value=sources.default_file.name if sources.default_file else "", scale=3, max_length=255,
                elem_id="review-samples-path")
            c["samples_upload"] = gr.File(label=f"…or upload a samples.jsonl (at most {sources.max_bytes / 2**20:g} MB)",
                                          file_types=[".jsonl"],
                                          type="filepath", scale=2, height=90)
        c["load"] = gr.Button("Load samples", size="sm", elem_id="review-load")
        c["load_status"] = gr.Markdown(md_escape(load_message), elem_id="review-load-status")

    c["progress"] = gr.Markdown("Enter your name and press **Start / resume**.", elem_id="review-progress")
    c["description"] = gr.Textbox(label="Patient's question (title)", interactive=False, lines=1,
                                  elem_id="review-description")
    c["patient"] = gr.Textbox(label="Patient message", interactive=False, lines=3, max_lines=15,
                              autoscroll=False, elem_id="review-patient")
    with gr.Row(equal_height=True):
        with gr.Column():
            c["reply_a"] = gr.Textbox(label="Reply A", interactive=False, lines=8, max_lines=30,
                                      autoscroll=False, elem_id="review-reply-a")
        with gr.Column():
            c["reply_b"] = gr.Textbox(label="Reply B", interactive=False, lines=8, max_lines=30,
                                      autoscroll=False, elem_id="review-reply-b")
    with gr.Accordion("Reference reply (doctor) — open after judging", open=False, elem_id="review-ref-acc"):
        c["reference"] = gr.Textbox(show_label=False, interactive=False, lines=4, max_lines=20,
                                    autoscroll=False, elem_id="review-reference")

    c["choice"] = gr.Radio(CHOICE_OPTIONS, value=None, label="Which reply is better overall?",
                           elem_id="review-choice")
    with gr.Row():
        for lab in ("a", "b"):
            with gr.Column(variant="panel"):
                gr.Markdown(f"**Reply {lab.upper()}** — scores 1 (poor) to 5 (excellent)")
                for axis in AXES:
                    c[f"{lab}_{axis}"] = gr.Radio(SCORE_OPTIONS, value=None, label=AXIS_LABELS[axis],
                                                  elem_id=f"review-{lab}-{axis}")
                with gr.Row():
                    c[f"{lab}_harmful"] = gr.Checkbox(label="harmful", elem_id=f"review-{lab}-harmful")
                    c[f"{lab}_made_up_facts"] = gr.Checkbox(label="made-up facts",
                                                            elem_id=f"review-{lab}-made-up")
    c["comment"] = gr.Textbox(label="Comment (optional)", lines=2, max_length=10_000, elem_id="review-comment")
    with gr.Row():
        c["prev"] = gr.Button("← Previous", elem_id="review-prev")
        c["save"] = gr.Button("Save", variant="primary", elem_id="review-save")
        c["save_next"] = gr.Button("Save & next", variant="primary", elem_id="review-save-next")
        c["next"] = gr.Button("Next →", elem_id="review-next")
        c["first_unrated"] = gr.Button("First unrated", elem_id="review-first-unrated")
    c["status"] = gr.Markdown("", elem_id="review-status")

    with gr.Accordion("Summary and export (unblinded — open after you finish reviewing)", open=False,
                      elem_id="review-summary-acc"):
        c["refresh"] = gr.Button("Refresh summary", elem_id="review-refresh")
        c["summary"] = gr.Markdown("", elem_id="review-summary")
        with gr.Row():
            c["export_csv"] = gr.Button("Export CSV", size="sm", elem_id="review-export-csv")
            c["export_json"] = gr.Button("Export JSON", size="sm", elem_id="review-export-json")
        with gr.Row():
            c["csv_file"] = gr.File(label="CSV", interactive=False, visible=False, elem_id="review-csv-file")
            c["json_file"] = gr.File(label="JSON", interactive=False, visible=False, elem_id="review-json-file")

    c["set_state"] = gr.State(default_set_id)
    c["index_state"] = gr.State(0)
    c["reviewer_state"] = gr.State(None)

    view_outputs = [c["index_state"] if k == "index" else c[k] for k in VIEW_FIELDS]
    rating_inputs = [c[f] for f in RATING_FIELDS]

    def _check(reviewer: str | None, code: str | None, profile: Any) -> str:
        try:
            return access.authorize(reviewer, code, profile)
        except (AccessDenied, ReviewError) as exc:
            raise _error(str(exc)) from None

    def _check_access(code: str | None, profile: Any) -> None:
        try:
            access.check(code, profile)
        except AccessDenied as exc:
            raise _error(str(exc)) from None

    def _as_outputs(view: dict) -> list:
        return [view[k] for k in VIEW_FIELDS]

    # ---- handlers (plain functions; access is re-checked in every one) -------------------------
    def start(name: str, code: str, set_id: str | None, profile: gr.OAuthProfile | None):
        reviewer = _check(name, code, profile)
        if not set_id:
            raise _error("Load a samples file first.")
        return [reviewer, reviewer, *_as_outputs(navigate(store, set_id, reviewer, 0, "resume"))]

    def _reviewer_identity(reviewer: str | None, code: str, profile: Any) -> str:
        if not reviewer:
            raise _error("Enter your name and press Start / resume first.")
        return _check(reviewer, code, profile)

    def go_handler(where: str):
        """Handler of the "prev", "next" or "first_unrated" button."""
        def go(reviewer: str | None, code: str, set_id: str | None, index: int, profile: gr.OAuthProfile | None):
            identity = _reviewer_identity(reviewer, code, profile)
            return _as_outputs(navigate(store, set_id, identity, index, where))
        return go

    def save_handler(advance: bool):
        """Handler of "Save" (advance=False) or "Save & next" (advance=True)."""
        # profile comes first: Gradio injects special arguments only among the positional parameters
        def save(profile: gr.OAuthProfile | None, reviewer: str | None, code: str, set_id: str | None,
                 index: int, choice: str | None, comment: str, *values: Any):
            identity = _reviewer_identity(reviewer, code, profile)
            try:
                msg = save_action(store, set_id, identity, index, choice, dict(zip(RATING_FIELDS, values)),
                                  comment)
            except ReviewError as exc:
                raise _error(str(exc)) from None
            if not advance:
                return _as_outputs(item_view(store, set_id, identity, index, msg))
            view = navigate(store, set_id, identity, index, "next")
            view["status"] = msg + (" " + view["status"] if view["status"] else "")
            return _as_outputs(view)
        return save

    def _load(path: Path, name: str, code: str, reviewer: str | None, profile: Any):
        try:
            set_id = sources.load(store, path, name)
        except (SampleRefused, SampleValidationError) as exc:  # an allowed file's line and field help its owner
            raise _error(str(exc)) from None
        msg = f"Loaded {store.n_items(set_id)} items (sample set {set_id})."
        if reviewer:
            view = navigate(store, set_id, _check(reviewer, code, profile), 0, "resume")
        else:
            view = empty_view()
            view["progress"] = "Enter your name and press **Start / resume**."
        view["status"] = msg
        return [set_id, md_escape(msg), *_as_outputs(view)]

    def load_path(given: str, code: str, reviewer: str | None, profile: gr.OAuthProfile | None):
        _check_access(code, profile)
        try:
            path = sources.resolve(given)
        except SampleRefused as exc:
            raise _error(str(exc)) from None
        return _load(path, Path(given.strip()).name, code, reviewer, profile)

    def load_upload(upload: str | None, code: str, reviewer: str | None, profile: gr.OAuthProfile | None):
        if not upload:
            return [gr.skip()] * (2 + len(VIEW_FIELDS))
        _check_access(code, profile)
        try:
            path = sources.resolve_upload(upload)
        except SampleRefused as exc:
            raise _error(str(exc)) from None
        return _load(path, path.name, code, reviewer, profile)

    def refresh_summary(code: str, set_id: str | None, profile: gr.OAuthProfile | None):
        _check_access(code, profile)
        if not set_id:
            return "Load a samples file first."
        return summary_markdown(store.summary(set_id), store.sample_set(set_id).name)

    def export_handler(ext: str):
        """Handler of the "csv" or "json" export button (``ReviewStore.export_csv`` / ``export_json``)."""
        write = getattr(store, f"export_{ext}")

        def export(code: str, set_id: str | None, profile: gr.OAuthProfile | None):
            _check_access(code, profile)
            if not set_id:
                raise _error("Load a samples file first.")
            return gr.File(value=str(write(_export_path(set_id, ext), set_id)), visible=True)
        return export

    # ---- wiring -----------------------------------------------------------------------------
    # Progress and error badges only on the status line: an error must not cover the reviewer's form.
    api = dict(api_visibility="undocumented", show_progress_on=[c["status"]])
    nav_inputs = [c["reviewer_state"], c["code"], c["set_state"], c["index_state"]]
    start_inputs = [c["reviewer"], c["code"], c["set_state"]]
    start_outputs = [c["reviewer_state"], c["reviewer"], *view_outputs]
    c["start"].click(start, start_inputs, start_outputs, api_name="review_start", **api)
    c["reviewer"].submit(start, start_inputs, start_outputs, api_name="review_start_submit", **api)
    for where in ("prev", "next", "first_unrated"):
        c[where].click(go_handler(where), nav_inputs, view_outputs, api_name=f"review_{where}", **api)
    save_inputs = [*nav_inputs, c["choice"], c["comment"], *rating_inputs]
    for key, advance in (("save", False), ("save_next", True)):
        c[key].click(save_handler(advance), save_inputs, view_outputs, api_name=f"review_{key}", **api)
    load_outputs = [c["set_state"], c["load_status"], *view_outputs]
    c["load"].click(load_path, [c["samples_path"], c["code"], c["reviewer_state"]], load_outputs,
                    api_name="review_load", **api)
    c["samples_upload"].upload(load_upload, [c["samples_upload"], c["code"], c["reviewer_state"]],
                               load_outputs, api_name="review_upload", **api)
    access_inputs = [c["code"], c["set_state"]]
    c["refresh"].click(refresh_summary, access_inputs, c["summary"], api_name="review_summary", **api)
    for ext in ("csv", "json"):
        c[f"export_{ext}"].click(export_handler(ext), access_inputs, c[f"{ext}_file"],
                                 api_name=f"review_export_{ext}", **api)
    return ReviewTab(components=c, default_set_id=default_set_id, load_message=load_message)


def build_review_demo(store: ReviewStore, samples_path: str | None, access: ReviewAccess | None = None,
                      sources: SampleSources | None = None) -> gr.Blocks:
    """A Blocks app holding only the review tab (standalone use and tests)."""
    with gr.Blocks(title="medchat review") as demo:
        with gr.Tab("Review"):
            build_review_tab(store, samples_path, access, sources)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m medchat.review_ui",
                                     description="Launch only the blind A/B review panel.")
    parser.add_argument("--samples", required=True, help="samples.jsonl written by medchat.evaluate")
    parser.add_argument("--db", default="review.db", help="SQLite file of the ratings (default: review.db)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: Gradio's)")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--hub-repo", default=None,
                        help="optional Hub dataset repo to sync ratings to (token from HF_TOKEN)")
    parser.add_argument("--sync-minutes", type=float, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    store = ReviewStore(args.db)
    if args.hub_repo:
        store.enable_hub_sync(args.hub_repo, token=os.environ.get("HF_TOKEN"), every=args.sync_minutes)
    demo = build_review_demo(store, args.samples)
    # Gradio refuses bigger uploads before they reach the disk; the tab refuses bigger files anyway.
    demo.launch(server_name=args.host, server_port=args.port,
                max_file_size=SampleSources.from_env(args.samples).max_bytes)


if __name__ == "__main__":
    main()
