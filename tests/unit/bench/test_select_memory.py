"""bench/select_memory: score's output grown into copies with new ids, selected by the stage's
own code, with what it measured."""

import json

from bench.select_memory import grow, run_select
from tests.unit.selection.test_select import scored, write_scored


def test_grown_copies_are_selected_and_measured(tmp_path):
    batch = scored(4, quality=[0.9, 0.9, 0.5, 0.9], safety=[1.0, 1.0, 1.0, 0.3])
    batch.loc[3, "crisis_kinds"] = "suicide"
    write_scored(batch, tmp_path / "scored.parquet")
    grown = grow(tmp_path / "scored.parquet", 3, tmp_path, batch_size=5)
    out = tmp_path / "out"
    out.mkdir()
    entry = run_select(grown, out)
    assert entry["rows_in"] == 12 and entry["peak_rss_mb"] > 0
    metrics = json.loads((out / "select.json").read_text())
    assert metrics["kept"] == 6  # per copy: the low-quality and the unsafe one are dropped
    assert metrics["review"]["by_reason"]["crisis_flag+low_safety"] == 3  # every copy's crisis
    page = (out / "review" / "review.html").read_text()
    assert page.count('<article class="conv"') == metrics["review"]["conversations"] >= 3
