"""Deterministic, group-aware, stratified splits (and CV folds for small datasets).

A group is everything that must stay on one side: a source thread (counsel-chat answers
to one question) joined with a dedup cluster when one is given. Groups are assigned within
each stratum (source x quality tier) to the split furthest below its target share, in an
order fixed by a seeded hash, so the same input and seed always give the same splits.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from pixelated.core.hashing import seeded_key
from pixelated.core.schema import SPLITS
from pixelated.core.unionfind import UnionFind


def assign_groups(
    groups: pd.DataFrame, names: tuple[str, ...], fractions: list[float], seed: int
) -> dict[str, str]:
    """Map group -> name. `groups` has columns group, stratum, size (conversations).

    Greedy by deficit: each group goes to the name whose share of its stratum is furthest
    below target after adding it, which keeps every stratum close to the fractions.
    """
    assignment: dict[str, str] = {}
    for _, members in groups.groupby("stratum", sort=True):
        counts = dict.fromkeys(names, 0)
        ordered = sorted(members.itertuples(index=False), key=lambda g: seeded_key(seed, g.group))
        for group in ordered:
            total = sum(counts.values()) + group.size
            target = max(names, key=lambda n: fractions[names.index(n)] * total - counts[n])
            counts[target] += group.size
            assignment[group.group] = target
    return assignment


def with_tier(conversations: pd.DataFrame) -> pd.DataFrame:
    """Quality tier for stratification; 'unscored' until a scoring stage provides one."""
    if "quality_tier" in conversations:
        return conversations
    return conversations.assign(quality_tier="unscored")


def group_table(
    conversations: pd.DataFrame, cluster_groups: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(conversation -> group, one row per group: key, stratum of its first member, size).

    A group is a connected component: conversations sharing a source thread, or a dedup
    cluster (`cluster_groups`: conversation_id -> cluster id), end up in one group.
    """
    frame = conversations[["conversation_id", "source", "thread_id", "quality_tier"]]
    frame = frame.sort_values("conversation_id").reset_index(drop=True)
    link_columns = [frame["thread_id"]]
    if cluster_groups is not None:
        link_columns.append(frame["conversation_id"].map(cluster_groups))
    links = UnionFind(frame["conversation_id"])
    for column in link_columns:
        first_of = {}
        for conversation_id, key in zip(frame["conversation_id"], column, strict=True):
            if pd.notna(key):
                links.union(first_of.setdefault(key, conversation_id), conversation_id)
    frame = frame.assign(
        group=frame["conversation_id"].map(links.groups()),
        stratum=frame["source"] + "|" + frame["quality_tier"],
    )
    groups = frame.groupby("group", sort=True).agg(
        stratum=("stratum", "first"), size=("conversation_id", "size")
    )
    return frame[["conversation_id", "group"]], groups.reset_index()


def make_splits(
    conversations: pd.DataFrame,
    fractions: list[float],
    seed: int,
    cv_folds: int,
    cv_below: int,
    cluster_groups: pd.Series | None = None,
) -> pd.DataFrame:
    """conversation_id -> group, split, fold (fold only when fewer than `cv_below` rows)."""
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions {fractions} do not sum to 1")
    members, groups = group_table(with_tier(conversations), cluster_groups)
    split_of = assign_groups(groups, SPLITS, fractions, seed)
    members = members.assign(split=members["group"].map(split_of))
    members["fold"] = pd.array([None] * len(members), dtype="Int64")
    if len(conversations) < cv_below:
        pool = groups[groups["group"].map(split_of) != "test"]
        fold_names = tuple(str(k) for k in range(cv_folds))
        fold_of = assign_groups(pool, fold_names, [1 / cv_folds] * cv_folds, seed + 1)
        members["fold"] = members["group"].map(fold_of).astype("Int64")
    return members.sort_values("conversation_id").reset_index(drop=True)


def leakage(assignments: pd.DataFrame, conversations: pd.DataFrame) -> dict[str, int]:
    """Groups and identical contents found on more than one side; both must be 0."""
    split_count = assignments.groupby("group")["split"].nunique()
    joined = assignments.merge(conversations[["conversation_id", "content_hash"]], on="conversation_id")
    content_count = joined.groupby("content_hash")["split"].nunique()
    return {
        "groups_across_splits": int((split_count > 1).sum()),
        "identical_content_across_splits": int((content_count > 1).sum()),
    }


def near_duplicate_leakage(assignments: pd.DataFrame, pairs: list[tuple[str, str]]) -> int:
    """Near-duplicate pairs (conversation ids) whose two sides landed in different splits; must be 0."""
    split_of = assignments.set_index("conversation_id")["split"]
    return sum(split_of[a] != split_of[b] for a, b in pairs)


def proportions(assignments: pd.DataFrame, conversations: pd.DataFrame) -> dict:
    """Share of each split overall and within each stratum, for the report."""
    columns = ["conversation_id", "source", "quality_tier"]
    joined = assignments.merge(with_tier(conversations)[columns], on="conversation_id")
    overall = joined["split"].value_counts(normalize=True)
    by_stratum = defaultdict(dict)
    for (source, tier), part in joined.groupby(["source", "quality_tier"], sort=True):
        shares = part["split"].value_counts(normalize=True)
        by_stratum[f"{source}|{tier}"] = {s: round(float(shares.get(s, 0.0)), 4) for s in SPLITS}
    return {
        "overall": {s: round(float(overall.get(s, 0.0)), 4) for s in SPLITS},
        "by_stratum": dict(by_stratum),
    }
