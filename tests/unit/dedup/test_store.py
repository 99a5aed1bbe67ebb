"""Issue 14: dedup's features spilled to disk read back exactly, in bounded chunks."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pixelated.core.config import read_params
from pixelated.dedup import store
from pixelated.dedup.config import DedupConfig
from pixelated.dedup.features import features_fn
from pixelated.dedup.minhash import HashSets, stray_pairs
from pixelated.ingest.conversation import stable_id
from tests.paths import REPO


def _batch(first: int, count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": [stable_id("c", str(i)) for i in range(first, first + count)],
            "source": "demo",
            "thread_id": None,
            "turns": [
                [
                    {"role": "seeker", "text": f"seeker {i} feels low about job {i % 7}"},
                    {"role": "helper", "text": f"helper {i} hears that {'and more ' * (i % 5)}"},
                ]
                for i in range(first, first + count)
            ],
        }
    )


def test_spilled_features_read_back_as_computed(monkeypatch):
    monkeypatch.setattr(store, "CHUNK_ROWS", 3)  # signature reads cross chunks
    cfg = DedupConfig.model_validate(read_params(REPO / "params.yaml")["dedup"])
    frames = [features_fn(cfg)(_batch(first, 4)) for first in (0, 4, 8)]  # three row groups
    whole = pd.concat(frames, ignore_index=True)
    with store.spill(iter(frames)) as features:
        folder = features.path
        ids = pq.read_table(features.table, columns=["conversation_id"]).column(0).to_pylist()
        assert ids == whole["conversation_id"].tolist()
        assert features.keys["exact"].tolist() == [int(key, 16) for key in whole["exact_key"]]
        assert features.keys["thread"].isna().all()
        assert features.keys["length"].tolist() == whole["length"].tolist()
        rows = np.array([1, 5, 6, 11])
        signatures = np.concatenate(list(features.signatures(rows)))
        assert np.array_equal(signatures, np.stack(whole["signature"])[rows])
        sets = features.hash_sets.subset(rows)
        gathered = sets.gather(np.array([3, 0]))
        assert np.array_equal(gathered, np.concatenate([whole["hashes"][11], whole["hashes"][1]]))
        groups = list(features.side_texts(rows))
        assert len(groups) == 3  # one per row group that holds a wanted row
        assert [text for seeker, _ in groups for text in seeker] == whole["seeker_text"][rows].tolist()
        assert [text for _, helper in groups for text in helper] == whole["helper_text"][rows].tolist()
        assert sorted(features.all_side_texts()) == sorted([*whole["seeker_text"], *whole["helper_text"]])
    assert not folder.exists()  # closing removes the spill


def test_no_batches_spill_no_features():
    with store.spill(iter([])) as features:
        assert len(features) == 0 and list(features.all_side_texts()) == []


def test_hash_sets_gather_from_memory_and_file(tmp_path):
    sets = [np.array([1, 5], np.uint32), np.zeros(0, np.uint32), np.array([2, 3, 9], np.uint32)]
    in_memory = HashSets.of(sets)
    values = tmp_path / "values.u32"
    np.concatenate(sets).tofile(values)
    on_disk = HashSets(in_memory.starts, in_memory.sizes, values)
    for found in (in_memory, on_disk):
        assert found.gather(np.array([2, 1, 0])).tolist() == [2, 3, 9, 1, 5]
        assert found.gather(np.array([1])).tolist() == []


def test_stray_pairs_pair_each_stray_with_its_buckets_first_members_elsewhere():
    """Against the definition: a stray (outside its bucket head's component) and each of the
    bucket's first `checks` members in another component, every pair once, sorted."""
    rng = np.random.default_rng(7)
    n, checks = 60, 3
    roots = np.minimum(np.arange(n), rng.integers(0, n, n))
    roots = roots[roots]  # roots of roots: a valid component labelling
    buckets = [np.sort(rng.choice(n, int(rng.integers(2, 9)), replace=False)) for _ in range(40)]
    doc = np.concatenate(buckets)
    start = np.concatenate([np.eye(1, len(b), dtype=bool)[0] for b in buckets])
    expected = set()
    for bucket in buckets:
        for member in bucket:
            if roots[member] != roots[bucket[0]]:
                expected |= {
                    (min(member, x), max(member, x)) for x in bucket[:checks] if roots[x] != roots[member]
                }
    found = stray_pairs(start, doc, roots, checks)
    assert [tuple(p) for p in found.tolist()] == sorted(expected)
