"""MinHash LSH near-duplicate search, vectorized: signatures per batch with numpy, bands
bucketed one at a time, candidates verified by true Jaccard.

Signatures are bit-identical to datasketch's `MinHash` (scheme affine32, its own permutations
and pre-mix, hashfunc xxh32) but computed for a whole batch as one (tokens x num_perm) array
instead of one Python object per document. Band hashes go to a file per band, and a band is
bucketed by one sort of its column: a table of every band held at once (18 bytes per
document and band) grew with the input.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
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
Verified = tuple[np.ndarray, np.ndarray]  # (k, 2) int64 document pairs (a < b); their k scores
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


def band_hashes(sigs: np.ndarray, params: LshParams) -> np.ndarray:
    """(n, bands) uint64: a 64-bit multiply-add hash of each band's `rows` values (collisions
    only cost a Jaccard check), summed a row at a time: (n x bands) temporaries, not three
    (n x bands x rows) uint64 ones."""
    n = len(sigs)
    used = sigs[:, : params.bands * params.rows].reshape(n, params.bands, params.rows)
    weights = np.random.default_rng(0).integers(1, 1 << 63, params.rows, dtype=np.uint64) | np.uint64(1)
    hashed = np.zeros((n, params.bands), np.uint64)
    for row, weight in enumerate(weights):
        hashed += used[:, :, row] * weight  # uint32 x uint64 is uint64; wraps mod 2^64
    return hashed


def spill_bands(signature_chunks: Iterable[np.ndarray], params: LshParams, folder: Path) -> list[Path]:
    """Each band's hashes of every document, in order, as a file of uint64 per band: a band is
    bucketed alone (`band_buckets`), so only one band's column is ever read back."""
    paths = [folder / f"band-{band}.u64" for band in range(params.bands)]
    with ExitStack() as stack:
        files = [stack.enter_context(open(path, "wb")) for path in paths]
        for chunk in signature_chunks:
            hashed = band_hashes(chunk, params)
            for band, file in enumerate(files):
                hashed[:, band].tofile(file)
    return paths


def band_buckets(hashes: np.ndarray | Path) -> tuple[np.ndarray, np.ndarray]:
    """(start, doc) for one band: the documents of every bucket that holds more than one,
    sorted by bucket then document, and a mark on each bucket's first row."""
    if isinstance(hashes, Path):
        hashes = np.fromfile(hashes, np.uint64)
    order = np.argsort(hashes, kind="stable")  # stable: documents stay in order within a bucket
    ordered = hashes[order]
    start = np.ones(len(order), bool)
    start[1:] = ordered[1:] != ordered[:-1]
    bucket = np.cumsum(start) - 1
    shared = np.bincount(bucket)[bucket] > 1
    return start[shared], order[shared]


def bucket_pairs(start: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """(k, 2) every pair (a < b) of documents that share a bucket of (start, doc)."""
    bucket_start = np.flatnonzero(start)
    bucket = np.cumsum(start) - 1
    bucket_end = np.append(bucket_start[1:], len(doc))[bucket]
    later = bucket_end - np.arange(len(doc)) - 1  # members after each one in its bucket
    first = np.repeat(np.arange(len(doc)) + 1 - (np.cumsum(later) - later), later) + np.arange(later.sum())
    return np.stack([doc[np.repeat(np.arange(len(doc)), later)], doc[first]], axis=1).reshape(-1, 2)


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


def verified_pairs(candidates: np.ndarray, hash_sets: HashSets, threshold: float) -> Verified:
    """The candidate pairs whose true Jaccard of shingle sets reaches `threshold`, in the
    candidates' order (sorted pairs stay sorted, with no copy to reorder), and their scores.

    Each pair's two sets are tagged with the pair's number and sorted together a chunk of pairs
    at a time: a shingle both hold shows up twice in a row. The cost follows the candidates'
    shingles (a hash join over every document's shingles cost the whole corpus per call); the
    memory follows one chunk and the pairs kept."""
    candidates = np.asarray(candidates, np.int64).reshape(-1, 2)
    kept, scores = [np.zeros((0, 2), np.int64)], [np.zeros(0)]
    for start in range(0, len(candidates), _PAIR_CHUNK):
        part = candidates[start : start + _PAIR_CHUNK]
        score = _jaccard(part, hash_sets)
        kept.append(part[score >= threshold])
        scores.append(score[score >= threshold])
    return np.concatenate(kept), np.concatenate(scores)


def _jaccard(pairs: np.ndarray, hash_sets: HashSets) -> np.ndarray:
    """The true Jaccard of each pair's two shingle sets."""
    sizes = hash_sets.sizes[pairs]
    pair = np.repeat(np.arange(len(pairs), dtype=np.uint64), sizes.sum(axis=1))
    tokens = hash_sets.gather(pairs.ravel()).astype(np.uint64)
    keys = np.sort((pair << np.uint64(32)) | tokens)
    twice = (keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)).astype(np.int64)
    shared = np.bincount(twice, minlength=len(pairs))
    union = sizes.sum(axis=1) - shared
    # documents with no shingles at all join each other: two empty documents are identical
    return np.divide(shared, union, out=np.ones(len(pairs)), where=union > 0)


def near_pairs(
    hash_sets: HashSets,
    signature_chunks: Iterable[np.ndarray],
    threshold: float,
    candidate_threshold: float,
    num_perm: int,
    bands: int | None = None,
    rows: int | None = None,
    stray_checks: int | None = None,
) -> Verified:
    """Verified pairs (a < b, jaccard >= threshold) among documents, sorted, and their scores;
    LSH candidates come from bands/rows tuned for the lower `candidate_threshold`, since LSH
    is a soft threshold.

    With `stray_checks`, returns enough verified pairs for the clusters, in time linear in the
    documents (`component_links`); without, every verified candidate pair. The signatures
    come in chunks of rows, in document order; their band hashes go to a temporary folder,
    and one band is read back at a time."""
    params = LshParams.for_threshold(candidate_threshold, num_perm, bands, rows)
    with tempfile.TemporaryDirectory(prefix="dedup-bands-") as folder:
        band_files = spill_bands(signature_chunks, params, Path(folder))
        n = len(hash_sets)
        if stray_checks is not None:
            return component_links(band_files, hash_sets, threshold, stray_checks)
        keys = _union_keys(_keys(bucket_pairs(*band_buckets(band)), n) for band in band_files)
        return verified_pairs(_pairs_of(keys, n), hash_sets, threshold)


def component_links(
    bands: Sequence[np.ndarray | Path], hash_sets: HashSets, threshold: float, stray_checks: int
) -> Verified:
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

    `bands` holds each band's hashes (in memory or a file of `spill_bands`); they are bucketed
    one band at a time, twice, so only one band's buckets are held.
    """
    n = len(hash_sets)
    star_keys = _union_keys(_keys(_star_pairs(*band_buckets(band)), n) for band in bands)
    found, scores = verified_pairs(_pairs_of(star_keys, n), hash_sets, threshold)
    roots = components(n, found)
    strays = (stray_pairs(*band_buckets(band), roots, stray_checks) for band in bands)
    cross = _union_keys(_keys(pairs, n) for pairs in strays)
    cross = np.setdiff1d(cross, star_keys, assume_unique=True)  # a star pair is checked once
    more, more_scores = verified_pairs(_pairs_of(cross, n), hash_sets, threshold)
    order = np.argsort(_keys(np.concatenate([found, more]), n), kind="stable")
    return np.concatenate([found, more])[order], np.concatenate([scores, more_scores])[order]


def _star_pairs(start: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """(head, member): each bucket's first document with each of its other members."""
    head = doc[np.flatnonzero(start)][np.cumsum(start) - 1]
    return np.stack([head, doc], axis=1)[~start]


def _keys(pairs: np.ndarray, n: int) -> np.ndarray:
    """One int64 per (a, b) pair of documents among n: a * n + b."""
    return pairs[:, 0] * n + pairs[:, 1]


def _pairs_of(keys: np.ndarray, n: int) -> np.ndarray:
    """The (k, 2) pairs of `_keys`."""
    return np.stack(np.divmod(keys, n), axis=1).reshape(-1, 2)


def _union_keys(parts: Iterable[np.ndarray]) -> np.ndarray:
    """The sorted union of pair keys, merged one part (band) at a time."""
    union = np.zeros(0, np.int64)
    for part in parts:
        union = np.union1d(union, part)
    return union
