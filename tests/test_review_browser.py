"""Click through the review tab in headless Debian Chromium (Playwright), rate 3 items, check the summary.

Writes a screenshot to tests/artifacts/review_panel.png.
"""

import os
import re
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

from tests.conftest import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"Debian Chromium not installed at {CHROMIUM}: browser test skipped", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

from medchat.review_store import ReviewStore  # noqa: E402
from medchat.review_ui import ReviewAccess, build_review_demo  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:.*(no_silent_downcasting|copy keyword).*")

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "samples_small.jsonl"
SCREENSHOT = HERE / "artifacts" / "review_panel.png"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 15_000


@pytest.fixture()
def app(tmp_path):
    store = ReviewStore(tmp_path / "review.db", blinding_seed=1234)
    demo = build_review_demo(store, str(FIXTURE), ReviewAccess())
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)
    try:
        yield store, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, txt]) => { const el = document.querySelector(sel); return el && el.innerText.includes(txt); }",
        arg=[selector, text], timeout=TIMEOUT_MS)


def _textbox(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def test_review_click_through(app):
    store, url = app
    items = store.items()
    blinding = store.blinding()
    dialogs: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            page.locator("#review-reviewer textarea").fill("dr_test")
            page.click("#review-start")
            _wait_text(page, "#review-progress", "item 1 of 4 · 0 rated")

            # verdicts by model: fine-tuned, fine-tuned, tie -> win rate (2 + 0.5) / 3 = 0.83
            wanted = ["finetuned", "finetuned", "tie"]
            for k, want in enumerate(wanted):
                item = items[k]
                _wait_text(page, "#review-progress", f"item {k + 1} of 4")
                assert _textbox(page, "review-patient") == item["patient"]  # HTML/script shown as text
                mapping = blinding[item["id"]]
                assert _textbox(page, "review-reply-a") == item["replies"][mapping["A"]]
                assert _textbox(page, "review-reply-b") == item["replies"][mapping["B"]]
                choice = "tie" if want == "tie" else ("A" if mapping["A"] == want else "B")
                page.locator(f'#review-choice input[value="{choice}"]').check()
                for lab, score in (("a", "4"), ("b", "3")):
                    for axis in ("accuracy", "safety", "communication", "completeness"):
                        page.locator(f'#review-{lab}-{axis} input[value="{score}"]').check()
                page.locator("#review-b-harmful input").check()
                page.locator("#review-comment textarea").fill(f"comment {k}")
                if k < 2:
                    page.click("#review-save")
                    _wait_text(page, "#review-status", f"Saved item {k + 1}.")
                    _wait_text(page, "#review-progress", f"{k + 1} rated")
                    page.click("#review-next")
                else:
                    page.click("#review-save-next")
                    _wait_text(page, "#review-progress", "item 4 of 4 · 3 rated")
            assert not page.locator("#review-choice input:checked").count()  # item 4 is blank

            # the reference stays behind a closed accordion until opened
            assert not page.locator("#review-reference").is_visible()
            # revisiting restores the saved rating
            page.click("#review-prev")
            _wait_text(page, "#review-progress", "item 3 of 4 · 3 rated · ✓ this item is saved")
            assert page.locator('#review-choice input[value="tie"]').is_checked()
            assert page.locator('#review-a-safety input[value="4"]').is_checked()
            assert page.locator("#review-b-harmful input").is_checked()
            assert _textbox(page, "review-comment") == "comment 2"

            # summary: open the (closed) accordion and refresh
            page.get_by_text("Summary and export").click()
            page.click("#review-refresh")
            _wait_text(page, "#review-summary", "3 ratings")
            summary = page.locator("#review-summary").inner_text()
            assert "3 of 4 items rated" in summary
            assert re.search(r"win rate vs base: 0\.83", summary)
            page.click("#review-export-csv")
            page.locator("#review-csv-file a").first.wait_for()
            assert ".csv" in page.locator("#review-csv-file").inner_text()

            page.get_by_text("Reference reply (doctor)").click()
            page.locator("#review-reference").wait_for(state="visible")
            assert _textbox(page, "review-reference") == items[2]["reference"]

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # a returning reviewer resumes at the first unrated item (fresh page, same name)
            page.goto(url)
            page.locator("#review-reviewer textarea").fill("dr_test")
            page.locator("#review-reviewer textarea").press("Enter")
            _wait_text(page, "#review-progress", "item 4 of 4 · 3 rated")
        finally:
            browser.close()
    assert dialogs == []  # no script from the samples ran
    assert len(store.ratings()) == 3
    s = store.summary()
    assert (s["wins"], s["ties"], s["losses"]) == (2, 1, 0)
    assert s["harmful_rate"] == {"base": pytest.approx(sum(blinding[i["id"]]["B"] == "base" for i in items[:3]) / 3),
                                 "finetuned": pytest.approx(sum(blinding[i["id"]]["B"] == "finetuned"
                                                                for i in items[:3]) / 3)}
