"""bench/split_memory: select's output and dedup's clusters grown into copies that link to
nothing in another copy, split by the stage's own code, with what it measured."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from bench.memory import with_ratios
from bench.split_memory import grow, run_split
from pixelated.core.schema import CONVERSATION_SCHEMA
from tests.conftest import canonical_row, frame


def test_grown_copies_split_apart_and_are_measured(tmp_path):
    rows = [canonical_row(i) for i in range(1, 21)]
    for row in rows:
        row["thread_id"] = "one-thread"  # one group per copy
    selected = tmp_path / "selected.parquet"
    pq.write_table(pa.Table.from_pandas(frame(rows), CONVERSATION_SCHEMA, preserve_index=False), selected)
    ids = [row["conversation_id"] for row in rows]
    clusters = tmp_path / "clusters.parquet"
    pq.write_table(
        pa.table({"conversation_id": ids, "cluster_id": ids, "group_id": ids, "kept_id": ids}), clusters
    )
    grown_selected, grown_clusters = grow(selected, clusters, 3, tmp_path, batch_size=8)
    out = tmp_path / "out"
    entry = run_split(grown_selected, grown_clusters, out)
    assert entry["rows_in"] == 60 and entry["peak_rss_mb"] > 0
    assert json.loads((out / "split.json").read_text())["groups"] == 3
    texts = pq.read_table(grown_selected, columns=["turns"]).column("turns").to_pylist()
    assert texts[0][0]["text"].endswith("_0") and texts[20][0]["text"].endswith("_1")  # no shared shingle
    assert texts[20][0]["text"].replace("_1", "") == texts[0][0]["text"].replace("_0", "")
    sizes = pq.ParquetFile(grown_selected).metadata
    assert [sizes.row_group(g).num_rows for g in range(sizes.num_row_groups)] == [8] * 7 + [4]


def test_ratios_are_to_the_smallest_size():
    rows = {10: {"peak_rss_mb": 100.0, "wall_s": 2.0}, 40: {"peak_rss_mb": 130.0, "wall_s": 8.0}}
    assert with_ratios(rows)["40"] == {
        "peak_rss_mb": 130.0,
        "wall_s": 8.0,
        "rss_ratio_to_smallest": 1.3,
        "time_ratio_to_smallest": 4.0,
        "data_ratio_to_smallest": 4.0,
    }
