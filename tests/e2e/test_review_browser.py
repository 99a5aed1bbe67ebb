"""The clinician review page in a real browser (Debian's chromium, driven by Playwright):
`select` writes the page from a small scored table, a reviewer works through it with the
keyboard only, exports the verdicts CSV, and `select` run again with that CSV as
reviews/verdicts.csv applies the verdicts.

The screenshot for docs/img/review-page.png is taken every run into the test's temp folder;
`make screenshots` (PE_UPDATE_SCREENSHOTS=1) copies it into docs/img.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pixelated.core.config import build_config
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_turn
from pixelated.selection import gates
from pixelated.selection.select import SelectConfig, SelectPaths, run
from tests.conftest import MAX_TURN_CHARS, canonical_row
from tests.paths import REPO
from tests.unit.selection.test_select import PARAMS, scored

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra: make install")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium not on PATH: `make test` installs it (as root)", allow_module_level=True)

SCREENSHOT = REPO / "docs" / "img" / "review-page.png"
HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)">'
OLD_ID = "f" * 16  # a verdict for a conversation outside this review set: it must survive export
CRISIS_TURNS = [
    make_turn("seeker", "I haven't slept in days. Honestly I keep thinking I want to die."),
    make_turn("helper", "Thank you for telling me. Are you safe right now? If not, please call 988."),
    make_turn("seeker", "I think so. It just feels like nothing will change."),
    make_turn("helper", "That sounds exhausting. What has helped, even a little, on nights like this?"),
]


def scored_table(path: Path) -> list[str]:
    """Five scored conversations, written with the project's writer. In page order (by id):
    0 has a crisis flag and is kept automatically, 1 holds markup that must stay text, 2 is
    dropped for low quality, 3 for low safety, 4 is kept. Returns the ids in page order."""
    batch = scored(5)
    ids = sorted(batch["conversation_id"])
    row = {cid: index for index, cid in batch["conversation_id"].items()}
    crisis, hostile = row[ids[0]], row[ids[1]]
    batch.at[crisis, "turns"] = canonical_row(1, turns=CRISIS_TURNS)["turns"]
    batch.loc[crisis, ["n_turns", "crisis_kinds", "crisis_turns", "cssrs_level"]] = [4, "suicide", "0", 2]
    seeker, helper = batch.at[hostile, "turns"]
    batch.at[hostile, "turns"] = [{**seeker, "text": HOSTILE}, helper]
    batch.loc[row[ids[2]], "quality"] = 0.5
    batch.loc[row[ids[3]], "safety"] = 0.3
    schema = scored_schema(canonical_schema(MAX_TURN_CHARS))
    with ValidatedWriter(path, SCORED_SCHEMA, schema) as writer:
        writer.write(batch)
    return ids


def select_paths(tmp: Path) -> SelectPaths:
    return SelectPaths(
        input=tmp / "scored.parquet",
        verdicts=tmp / "verdicts.csv",
        output=tmp / "selected.parquet",
        quarantine=tmp / "quarantine.parquet",
        ledger=tmp / "ledger.json",
        review=tmp / "review",
        metrics=tmp / "select.json",
    )


def selected_ids(paths: SelectPaths) -> list[str]:
    return sorted(pq.read_table(paths.output).column("conversation_id").to_pylist())


def review_with_keyboard(page, download_dir: Path) -> str:
    """Name, three verdicts with reasons and notes, a reload (progress kept), export."""
    keys = page.keyboard
    keys.press("Tab")  # the reviewer's name is the first field
    keys.type("Dr Keyboard")
    keys.press("Escape")  # back to the current conversation, the first
    for key in ("d", "r", "ArrowDown", "ArrowDown", "Escape", "n"):  # drop, reason "crisis mishandled"
        keys.press(key)
    keys.type('advice was unsafe, "not ok"')
    keys.press("Escape")
    for key in ("j", "a", "j", "a", "n"):  # keep the next two; a note on the third
        keys.press(key)
    keys.type("context was safe")
    keys.press("Escape")
    sync_api.expect(page.locator("#progress")).to_have_text("4 of 5 reviewed")  # 3 + 1 already in the file
    page.reload()
    sync_api.expect(page.locator("#progress")).to_have_text("4 of 5 reviewed")
    sync_api.expect(page.locator("#reviewer")).to_have_value("Dr Keyboard")
    keys.press("k")
    keys.press("k")  # back to the first conversation, for the screenshot
    with page.expect_download() as download:
        keys.press("e")
    target = download_dir / download.value.suggested_filename
    download.value.save_as(target)
    return target.read_text()


def expected_csv(ids: list[str]) -> str:
    """What the page must export, written the way the repo writes CSVs (pandas, minimal quoting)."""
    rows = [
        (ids[0], "drop", "Dr Keyboard", 'crisis mishandled: advice was unsafe, "not ok"'),
        (ids[1], "keep", "Dr Keyboard", ""),
        (ids[2], "keep", "Dr Keyboard", "context was safe"),
        (ids[4], "keep", "dr earlier", "crisis handled well"),
        (OLD_ID, "drop", "dr earlier", "from an older review"),
    ]
    frame = pd.DataFrame(rows, columns=gates.VERDICT_COLUMNS).sort_values("conversation_id")
    return frame.to_csv(index=False)


def test_review_page_keyboard_export_and_reimport(tmp_path):
    ids = scored_table(tmp_path / "scored.parquet")
    paths = select_paths(tmp_path)
    paths.verdicts.write_text(
        f"conversation_id,verdict,reviewer,note\n{ids[4]},keep,dr earlier,crisis handled well\n"
        f"{OLD_ID},drop,dr earlier,from an older review\n"
    )
    cfg = build_config(SelectConfig, {**PARAMS, "review": {**PARAMS["review"], "sample_fraction": 1.0}})
    run(cfg, paths)
    assert selected_ids(paths) == [ids[0], ids[1], ids[4]]

    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto((paths.review / "review.html").as_uri())
        sync_api.expect(page.locator("#progress")).to_have_text("1 of 5 reviewed")
        assert page.locator("li.turn", has_text=HOSTILE).count() == 1  # shown as text
        assert page.locator("main img").count() == 0
        exported = review_with_keyboard(page, tmp_path)
        assert page.locator("li.crisis .crisis-label").first.is_visible()
        page.screenshot(path=tmp_path / "review-page.png")
        browser.close()
    assert errors == []  # no CSP violation, no script error
    assert exported == expected_csv(ids)

    paths.verdicts.write_text(exported)
    run(cfg, paths)
    assert selected_ids(paths) == [ids[1], ids[2], ids[4]]  # 0 dropped, 2 kept by the reviewer
    assert set(pq.read_table(paths.output).column("decision_source").to_pylist()) == {"review"}
    assert json.loads(paths.metrics.read_text())["review"]["verdicts_applied"] == 4
    if os.environ.get("PE_UPDATE_SCREENSHOTS"):
        shutil.copyfile(tmp_path / "review-page.png", SCREENSHOT)
