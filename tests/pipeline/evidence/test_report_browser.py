"""The report as a person sees it: opened from disk in a real headless Chromium.

Debian's ``chromium`` driven by Playwright's Python API (``executable_path``; never
``playwright install``, which downloads browsers). Without chromium a developer's run skips;
CI (ADLIB_REQUIRE_PG=1, where .ci/run installs it) fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.analyst_db import invoke

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install -e '.[test]')"
    if not Path(CHROMIUM).is_file():
        missing = "Debian's chromium (apt-get install chromium)"
    if missing is None:
        return
    if os.environ.get("ADLIB_REQUIRE_PG") == "1":
        pytest.fail(f"CI needs {missing} for the report's browser test")
    pytest.skip(f"the browser test needs {missing}")


def test_report_renders_offline_without_running_data(practices_db: str, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report"
    assert invoke(practices_db, tmp_path, "report", "--country", "KE", "--out", str(out))[0] == 0
    url = (out / "index.html").resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    args = [*ARGS, "--no-sandbox"] if os.geteuid() == 0 else ARGS
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url, wait_until="load")
            charts = page.eval_on_selector_all(
                "img.chart",
                "els => els.map(e => [e.naturalWidth, e.getBoundingClientRect().width,"
                " e.getBoundingClientRect().height, e.complete])",
            )
            planted = page.eval_on_selector_all('img[src="x"]', "els => els.length")
            body_text = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(charts) == 6
    assert all(
        natural > 0 and width > 0 and height > 0 and done for natural, width, height, done in charts
    )
    assert [r for r in requests if not r.startswith(("file://", "data:"))] == []
    assert errors == [] and dialogs == [] and planted == 0
    assert "<img src=x onerror=alert(1)> Clean water for every village." in body_text
    assert "<img src=x onerror=alert(2)>Blue Alliance" in body_text
    assert (tmp_path / "report.png").stat().st_size > 10_000
