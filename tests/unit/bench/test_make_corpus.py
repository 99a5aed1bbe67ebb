"""The scale-test corpus (bench/make_corpus.py): its size, determinism, answer key, licences,
and that ingest reads every record of it."""

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench.make_corpus import Rates, generate, parse_size
from pixelated.core.ledger import Rejection
from pixelated.ingest.acquire import acquire_all
from pixelated.ingest.config import SourceConfig
from pixelated.ingest.ingest import read_source
from tests.conftest import READ_OPTIONS

SIZE = 1_000_000


@pytest.fixture(scope="module")
def rows(shared_items) -> list[dict]:
    """Every 20th real conversation: a 1 MB corpus then holds remixes as well as real ones."""
    return [row for name in sorted(shared_items) for row in shared_items[name][0]][::20]


@pytest.fixture(scope="module")
def make(rows, shared_sources, tmp_path_factory):
    def run(seed: int) -> tuple[Path, dict]:
        output = tmp_path_factory.mktemp(f"corpus{seed}")
        return output, generate(rows, shared_sources, SIZE, seed, output, Rates())

    return run


@pytest.fixture(scope="module")
def corpus(make) -> tuple[Path, dict]:
    return make(1)


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("*/corpus.jsonl")) for line in path.open()]


def test_size_and_determinism(corpus, make):
    folder, manifest = corpus
    written = files(folder)
    assert 0.97 * SIZE <= manifest["size_written"] <= SIZE
    assert (
        sum(len(data) for name, data in written.items() if name.endswith(".jsonl"))
        == manifest["size_written"]
    )
    assert files(make(1)[0]) == written
    other = files(make(2)[0])
    assert {n: d for n, d in other.items() if n.endswith(".jsonl")} != {
        n: d for n, d in written.items() if n.endswith(".jsonl")
    }


def test_manifest_counts_what_the_files_hold(corpus, shared_sources):
    folder, manifest = corpus
    found = records(folder)
    kinds = Counter(r["planted"]["kind"] for r in found)
    assert kinds == manifest["kinds"] and all(kinds.values())  # real, remix and both duplicates
    assert len(found) == manifest["records"] == len({r["id"] for r in found})
    real = {(r["base_source"], r["base_record_id"]) for r in found if r["planted"]["kind"] == "real"}
    assert len(real) == kinds["real"] == manifest["base_conversations"]  # each once, then remixes
    pii = [item for r in found for item in r["planted"]["pii"]]
    assert len(pii) == manifest["pii"]["items"] > 0
    assert Counter(item["type"] for item in pii) == manifest["pii"]["by_type"]
    by_id = {r["id"]: r for r in found}
    for r in found:
        assert r["license"] == shared_sources[r["base_source"]].license
        assert r["license"] == manifest["sources"][r["base_source"]]["license"]
        for item in r["planted"]["pii"]:
            assert item["value"] in r["turns"][item["turn"]]["text"]
        if r["planted"]["kind"] == "exact_duplicate":
            assert r["turns"] == by_id[r["planted"]["of"]]["turns"]
        if r["planted"]["kind"] == "near_duplicate":
            assert by_id[r["planted"]["of"]]["base_source"] == r["base_source"]


def test_ingest_reads_every_record(corpus, tmp_path):
    folder, manifest = corpus
    sources = {
        name: SourceConfig.model_validate(keys)
        for name, keys in yaml.safe_load((folder / "sources.yaml").read_text()).items()
    }
    raw = tmp_path / "raw"
    acquire_all(sources, folder, raw)  # checks every file against its sha256 in sources.yaml
    items = [
        item
        for name, source in sorted(sources.items())
        for item in read_source(raw, name, source, READ_OPTIONS)
    ]
    assert not [item for item in items if isinstance(item, Rejection)]
    assert len(items) == manifest["records"] == len({row["conversation_id"] for row in items})
    assert {(row["source"], row["license"]) for row in items} == {
        (name, entry["license"]) for name, entry in manifest["sources"].items()
    }


def test_parse_size():
    assert parse_size("250MB") == 250_000_000
    assert parse_size("2GB") == 2_000_000_000
    assert parse_size("1MiB") == 2**20
    assert parse_size("1000") == 1000
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("lots")
