"""The report in a real headless Chromium (the system's, driven by Playwright): `index.html` opened from
disk over file://, every job shown with its outcome, a filter used, a link followed to a job page, its
chart and failed rows found, and a screenshot of each saved to the test's folder.

Where Playwright or Chromium is missing the test skips, saying which; on CI (CI=true) it fails instead:
.ci/run installs Chromium from the system's packages and Playwright comes with the `test` extra.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import stores
from tests.support.project import Site
from tests.support.stores import StateUnderTest
from tests.test_report_html import ODD, make_runs, report

state_store = stores.state_store_fixture
site = stores.site_fixture
# Debian's and Ubuntu's Chromium, then the Google Chrome that GitHub's Ubuntu runners carry; or the one
# named by INFINITI_SYNC_TEST_CHROMIUM.
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; on CI the browser test must run (.ci/run installs Chromium)")
    pytest.skip(why)


def _chromium() -> str:
    named = os.environ.get("INFINITI_SYNC_TEST_CHROMIUM")
    if named:
        if not Path(named).is_file():
            _missing(f"INFINITI_SYNC_TEST_CHROMIUM names {named}, which is not a file")
        return named
    for path in CHROMIUM:
        if Path(path).is_file():
            return path
    found = shutil.which("chromium")
    if found is None:
        _missing("no Chromium here (/usr/bin/chromium): install it with apt-get install -y chromium")
    assert found is not None
    return found


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[Any]:
    """A headless Chromium of the system's, through Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: python3 -m pip install playwright (the test extra has it)")
        raise
    executable = _chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("state_store", ["sqlite"], indirect=True)
def test_the_report_in_a_browser(
    site: Site, state_store: StateUnderTest, tmp_path: Path, browser: Any
) -> None:
    make_runs(site, state_store)
    out = tmp_path / "report"
    assert report(site, state_store, out).code == 0
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto((out / "index.html").as_uri())

    rows = page.locator("#jobs tbody tr")
    shown = {
        rows.nth(i).locator("th a").inner_text(): rows.nth(i).locator(".badge").inner_text() for i in range(3)
    }
    assert shown == {"demo/staff": "failed", "demo/students": "held", "demo/library": "ok"}

    page.get_by_text("held (1)").click()  # the outcome filter: only the held job is left
    visible = [r for r in rows.all() if r.is_visible()]
    assert [r.locator("th a").inner_text() for r in visible] == ["demo/students"]
    page.get_by_text("not synced for 1 day (0)").click()  # and last synced over a day ago: none
    assert not [r for r in rows.all() if r.is_visible()]
    page.get_by_text("any time").click()
    page.get_by_text("all (3)").click()
    page.get_by_role("button", name="Failed").click()  # sorted by failed rows, fewest first
    assert [r.locator("th a").inner_text() for r in rows.all()][-1] == "demo/staff"
    ok = page.locator("#jobs .badge.ok").first
    assert ok.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(26, 127, 55)"  # styled: allowed
    page.screenshot(path=tmp_path / "overview.png", full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("nav.filters").is_visible() and rows.first.is_visible()  # printed: no filters
    page.emulate_media(media="screen")

    page.get_by_role("link", name="demo/staff").click()
    page.wait_for_load_state()
    assert page.url == (out / "jobs" / "demo" / "staff.html").as_uri()
    chart = page.locator("svg.chart")
    assert chart.is_visible() and chart.bounding_box()["height"] > 100
    assert chart.locator("rect.failed:not(.mark)").count() == 2
    failed = page.locator("#failed-rows tbody tr")
    assert failed.count() == 7
    assert failed.nth(6).locator("td.username").inner_text() == ODD  # text, never markup
    page.screenshot(path=tmp_path / "job.png", full_page=True)
    assert (tmp_path / "overview.png").stat().st_size > 10_000 and (
        tmp_path / "job.png"
    ).stat().st_size > 10_000

    assert all(url.startswith("file://") for url in asked), asked  # nothing from the network
    assert problems == []  # no script error, nothing the page's policy refused
