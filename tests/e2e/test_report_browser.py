"""reports/report.html in a real browser (Debian's chromium, driven by Playwright): the page
drawn from the repository's own reports shows every section, loads every plot from data URIs
with no request and no console error, and is readable without a mouse (section links).

The screenshot is taken every run into the test's temp folder; `make screenshots`
(PE_UPDATE_SCREENSHOTS=1) copies it to docs/img/report.png.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from pixelated.reporting.html import SECTIONS
from pixelated.reporting.report import ReportPaths, write_page
from tests.paths import REPO

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra: make install")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium not on PATH: `make test` installs it (as root)", allow_module_level=True)

SCREENSHOT = REPO / "docs" / "img" / "report.png"


def report_stage_paths(reports: Path) -> ReportPaths:
    """The report stage's paths as dvc.yaml names them, under a copy of reports/."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]
    words = stage["cmd"].split()
    flags = {}
    for word in words:
        if word.startswith("--"):
            key = word[2:].replace("-", "_")
            flags[key] = []
        elif flags:
            flags[key].append(Path(word.replace("reports/", f"{reports}/", 1)))
    return ReportPaths(**{k: v if k in ("ledger", "quarantine") else v[0] for k, v in flags.items()})


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> Path:
    reports = tmp_path_factory.mktemp("report") / "reports"
    shutil.copytree(REPO / "reports", reports)
    paths = report_stage_paths(reports)
    ledgers = [json.loads(path.read_text()) for path in paths.ledger]
    tiers = yaml.safe_load((REPO / "params.yaml").read_text())["quality"]["tiers"]
    write_page(paths, ledgers, tiers)
    return paths.html


def test_report_renders_offline_in_chromium(page_file, tmp_path):
    requests, errors = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(page_file.as_uri())
        widths = page.evaluate("Array.from(document.images).map(image => image.naturalWidth)")
        alts = page.evaluate("Array.from(document.images).map(image => image.alt)")
        headings = page.locator("h2").all_inner_texts()
        page.keyboard.press("Tab")  # the first section link takes the focus
        focused = page.evaluate("document.activeElement.getAttribute('href')")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert headings == list(SECTIONS.values())
    assert len(widths) >= 6 and all(width > 0 for width in widths)  # every plot decoded
    assert all(alts)
    assert focused == "#funnel"
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 50_000
    if os.environ.get("PE_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
