"""Conversation-level deduplication: exact, near (MinHash LSH) and semantic (MiniLM), in cascade.

Each method only looks at one representative of what the previous one already merged, so the
expensive steps see the fewest documents. Every link goes into union-find; a final cluster
keeps one conversation by the configured policy. A separate, wider `group_id` also joins
conversations that share their seeker turns or source thread (counsel-chat answers to one
question): not duplicates, so none is removed, but the split must keep them on one side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pixelated.core.embed import EmbeddingCache
from pixelated.core.hashing import text_key
from pixelated.core.schema import DEDUP_METHODS, TURN_TYPE
from pixelated.core.unionfind import UnionFind
from pixelated.dedup.minhash import (
    LshParams,
    near_pairs,
    shingles,
    signatures,
    token_hashes,
    token_hashes_list,
)

KEEP_POLICIES = ("earliest", "longest", "highest_rated")


def exact_texts(texts: pa.Array) -> pa.Array:
    """Texts as compared by exact dedup: NFKC, lower case, punctuation dropped, spaces collapsed.

    Arrow compute over all turns of a batch at once: per-turn Python regexes were most of the
    stage's time.
    """
    text = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(texts, ""), "NFKC"))
    text = pc.replace_substring_regex(text, r"[^\p{L}\p{N}\s]+", "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def word_hash_sets(exact: pa.Array, doc_of_turn: np.ndarray, n_docs: int) -> list[np.ndarray]:
    """Per document, the sorted unique xxh32 hashes of its words (word 1-gram shingles).

    Each distinct word of the batch is hashed once; deduplication per document is one sort.
    """
    words = pc.utf8_split_whitespace(exact)
    tokens = words.flatten()
    if len(tokens) == 0:
        return [np.zeros(0, np.uint32) for _ in range(n_docs)]
    doc = doc_of_turn[pc.list_parent_indices(words).to_numpy()]
    encoded = pc.dictionary_encode(tokens)
    vocabulary = token_hashes_list(encoded.dictionary.to_pylist())
    hashes = vocabulary[encoded.indices.to_numpy()]
    order = np.lexsort((hashes, doc))
    doc, hashes = doc[order], hashes[order]
    first = np.ones(len(doc), bool)
    first[1:] = (doc[1:] != doc[:-1]) | (hashes[1:] != hashes[:-1])
    doc, hashes = doc[first], hashes[first]
    bounds = np.searchsorted(doc, np.arange(n_docs + 1))
    return [hashes[bounds[i] : bounds[i + 1]] for i in range(n_docs)]


def features_fn(cfg: dict):
    """The per-batch feature function for the dedup config `cfg` (picklable, for the executor)."""
    return partial(
        conversation_features,
        near=cfg["near"],
        max_chars=int(cfg["semantic"]["max_chars"]),
        rating_columns=tuple(cfg["rating_columns"]),
    )


def conversation_features(
    batch: pd.DataFrame, near: dict, max_chars: int = 0, rating_columns: tuple = ()
) -> pd.DataFrame:
    """Per-conversation keys, shingle hashes, MinHash signature and embedding texts.

    A function of one batch (mapped by the executor); it carries no text out except the
    seeker/helper sides, cut to `max_chars`, that semantic dedup embeds.
    """
    rating_columns = [c for c in rating_columns if c in batch]
    turns = pa.array([list(t) for t in batch["turns"]], type=pa.list_(TURN_TYPE))
    flat = turns.flatten()
    doc_of_turn = pc.list_parent_indices(turns).to_numpy()
    exact_array = exact_texts(flat.field("text"))
    exact = exact_array.to_pylist()
    raw = pc.fill_null(flat.field("text"), "").to_pylist()
    roles = flat.field("role").to_pylist()
    bounds = np.searchsorted(doc_of_turn, np.arange(len(batch) + 1))
    kind, size = near["shingle"], int(near["ngram"])
    if kind == "word" and size == 1:
        hash_sets = word_hash_sets(exact_array, doc_of_turn, len(batch))
    else:
        hash_sets = [
            token_hashes(shingles(" ".join(exact[bounds[i] : bounds[i + 1]]), kind, size))
            for i in range(len(batch))
        ]
    rows = []
    for i, row in enumerate(batch.itertuples(index=False)):
        span = range(bounds[i], bounds[i + 1])
        seeker = [exact[j] for j in span if roles[j] == "seeker"]
        helper = [exact[j] for j in span if roles[j] == "helper" and exact[j]]
        rating = next((float(getattr(row, c)) for c in rating_columns if pd.notna(getattr(row, c))), -np.inf)
        rows.append(
            {
                "conversation_id": row.conversation_id,
                "source": row.source,
                "thread_id": row.thread_id,
                "exact_key": text_key("\x1e".join(f"{roles[j]}\x1f{exact[j]}" for j in span)),
                "seeker_key": text_key("\x1e".join(seeker)) if any(seeker) else None,
                "helper_keys": [text_key(text) for text in helper],
                "helper_words": [text.count(" ") + 1 for text in helper],
                "hashes": hash_sets[i],
                "length": sum(len(raw[j]) for j in span),
                "rating": rating,
                "seeker_text": "\n".join(raw[j] for j in span if roles[j] == "seeker")[:max_chars],
                "helper_text": "\n".join(raw[j] for j in span if roles[j] == "helper")[:max_chars],
            }
        )
    features = pd.DataFrame(rows)
    if not features.empty:
        sigs = signatures(list(features["hashes"]), int(near["num_perm"]), int(near["seed"]))
        features["signature"] = list(sigs)
    return features


def semantic_pairs(
    seeker: np.ndarray, helper: np.ndarray, threshold: float, chunk: int = 2048
) -> list[tuple[int, int, float]]:
    """Pairs (a < b) whose seeker sides AND helper sides both have cosine >= threshold.

    Requiring both sides is what keeps counsel-chat's different answers to one question
    apart: their seeker turns match, their helper turns do not.
    """
    found = []
    n = len(helper)
    for start in range(0, n, chunk):
        block = helper[start : start + chunk] @ helper.T
        rows, cols = np.nonzero(block >= threshold)
        a = rows + start
        upper = cols > a
        a, b = a[upper], cols[upper]
        if len(a) == 0:
            continue
        both = np.minimum(block[rows[upper], b], np.einsum("ij,ij->i", seeker[a], seeker[b]))
        for i, j, score in zip(a, b, both, strict=True):
            if score >= threshold:
                found.append((int(i), int(j), float(score)))
    return found


def near_duplicate_pairs(
    features: pd.DataFrame, near_cfg: dict, subset: np.ndarray | None = None
) -> tuple[list[tuple[int, int]], dict]:
    """Verified near-duplicate pairs (row positions in `features`) among `subset` (default all)."""
    reps = np.arange(len(features)) if subset is None else subset
    hashes = features["hashes"].to_numpy()
    params = LshParams.for_threshold(
        float(near_cfg["candidate_threshold"]), int(near_cfg["num_perm"]), near_cfg["bands"], near_cfg["rows"]
    )
    if len(reps) == 0:
        return [], {"bands": params.bands, "rows": params.rows, "verified_pairs": 0}
    found = near_pairs(
        [hashes[i] for i in reps],
        np.stack(features["signature"].to_numpy()[reps]),
        float(near_cfg["threshold"]),
        float(near_cfg["candidate_threshold"]),
        params.num_perm,
        params.bands,
        params.rows,
    )
    pairs = [(int(reps[a]), int(reps[b])) for a, b, _ in found]
    return pairs, {"bands": params.bands, "rows": params.rows, "verified_pairs": len(found)}


def _without_shared_threads(threads, near_roots, reps, found) -> tuple[list[tuple[int, int]], int]:
    """Semantic links that never put two conversations of one source thread in one cluster.

    Answers to one question (a counsel-chat thread) are alike in meaning but are not copies:
    they share a group, not a cluster. Checking whole components, not just the pair, also
    stops a copy of answer A (near-linked to A) from pulling in answer B of A's thread.
    """
    members: dict[int, set] = {}
    for i, root in enumerate(near_roots):
        members.setdefault(int(root), set()).add(threads[i])
    links = UnionFind(members)
    kept, skipped = [], 0
    for a, b, _ in sorted(found, key=lambda p: (-p[2], p[0], p[1])):
        x, y = int(reps[a]), int(reps[b])
        ra, rb = links.find(int(near_roots[x])), links.find(int(near_roots[y]))
        if ra == rb:
            continue
        if members[ra] & members[rb]:
            skipped += 1
            continue
        links.union(ra, rb)
        members[links.find(ra)] = members[ra] | members[rb]
        kept.append((x, y))
    return kept, skipped


@dataclass
class DedupResult:
    clusters: pd.DataFrame  # one row per input conversation, input order
    stats: dict = field(default_factory=dict)


def _components(n: int, pairs) -> np.ndarray:
    links = UnionFind(range(n))
    for a, b in pairs:
        links.union(a, b)
    return np.array([links.find(i) for i in range(n)])


def _first_of(roots: np.ndarray) -> np.ndarray:
    """Indices of one representative (the first) per component."""
    return np.unique(roots, return_index=True)[1]


def find_duplicates(features: pd.DataFrame, cfg: dict, cache: EmbeddingCache | None = None) -> DedupResult:
    """Cluster conversations (features in input order) and decide which one each cluster keeps."""
    n = len(features)
    stats: dict = {}
    order = np.arange(n)
    exact_pairs = []
    if cfg["exact"]:
        codes = pd.factorize(features["exact_key"])[0]
        head = np.unique(codes, return_index=True)[1][codes]
        exact_pairs = [(int(h), int(i)) for i, h in enumerate(head) if h != i]
    exact_roots = _components(n, exact_pairs)

    near_links = list(exact_pairs)
    near_cfg = cfg["near"]
    if near_cfg["enabled"] and n:
        found, stats["near"] = near_duplicate_pairs(features, near_cfg, _first_of(exact_roots))
        near_links += found
    near_roots = _components(n, near_links)

    all_links = list(near_links)
    sem_cfg = cfg["semantic"]
    if sem_cfg["enabled"] and n:
        if cache is None:
            raise ValueError("semantic dedup needs an EmbeddingCache")
        reps = _first_of(near_roots)
        seeker = cache.encode(list(features["seeker_text"].iloc[reps]))
        helper = cache.encode(list(features["helper_text"].iloc[reps]))
        found = semantic_pairs(seeker, helper, float(sem_cfg["threshold"]))
        links, skipped = _without_shared_threads(features["thread_id"].to_numpy(), near_roots, reps, found)
        all_links += links
        stats["semantic"] = {"compared": len(reps), "pairs": len(links), "same_thread_skipped": skipped}
    roots = _components(n, all_links)

    # keep policy: the best-ranked member of each final cluster
    policy = cfg["keep"]
    if policy not in KEEP_POLICIES:
        raise ValueError(f"dedup.keep={policy!r}; expected one of {KEEP_POLICIES}")
    rank = {
        "earliest": (order,),
        "longest": (order, -features["length"].to_numpy()),
        "highest_rated": (order, -features["length"].to_numpy(), -features["rating"].to_numpy()),
    }[policy]
    best = np.lexsort((*rank, roots))  # sorted by root, then policy keys (last key = primary)
    keeper = {}
    for i in best:
        keeper.setdefault(roots[i], i)
    kept_index = np.array([keeper[r] for r in roots])

    ids = features["conversation_id"].to_numpy()
    method = np.where(
        kept_index == order,
        "kept",
        np.where(
            exact_roots == exact_roots[kept_index],
            "exact",
            np.where(near_roots == near_roots[kept_index], "near", "semantic"),
        ),
    )
    frame = pd.DataFrame({"conversation_id": ids, "root": roots})
    cluster_id = frame.groupby("root")["conversation_id"].transform("min")
    size = frame.groupby("root")["conversation_id"].transform("size").to_numpy()
    method = np.where((size == 1), "unique", method)

    group_links = UnionFind(range(n))
    for a, b in all_links:
        group_links.union(a, b)
    keys = [features["thread_id"]] + ([features["seeker_key"]] if cfg["group_by_seeker"] else [])
    for column in keys:
        first_of = {}
        for i, key in enumerate(column):
            if key is not None and pd.notna(key):
                group_links.union(first_of.setdefault(key, i), i)
    group_root = np.array([group_links.find(i) for i in range(n)])
    group_id = pd.Series(ids).groupby(group_root).transform("min")

    clusters = pd.DataFrame(
        {
            "conversation_id": ids,
            "cluster_id": cluster_id.to_numpy(),
            "group_id": group_id.to_numpy(),
            "kept": kept_index == order,
            "method": method,
            "kept_id": ids[kept_index],
        }
    ).astype(
        {
            "conversation_id": "string",
            "cluster_id": "string",
            "group_id": "string",
            "method": "string",
            "kept_id": "string",
        }
    )
    return DedupResult(clusters, stats)


def templated_replies(features: pd.DataFrame, min_conversations: int, min_words: int, top: int) -> dict:
    """Helper turns repeated (after normalization) across many conversations, with counts.

    Reported by hash, word count and sources, never by text: the report is git-tracked.
    """
    exploded = features[["conversation_id", "source", "helper_keys", "helper_words"]].explode(
        ["helper_keys", "helper_words"]
    )
    exploded = exploded.dropna(subset=["helper_keys"])
    exploded = exploded[exploded["helper_words"].astype(int) >= min_words]
    per_key = exploded.drop_duplicates(["helper_keys", "conversation_id"]).groupby("helper_keys")
    counts = per_key["conversation_id"].size()
    templated = counts[counts >= min_conversations].sort_index()
    ranked = templated.sort_values(ascending=False, kind="stable").head(top)
    words = exploded.drop_duplicates("helper_keys").set_index("helper_keys")["helper_words"]
    sources = per_key["source"].agg(lambda s: dict(sorted(Counter(s).items())))
    in_templated = exploded[exploded["helper_keys"].isin(templated.index)]["conversation_id"].nunique()
    return {
        "min_conversations": min_conversations,
        "min_words": min_words,
        "templated_replies": len(templated),
        "conversations_with_templated_reply": int(in_templated),
        "top": [
            {"reply_key": key, "conversations": int(n), "words": int(words[key]), "sources": sources[key]}
            for key, n in ranked.items()
        ],
    }


def summarize(result: DedupResult, features: pd.DataFrame, cfg: dict) -> dict:
    """The dedup report section: counts by method and source, LSH settings, example clusters."""
    clusters = result.clusters.assign(source=features["source"].to_numpy())
    removed = clusters[~clusters["kept"]]
    source_of = dict(zip(clusters["conversation_id"], clusters["source"], strict=True))
    cross = Counter(
        f"{source_of[k]} <- {s}" for k, s in zip(removed["kept_id"], removed["source"], strict=True)
    )
    sizes = clusters.groupby("cluster_id").size()
    examples = {}
    for method in DEDUP_METHODS:
        hit = removed[removed["method"] == method]["cluster_id"].unique()
        chosen = sorted(hit, key=lambda c: (-int(sizes[c]), c))[: int(cfg["examples"])]
        examples[method] = [
            {
                "cluster_id": c,
                "members": clusters[clusters["cluster_id"] == c][
                    ["conversation_id", "source", "kept", "method"]
                ]
                .astype({"kept": bool})
                .to_dict("records"),
            }
            for c in chosen
        ]
    groups = clusters.groupby("group_id").size()
    return {
        "rows_in": len(clusters),
        "rows_out": int(clusters["kept"].sum()),
        "removed": {m: int((removed["method"] == m).sum()) for m in DEDUP_METHODS},
        "removed_by_source": {f"kept {k}": int(n) for k, n in sorted(cross.items())},
        "clusters_with_duplicates": int((sizes > 1).sum()),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "groups_with_several_conversations": int((groups > 1).sum()),
        "keep_policy": cfg["keep"],
        **result.stats,
        "examples": examples,
        "templated": templated_replies(
            features,
            int(cfg["templated"]["min_conversations"]),
            int(cfg["templated"]["min_words"]),
            int(cfg["templated"]["top"]),
        ),
    }
