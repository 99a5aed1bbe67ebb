"""bench/export_memory: splits grown with new ids in the stages' row groups, exported in every
format by the stage's own code, with what it measured."""

import pyarrow as pa
import pyarrow.parquet as pq

from bench.export_memory import grow_splits, run_export
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLITS
from pixelated.ingest.conversation import make_turn
from tests.conftest import canonical_row, frame


def test_grown_splits_export_in_every_format(tmp_path):
    source = tmp_path / "splits"
    source.mkdir()
    for offset, name in enumerate(SPLITS):
        rows = [
            canonical_row(
                10 * offset + i, [make_turn("seeker", f"I feel low {i}"), make_turn("helper", "I hear you.")]
            )
            for i in range(1, 4)
        ]
        table = pa.Table.from_pandas(frame(rows), schema=CONVERSATION_SCHEMA, preserve_index=False)
        pq.write_table(table, source / f"{name}.parquet")
    grown = grow_splits(source, tmp_path / "grown", factor=3, batch_size=4)
    train = pq.ParquetFile(grown["train"])
    assert [train.metadata.row_group(g).num_rows for g in range(train.num_row_groups)] == [4, 4, 1]
    assert len(set(train.read(columns=["conversation_id"]).column(0).to_pylist())) == 9  # new ids per copy
    entry = run_export(tmp_path / "grown", tmp_path / "export")
    assert entry["rows"] == 27 and entry["peak_rss_mb"] > 0
    assert (tmp_path / "export" / "hf" / "dataset_dict.json").exists()
