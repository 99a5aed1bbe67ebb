"""MinHash LSH near-duplicate search, vectorized: signatures per batch with numpy, bands
bucketed in DuckDB, candidates verified by true Jaccard.

Signatures are bit-identical to datasketch's `MinHash` (scheme affine32, its own permutations
and pre-mix, hashfunc xxh32) but computed for a whole batch as one (tokens x num_perm) array
instead of one Python object per document. Band bucketing is a GROUP BY over a plain
(band, band_hash, doc) table, so it can run out of core or move to a distributed SQL engine.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import xxhash
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from pixelated.core.text import normalize_text
from pixelated.core.unionfind import components

_WORD = re.compile(r"\w+")
_TOKEN_CHUNK = 1 << 11  # tokens per (tokens x num_perm) array: 1 MB at num_perm=128, held in L2
# cache (16 MB chunks, spilling to L3 and memory, made signatures twice as slow)
_MAX_HASH = np.uint32(0xFFFFFFFF)
SQL_MEMORY = "256MB"  # DuckDB's, per connection (`connect`); 800k conversations ran within it
_PAIR_CHUNK = 1 << 10  # candidate pairs verified per sort: ~2 MB of keys, held in L2 cache


def shingles(text: str, kind: str = "word", size: int = 1) -> set[str]:
    """Set of word or character n-grams of normalized text (punctuation dropped for words)."""
    text = normalize_text(text)
    if kind == "word":
        words = _WORD.findall(text)
        if size == 1:
            return set(words)
        return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))} - {""}
    if kind == "char":
        return {text[i : i + size] for i in range(max(1, len(text) - size + 1))} - {""}
    raise ValueError(f"shingle kind {kind!r}; expected 'word' or 'char'")


def token_hashes_list(tokens: list[str]) -> np.ndarray:
    """xxh32 of each token, in order (the hashfunc given to datasketch's MinHash)."""
    return np.fromiter((xxhash.xxh32_intdigest(t.encode()) for t in tokens), np.uint32, len(tokens))


def token_hashes(tokens: set[str]) -> np.ndarray:
    """Sorted unique 32-bit hashes of the shingles: the set used for signatures and Jaccard."""
    return np.unique(token_hashes_list(list(tokens)))


class HashSets:
    """Sorted shingle hash sets of varying length, as flat values with starts and sizes, held
    in memory or in a file of uint32; `gather` copies out only the sets it is asked for."""

    def __init__(self, starts: np.ndarray, sizes: np.ndarray, values: np.ndarray | Path):
        self.starts, self.sizes, self._values = starts, sizes, values

    @classmethod
    def of(cls, sets: Sequence[np.ndarray]) -> HashSets:
        sizes = np.fromiter((len(s) for s in sets), np.int64, len(sets))
        values = np.concatenate([np.zeros(0, np.uint32), *sets]).astype(np.uint32)
        return cls(np.cumsum(sizes) - sizes, sizes, values)

    def __len__(self) -> int:
        return len(self.sizes)

    def subset(self, rows: np.ndarray) -> HashSets:
        """The sets of `rows`, renumbered 0..len(rows)-1; nothing is copied but their bounds."""
        return HashSets(self.starts[rows], self.sizes[rows], self._values)

    def gather(self, docs: np.ndarray) -> np.ndarray:
        """The sets of `docs`, concatenated in order."""
        lengths = self.sizes[docs]
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.uint32)
        offsets = np.repeat(self.starts[docs] - (np.cumsum(lengths) - lengths), lengths)
        values = self._values
        if isinstance(values, Path):  # mapped for this read only: its pages go with the map
            values = np.memmap(values, np.uint32, "r")
        return np.array(values[offsets + np.arange(total)])


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own permutation parameters, so signatures match `MinHash(num_perm, seed)`."""
    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return np.asarray(a, np.uint32), np.asarray(b, np.uint32)


def signatures(hash_sets: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """(len(hash_sets), num_perm) uint32 MinHash signatures, computed a chunk of tokens at a time.

    An empty set keeps datasketch's empty value (all max hash).
    """
    a, b = permutations(num_perm, seed)
    out = np.full((len(hash_sets), num_perm), _MAX_HASH, dtype=np.uint32)
    start = 0
    while start < len(hash_sets):
        stop, tokens = start, 0
        while stop < len(hash_sets) and (tokens == 0 or tokens + len(hash_sets[stop]) <= _TOKEN_CHUNK):
            tokens += len(hash_sets[stop])
            stop += 1
        chunk = [(i, h) for i, h in enumerate(hash_sets[start:stop], start) if len(h)]
        if chunk:
            flat = _fmix(np.concatenate([h for _, h in chunk]), 32)
            permuted = flat[:, None] * a[None, :] + b[None, :]  # uint32 wraparound is the modulo
            offsets = np.cumsum([0] + [len(h) for _, h in chunk[:-1]])
            out[[i for i, _ in chunk]] = np.minimum.reduceat(permuted, offsets, axis=0)
        start = stop
    return out


@cache
def _optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's optimiser (numeric integration: 40 ms, paid once per setting, not per call)."""
    return _optimal_param(threshold, num_perm, 0.5, 0.5)


@dataclass(frozen=True)
class LshParams:
    num_perm: int
    bands: int
    rows: int

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int, bands=None, rows=None) -> LshParams:
        """Bands x rows from datasketch's optimiser at `threshold` unless both are given."""
        if bands is None or rows is None:
            bands, rows = _optimal_bands_rows(threshold, num_perm)
        if bands * rows > num_perm:
            raise ValueError(f"bands*rows={bands * rows} exceeds num_perm={num_perm}")
        return cls(num_perm, int(bands), int(rows))


def band_table(sigs: np.ndarray, params: LshParams, first_doc: int = 0) -> pa.Table:
    """(band, band_hash, doc) rows: one per document and band; band_hash is a 64-bit
    multiply-add hash of the band's `rows` values (collisions only cost a Jaccard check),
    summed a row at a time: (n x bands) temporaries, not three (n x bands x rows) uint64 ones."""
    n = len(sigs)
    used = sigs[:, : params.bands * params.rows].reshape(n, params.bands, params.rows)
    weights = np.random.default_rng(0).integers(1, 1 << 63, params.rows, dtype=np.uint64) | np.uint64(1)
    hashed = np.zeros((n, params.bands), np.uint64)
    for row, weight in enumerate(weights):
        hashed += used[:, :, row] * weight  # uint32 x uint64 is uint64; wraps mod 2^64
    return pa.table(
        {
            "band": np.repeat(np.arange(params.bands, dtype=np.int16)[None, :], n, axis=0).ravel(),
            "band_hash": hashed.view(np.int64).ravel(),
            "doc": np.repeat(np.arange(first_doc, first_doc + n, dtype=np.int64), params.bands),
        }
    )


def candidate_pairs(bands: pa.Table, threads: int = 2) -> np.ndarray:
    """(k, 2) sorted doc pairs (a < b) sharing at least one band bucket."""
    return _pairs(
        bands,
        """
        WITH buckets AS (
            SELECT band, band_hash FROM bands GROUP BY band, band_hash HAVING count(*) > 1
        ), members AS (
            SELECT * FROM bands SEMI JOIN buckets USING (band, band_hash)
        )
        SELECT DISTINCT x.doc AS a, y.doc AS b
        FROM members x JOIN members y USING (band, band_hash)
        WHERE x.doc < y.doc ORDER BY a, b
        """,
        threads,
    )


def stray_pairs(start: np.ndarray, doc: np.ndarray, roots: np.ndarray, checks: int) -> np.ndarray:
    """(k, 2) sorted pairs of a stray (a bucket member outside its head's component) and one of
    the bucket's first `checks` members (by doc) in another component; `doc` lists the bucket
    members sorted by bucket then doc, and `start` marks each bucket's first row.

    Pairing strays with every member cost strays x bucket size, which grew with the data as
    clusters grew (a 1M-conversation bench spent half its time there); this is at most strays
    x `checks` index pairs, in numpy: the SQL window it replaces held every member in memory."""
    bucket_start = np.flatnonzero(start)
    bucket = np.cumsum(start) - 1
    bucket_size = np.diff(np.append(bucket_start, len(doc)))
    head = doc[bucket_start][bucket]
    rows = np.flatnonzero(roots[doc] != roots[head])
    take = np.minimum(bucket_size[bucket[rows]], checks)
    first = np.repeat(bucket_start[bucket[rows]] - (np.cumsum(take) - take), take) + np.arange(take.sum())
    a, b = doc[np.repeat(rows, take)], doc[first]
    other = roots[a] != roots[b]
    n = len(roots)
    keys = np.unique(np.minimum(a, b)[other] * n + np.maximum(a, b)[other])
    return np.stack(np.divmod(keys, n), axis=1).reshape(-1, 2)


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose sorts, joins and aggregates spill to the temporary folder past
    SQL_MEMORY: its default limit, most of the machine's memory, let them grow with the data."""
    config = {"threads": int(threads), "memory_limit": SQL_MEMORY, "temp_directory": tempfile.gettempdir()}
    return duckdb.connect(config=config)


def _pairs(bands: pa.Table, query: str, threads: int) -> np.ndarray:
    """The (a, b) rows `query` selects from the table `bands`, as a (k, 2) int64 array."""
    con = connect(threads)
    con.register("bands", bands)
    pairs = con.execute(query).fetchnumpy()
    con.close()
    return np.stack([pairs["a"], pairs["b"]], axis=1).astype(np.int64).reshape(-1, 2)


def verified_pairs(
    candidates: np.ndarray, hash_sets: HashSets, threshold: float
) -> list[tuple[int, int, float]]:
    """Candidate pairs whose true Jaccard of shingle sets reaches `threshold`, with the score.

    Each pair's two sets are tagged with the pair's number and sorted together a chunk of pairs
    at a time: a shingle both hold shows up twice in a row. The cost follows the candidates'
    shingles (a hash join over every document's shingles cost the whole corpus per call)."""
    if not len(candidates):
        return []
    sizes = hash_sets.sizes
    shared = np.zeros(len(candidates), np.int64)
    for start in range(0, len(candidates), _PAIR_CHUNK):
        part = candidates[start : start + _PAIR_CHUNK]
        pair = np.repeat(np.arange(len(part), dtype=np.uint64), sizes[part].sum(axis=1))
        tokens = hash_sets.gather(part.ravel()).astype(np.uint64)
        keys = np.sort((pair << np.uint64(32)) | tokens)
        twice = (keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)).astype(np.int64)
        shared[start : start + len(part)] = np.bincount(twice, minlength=len(part))
    union = sizes[candidates[:, 0]] + sizes[candidates[:, 1]] - shared
    # documents with no shingles at all join each other: two empty documents are identical
    score = np.divide(shared, union, out=np.ones(len(shared)), where=union > 0)
    keep = np.flatnonzero(score >= threshold)
    return sorted((int(candidates[i, 0]), int(candidates[i, 1]), float(score[i])) for i in keep)


def near_pairs(
    hash_sets: HashSets,
    signature_chunks: Iterable[np.ndarray],
    threshold: float,
    candidate_threshold: float,
    num_perm: int,
    bands: int | None = None,
    rows: int | None = None,
    threads: int = 2,
    stray_checks: int | None = None,
) -> list[tuple[int, int, float]]:
    """Verified pairs (a, b, jaccard >= threshold) among documents; LSH candidates come from
    bands/rows tuned for the lower `candidate_threshold`, since LSH is a soft threshold.

    With `stray_checks`, returns enough verified pairs for the clusters, in time linear in the
    documents (`component_links`); without, every verified candidate pair. The signatures
    come in chunks of rows, in document order: only their band hashes are held."""
    params = LshParams.for_threshold(candidate_threshold, num_perm, bands, rows)
    tables, first = [], 0
    for chunk in signature_chunks:
        tables.append(band_table(chunk, params, first))
        first += len(chunk)
    table = pa.concat_tables(tables) if tables else band_table(np.zeros((0, num_perm), np.uint32), params)
    if stray_checks is not None:
        members = bucket_members(table, threads)
        return component_links(members, hash_sets, threshold, stray_checks)
    return verified_pairs(candidate_pairs(table, threads), hash_sets, threshold)


def bucket_members(bands: pa.Table, threads: int = 2) -> pa.Table:
    """(band, band_hash, doc) rows of the band buckets that hold more than one document."""
    con = connect(threads)
    con.register("bands", bands)
    members = con.execute(
        """
        WITH shared AS (
            SELECT band, band_hash FROM bands GROUP BY band, band_hash HAVING count(*) > 1
        )
        SELECT band, band_hash, doc FROM bands SEMI JOIN shared USING (band, band_hash)
        ORDER BY band, band_hash, doc
        """
    ).fetchnumpy()
    con.close()
    return pa.table({name: np.asarray(values) for name, values in members.items()})


def component_links(
    members: pa.Table, hash_sets: HashSets, threshold: float, stray_checks: int
) -> list[tuple[int, int, float]]:
    """Verified pairs that join documents into the clusters, with at most `stray_checks` + 1
    checks per document and band, so the work is linear in the data whatever the cluster sizes.

    Verifying every pair in a bucket costs k^2 for k near-copies, and grows faster than the
    data. Instead each member is verified against its bucket's first document (a star: k - 1
    pairs). A member left outside the head's component (a stray) is then verified against the
    bucket's first `stray_checks` members in other components (`stray_pairs`); a pair inside
    one component cannot change the components. The clusters equal those of every verified
    candidate pair whenever no bucket holds more than `stray_checks` members; in bigger ones a
    stray that matches only later members can stay apart. With 16, the clusters are identical
    on the shared data and at 100k bench conversations; at 1M, 659 conversations (0.07%)
    land in another cluster.
    """
    band = members.column("band").to_numpy()
    bucket_hash = members.column("band_hash").to_numpy()
    doc = members.column("doc").to_numpy()
    start = np.ones(len(doc), bool)
    start[1:] = (band[1:] != band[:-1]) | (bucket_hash[1:] != bucket_hash[:-1])
    head = doc[np.flatnonzero(start)][np.cumsum(start) - 1]
    n = len(hash_sets)
    star_keys = np.unique((head * n + doc)[~start])  # one int64 key per (head, member) pair
    star = np.stack(np.divmod(star_keys, n), axis=1)
    found = verified_pairs(star, hash_sets, threshold)
    roots = components(n, [(a, b) for a, b, _ in found])
    cross = stray_pairs(start, doc, roots, stray_checks)
    cross = cross[~np.isin(cross[:, 0] * n + cross[:, 1], star_keys)]  # checked once
    return sorted(found + verified_pairs(cross, hash_sets, threshold))
