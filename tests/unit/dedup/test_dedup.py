"""Dedup: exact, near and semantic duplicates, keep policies, the cluster table, determinism
and the stage's keep/quarantine pass."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from datasketch import MinHash

from pixelated.core.config import build_config, read_params
from pixelated.core.embed import EmbeddingCache
from pixelated.core.schema import CONVERSATION_SCHEMA, DedupClusterSchema
from pixelated.dedup import semantic
from pixelated.dedup.cascade import find_duplicates
from pixelated.dedup.clusters import ClusterTable
from pixelated.dedup.dedup import DedupPaths, DedupStageConfig, run
from pixelated.dedup.features import exact_texts, features_fn, word_hash_sets
from pixelated.dedup.minhash import HashSets, LshParams, shingles, signatures, token_hashes, verified_pairs
from pixelated.dedup.report import summarize
from pixelated.dedup.store import spill
from pixelated.ingest.conversation import make_turn, stable_id
from pixelated.selection.split import KEY_COLUMNS, SplitPlan
from tests.conftest import canonical_row
from tests.conftest import frame as typed_frame
from tests.paths import REPO


def _merged(base: dict, changes: dict) -> dict:
    return {k: _merged(base[k], v) if isinstance(v, dict) else v for k, v in {**base, **changes}.items()}


def stage_config(**changes) -> DedupStageConfig:
    """params.yaml's config, dedup section changed as these tests need: no MiniLM unless asked,
    templated replies counted from two conversations on, two example clusters."""
    params = read_params(REPO / "params.yaml")
    test = {"semantic": {"enabled": False}, "templated": {"min_conversations": 2, "top": 5}, "examples": 2}
    dedup = _merged(_merged(params["dedup"], test), changes)
    return build_config(DedupStageConfig, {**params, "dedup": dedup})


CFG = stage_config().dedup

LONG = (
    "I have been feeling very low since I lost my job last month and I do not know how to tell my "
    "family about it because they always expected so much from me and I keep avoiding their calls"
)
ANSWER = (
    "Losing a job is a real loss and it makes sense that you feel low. Your family may be more "
    "understanding than you expect; could you start by telling the one person you trust most?"
)


def conv(name, seeker, helper, source="src", thread=None, upvotes=None):
    return {
        "conversation_id": stable_id(name),
        "source": source,
        "thread_id": thread or stable_id("thread", name),
        "upvotes": upvotes,
        "turns": [{"role": "seeker", "text": seeker}, {"role": "helper", "text": helper}],
    }


def frame(*rows):
    return pd.DataFrame(rows)


def cluster(data, cfg=CFG, cache=None):
    features = spill([features_fn(cfg)(data)])
    result = find_duplicates(features, cfg, cache)
    DedupClusterSchema.validate(result.clusters)
    return result, features


def by_name(result, data):
    clusters = result.clusters.set_index("conversation_id")
    return {name: clusters.loc[stable_id(name)] for name in data.attrs["names"]}


def named(*pairs):
    data = frame(*[conv(name, *rest) for name, *rest in pairs])
    data.attrs["names"] = [p[0] for p in pairs]
    return data


def test_signatures_equal_datasketch():
    docs = [LONG, ANSWER, "", "ok ok ok"]
    hashes = [token_hashes(shingles(d)) for d in docs]
    ours = signatures(hashes, 128, 1)
    for doc, row in zip(docs, ours, strict=True):
        reference = MinHash(num_perm=128, seed=1, hashfunc=xxhash.xxh32_intdigest)
        reference.update_batch([t.encode() for t in shingles(doc)])
        assert np.array_equal(reference.hashvalues, row)


def test_bands_derived_from_candidate_threshold():
    assert LshParams.for_threshold(0.85, 128) == LshParams(128, 8, 16)
    assert LshParams.for_threshold(0.8, 128) == LshParams(128, 9, 13)
    assert LshParams.for_threshold(0.8, 128, 16, 8) == LshParams(128, 16, 8)


def test_exact_near_and_hard_negative():
    data = named(
        ("a", LONG, ANSWER),
        ("a_copy", LONG.upper() + " !!", ANSWER.replace(".", " .")),  # case, punctuation, spacing
        ("a_edit", LONG.replace("very low", "so low"), ANSWER.replace("real loss", "big loss")),
        ("other", "I lost my job and feel low, how do I tell my family?", "Talk to them soon."),
    )
    result, _ = cluster(data)
    rows = by_name(result, data)
    assert rows["a"]["method"] == "kept"
    assert rows["a_copy"]["method"] == "exact"
    assert rows["a_edit"]["method"] == "near"
    assert rows["a_copy"]["kept_id"] == rows["a_edit"]["kept_id"] == stable_id("a")
    assert rows["other"]["method"] == "unique" and rows["other"]["kept"]
    assert rows["a_edit"]["cluster_id"] == min(stable_id(n) for n in ("a", "a_copy", "a_edit"))


def test_shared_question_is_one_group_not_a_duplicate():
    """counsel-chat: two therapists answer one question; both stay, in one group."""
    data = named(
        ("q1", LONG, ANSWER, "counsel_chat", "t1"),
        ("q2", LONG, "Consider writing down what you want to say before you call your parents.", "cc", "t2"),
    )
    result, _ = cluster(data)
    rows = by_name(result, data)
    assert rows["q1"]["kept"] and rows["q2"]["kept"]
    assert rows["q1"]["cluster_id"] != rows["q2"]["cluster_id"]
    assert rows["q1"]["group_id"] == rows["q2"]["group_id"]


@pytest.mark.parametrize(
    ("policy", "winner"), [("earliest", "short"), ("longest", "long"), ("highest_rated", "rated")]
)
def test_keep_policy(policy, winner):
    data = named(
        ("short", LONG, ANSWER, "s", None, 1),
        ("long", LONG, ANSWER + " Take your time.", "s", None, 2),
        ("rated", LONG + ".", ANSWER, "s", None, 9),
    )
    result, _ = cluster(data, stage_config(keep=policy).dedup)
    rows = by_name(result, data)
    assert {name for name, row in rows.items() if row["kept"]} == {winner}


def test_same_input_same_clusters_any_order():
    data = named(
        ("a", LONG, ANSWER),
        ("b", LONG.lower(), ANSWER),
        ("c", LONG.replace("month", "week"), ANSWER),
        ("d", "Different question entirely about sleep", "Try a regular bedtime."),
    )
    first, _ = cluster(data)
    again, _ = cluster(data)
    pd.testing.assert_frame_equal(first.clusters, again.clusters)
    shuffled = data.iloc[[3, 2, 1, 0]].reset_index(drop=True)
    shuffled.attrs["names"] = data.attrs["names"]
    other, _ = cluster(shuffled)
    left = first.clusters.set_index("conversation_id")[["cluster_id", "group_id"]].sort_index()
    right = other.clusters.set_index("conversation_id")[["cluster_id", "group_id"]].sort_index()
    pd.testing.assert_frame_equal(left, right)


def test_report_counts_by_method_and_templated_replies():
    reply = "I am so sorry to hear that."
    data = named(
        ("a", LONG, ANSWER),
        ("a2", LONG.lower(), ANSWER),
        ("x", "My cat died yesterday", reply),
        ("y", "I failed my driving test", reply),
    )
    result, _ = cluster(data)
    with ClusterTable(result) as table:
        report = summarize(table, result, CFG)
    assert report["removed"] == {"exact": 1, "near": 0, "semantic": 0}
    assert report["rows_in"] == 4 and report["rows_out"] == 3
    assert report["examples"]["exact"][0]["cluster_id"] == min(stable_id("a"), stable_id("a2"))
    # the sympathy line in x and y, and ANSWER in a and a2
    assert report["templated"]["templated_replies"] == 2
    assert [t["conversations"] for t in report["templated"]["top"]] == [2, 2]


PARAPHRASES = (
    (
        "p1",
        "I feel really anxious about my exams next week and I cannot sleep at night.",
        "That sounds very stressful. Have you tried making a study plan for each day?",
    ),
    (
        "p2",
        "I'm extremely anxious about my exams next week and can't sleep at night.",
        "That sounds really stressful. Have you tried to make a daily study plan?",
    ),
    (
        "p3",
        "I feel really anxious about my exams next week and I cannot sleep at night.",
        "Many students feel this way; a school counsellor can help you with exam anxiety.",
    ),
)


@pytest.mark.parametrize("exact_max", [20_000, 0], ids=["all_pairs", "listed"])
def test_semantic_paraphrase_removed_but_different_answers_kept(tmp_path, exact_max):
    cfg = stage_config(semantic={"enabled": True, "exact_max": exact_max}).dedup
    data = named(*PARAPHRASES)
    cache = EmbeddingCache(tmp_path / "cache.parquet")
    result, features = cluster(data, cfg, cache)
    rows = by_name(result, data)
    assert result.stats["semantic"]["search"] == ("all_pairs" if exact_max else "inverted_lists")
    assert rows["p2"]["method"] == "semantic" and rows["p2"]["kept_id"] == stable_id("p1")
    assert rows["p3"]["kept"]  # same question, different answer: not a duplicate
    assert rows["p3"]["group_id"] == rows["p1"]["group_id"]  # but the split keeps them together
    # another therapist answers p1's question with p2's answer: alike in meaning, not a copy
    pair = data.iloc[[0]].copy()
    other = data.iloc[0].to_dict()
    other["conversation_id"] = stable_id("p4")
    other["turns"] = [data.iloc[0]["turns"][0], data.iloc[1]["turns"][1]]
    pair = pd.concat([pair, pd.DataFrame([other])], ignore_index=True)
    pair.attrs["names"] = ["p1", "p4"]
    answers = by_name(cluster(pair, cfg, cache)[0], pair)
    assert answers["p4"]["kept"] and answers["p4"]["group_id"] == answers["p1"]["group_id"]
    cache.save(keep=cache.keys(features.all_side_texts()))
    again = EmbeddingCache(tmp_path / "cache.parquet")
    rerun, _ = cluster(data, cfg, again)
    assert again.misses == 0 and again.hits > 0  # a re-run embeds nothing
    pd.testing.assert_frame_equal(result.clusters, rerun.clusters)


def test_semantic_dedup_links_conversations_without_threads(tmp_path, monkeypatch):
    """A source without thread ids (a plain JSONL export) still gets semantic dedup: a missing
    thread is shared with no one. Embedding a chunk at a time finds the same links."""
    monkeypatch.setattr(semantic, "EMBED_ROWS", 1)
    cfg = stage_config(semantic={"enabled": True}).dedup
    data = named(*PARAPHRASES).assign(thread_id=None)
    features = spill(features_fn(cfg)(data.iloc[[i]]) for i in range(len(data)))  # a row group each
    rows = by_name(find_duplicates(features, cfg, EmbeddingCache(tmp_path / "cache.parquet")), data)
    assert rows["p2"]["method"] == "semantic" and rows["p2"]["kept_id"] == stable_id("p1")
    assert rows["p3"]["kept"]


def test_split_keeps_planted_duplicates_together():
    """Planted near-duplicates in their own threads: with dedup groups none crosses a split."""
    rows = []
    for i in range(30):
        text = f"{LONG} number {i} " + " ".join(f"w{i}x{k}" for k in range(20))
        rows.append(conv(f"base{i}", text, ANSWER, "s"))
        rows.append(conv(f"copy{i}", text.replace("very low", "so low"), ANSWER, "s"))
    data = pd.DataFrame(rows)
    result = find_duplicates(spill([features_fn(CFG)(data)]), stage_config(exact=False).dedup)
    row_of = {conversation_id: row for row, conversation_id in enumerate(data["conversation_id"])}
    pairs = np.array(
        [
            (row_of[a], row_of[b])
            for a, b in zip(result.clusters["conversation_id"], result.clusters["kept_id"], strict=True)
            if a != b
        ]
    )
    assert len(pairs) == 30
    keys = data.assign(content_hash=data["conversation_id"])[KEY_COLUMNS]
    batches = pa.Table.from_pandas(keys, preserve_index=False).to_batches()
    with SplitPlan(batches, [0.5, 0.25, 0.25], 3, 5, 0) as without:
        assert without.near_duplicate_leakage(pairs) > 0  # the check sees leaks
    groups = pa.Table.from_pandas(result.clusters[["conversation_id", "group_id"]], preserve_index=False)
    with SplitPlan(batches, [0.5, 0.25, 0.25], 3, 5, 0, clusters=groups) as with_groups:
        assert with_groups.near_duplicate_leakage(pairs) == 0


def test_batch_word_hashes_equal_per_document_shingles():
    """The Arrow fast path gives the same word sets as `shingles` on plain text."""
    texts = [[LONG, ANSWER], ["Hi, how ARE you?", "fine  thanks"], []]
    turns = [t for doc in texts for t in doc]
    doc_of_turn = np.array([i for i, doc in enumerate(texts) for _ in doc])
    fast = word_hash_sets(exact_texts(pa.array(turns, pa.string())), doc_of_turn, len(texts))
    for doc, hashes in zip(texts, fast, strict=True):
        assert np.array_equal(hashes, token_hashes(shingles(" ".join(doc)))) if doc else len(hashes) == 0


def test_stage_keeps_one_per_cluster_and_quarantines_the_rest(tmp_path):
    """The stage: every input row is kept or quarantined with its keeper, and the ledger balances."""
    talk = [make_turn("seeker", LONG), make_turn("helper", ANSWER)]
    rows = [canonical_row(1, talk), canonical_row(2, talk), canonical_row(3)]
    source = tmp_path / "anonymized.parquet"
    pq.write_table(pa.Table.from_pandas(typed_frame(rows), CONVERSATION_SCHEMA, preserve_index=False), source)
    files = {
        "output": "deduped.parquet",
        "clusters": "clusters.parquet",
        "quarantine": "quarantine.parquet",
        "ledger": "ledger.json",
        "report": "dedup.json",
        "cache": "embeddings.parquet",
    }
    paths = DedupPaths(input=source, **{name: tmp_path / file for name, file in files.items()})
    run(stage_config(), paths)
    ids = [row["conversation_id"] for row in rows]
    assert pq.read_table(paths.output)["conversation_id"].to_pylist() == [ids[0], ids[2]]
    quarantined = pq.read_table(paths.quarantine).to_pylist()
    assert [(q["conversation_id"], q["reason"]) for q in quarantined] == [(ids[1], "duplicate_exact")]
    assert f"exact duplicate of {ids[0]}" in quarantined[0]["detail"]
    ledger = json.loads(paths.ledger.read_text())
    assert (ledger["rows_in"], ledger["rows_out"], ledger["dropped"]) == (3, 2, {"duplicate_exact": 1})
    assert pq.read_table(paths.clusters).num_rows == 3
    assert json.loads(paths.report.read_text())["removed"]["exact"] == 1


def _random_near_copies(rng: np.random.Generator, originals: int, copies: int) -> list[np.ndarray]:
    """Shingle sets: originals of 60 words and copies with a few words swapped, some so many that
    they match their original only through another copy (the case a star alone would miss)."""
    base = [rng.choice(1 << 20, 60, replace=False).astype(np.uint32) for _ in range(originals)]
    sets = list(base)
    for _ in range(copies):
        words = sets[rng.integers(len(sets))].copy()
        changed = rng.choice(len(words), int(rng.integers(1, 6)), replace=False)
        words[changed] = rng.integers(1 << 20, size=len(changed))
        sets.append(np.unique(words))
    return [sets[i] for i in rng.permutation(len(sets))]


def test_component_links_cluster_exactly_as_all_verified_pairs():
    """Issue 14: linear-time links give the components of every verified candidate pair."""
    from pixelated.core.unionfind import UnionFind, components
    from pixelated.dedup.minhash import near_pairs

    sets = _random_near_copies(np.random.default_rng(3), 150, 450)
    sigs = signatures(sets, 128, 1)
    every, _ = near_pairs(HashSets.of(sets), [sigs], 0.85, 0.8, 128)
    links, _ = near_pairs(HashSets.of(sets), [sigs], 0.85, 0.8, 128, stray_checks=4)
    as_set = lambda pairs: set(map(tuple, pairs.tolist()))  # noqa: E731
    assert len(links) < len(every) and as_set(links) <= as_set(every)
    finder = UnionFind(range(len(sets)))
    for a, b in every.tolist():
        finder.union(a, b)
    expected = [finder.find(i) for i in range(len(sets))]
    assert components(len(sets), links).tolist() == expected
    assert components(len(sets), every).tolist() == expected


def test_stray_checks_bound_the_work_in_a_bucket_of_strangers(monkeypatch):
    """Issue 14: one LSH bucket of k documents that match nobody used to cost every pair
    (k^2 / 2 checks, growing with the cluster sizes); now each one costs at most
    1 + `stray_checks`, and nothing is linked."""
    from pixelated.dedup import minhash

    k, checks = 300, 16
    sets = [np.arange(10 * i, 10 * i + 10, dtype=np.uint32) for i in range(k)]  # disjoint
    one_bucket = np.ones(k, np.uint64)  # one band that puts every document in one bucket
    checked, verify = [], minhash.verified_pairs

    def counted(pairs, *args):
        checked.append(len(pairs))
        return verify(pairs, *args)

    monkeypatch.setattr(minhash, "verified_pairs", counted)
    links, _ = minhash.component_links([one_bucket], HashSets.of(sets), 0.85, checks)
    assert len(links) == 0
    assert sum(checked) <= (k - 1) * (1 + checks) < k * (k - 1) // 2


def test_verified_pairs_score_the_true_jaccard():
    """Verification gives each candidate pair its exact Jaccard, across the chunks it sorts in;
    two documents without shingles are identical, one empty and one not share nothing."""
    rng = np.random.default_rng(5)
    sets = [np.unique(rng.integers(0, 300, int(rng.integers(1, 80)))).astype(np.uint32) for _ in range(200)]
    sets += [np.zeros(0, np.uint32), np.zeros(0, np.uint32)]
    candidates = np.unique(np.sort(rng.integers(0, 200, (3000, 2)), axis=1), axis=0)
    candidates = np.concatenate([candidates[candidates[:, 0] < candidates[:, 1]], [[0, 200], [200, 201]]])

    def jaccard(a: int, b: int) -> float:
        x, y = set(sets[a].tolist()), set(sets[b].tolist())
        return len(x & y) / len(x | y) if x | y else 1.0

    pairs, scores = verified_pairs(candidates, HashSets.of(sets), 0.0)
    expected = candidates.tolist()  # every pair, in the candidates' order
    assert pairs.tolist() == expected
    assert np.allclose(scores, [jaccard(a, b) for a, b in expected])
    above, above_scores = verified_pairs(candidates, HashSets.of(sets), 0.5)
    assert above.tolist() == pairs[scores >= 0.5].tolist()
    assert np.array_equal(above_scores, scores[scores >= 0.5])


def test_cluster_table_comes_in_chunks_and_checks_the_whole_table():
    """Issue 14: the table is written a chunk at a time (each chunk pandera-checked), and what
    no chunk can see (one kept per cluster, ids unique) is checked in SQL over all of it."""
    data = named(
        ("a", LONG, ANSWER),
        ("b", "My cat died yesterday", "I am so sorry."),
        ("a2", LONG.lower(), ANSWER),
        ("a3", LONG + " !", ANSWER),
        ("c", "I failed my driving test", "That is hard."),
    )
    result, _ = cluster(data)
    with ClusterTable(result) as table:
        chunks = list(table.frames(rows=2))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    for chunk in chunks:
        DedupClusterSchema.validate(chunk)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), result.clusters)

    two_kept = result.decisions.set_column(3, "kept_row", [pa.array(np.arange(5, dtype=np.int64))])
    broken = dataclasses.replace(result, decisions=two_kept)  # a2 and a3 kept in a's cluster
    with pytest.raises(ValueError, match="exactly one kept"):
        ClusterTable(broken)
