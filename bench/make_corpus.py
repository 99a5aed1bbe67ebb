"""A synthetic corpus of a given size for scale runs, made from the shared conversations.

Real conversations (read by the project's own readers from the shared mirror) are written
once each, in a seeded shuffle; after them come remixes (the opening of one real
conversation and the rest of another from the same source, with 20% word edits). Among
these, exact duplicates (a recent record again under a new id) and near duplicates (a
recent record with one planted edit from `bench.perturb`) are planted at known rates, and
synthetic PII (Faker names, emails, phone numbers, street addresses, in a sentence added to
a seeker turn) at a known rate, so dedup's and anonymize's recall can be checked at scale.

    python -m bench.make_corpus --size 250MB --seed 7 --output /tmp/corpus-250MB

writes, per base source, `<source>/corpus.jsonl` (canonical turns, one conversation a line,
the source's licence on every record; `planted` is the answer key, which readers ignore),
`sources.yaml` (those files as sources, with checksums and the base sources' licence and
consent: `PE_DATA_MIRROR=<output>` ingests them), `manifest.json` (seed, sizes, counts)
and `SOURCE.md`. The same seed and size give byte-identical files. Memory holds the real
conversations and a window of recent records, whatever the size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench import command_line
from bench.perturb import EDITS, WORD_EDITS, perturb
from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Rejection
from pixelated.core.schema import METADATA_COLUMNS, TURN_FIELDS
from pixelated.ingest.acquire import acquire_all, resolve_mirror
from pixelated.ingest.config import AcquireStageConfig, IngestStageConfig, SourceConfig
from pixelated.ingest.ingest import read_source
from pixelated.privacy.privacy_bench import fakers, generators

FILE = "corpus.jsonl"
PII_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS")
WINDOW = 1000  # recent records a duplicate may copy: bounded memory, duplicates near their original
REMIX_EDIT_RATE = 0.2
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """Bytes in '250MB', '2GB', '1MiB' or '1000000' (KB, MB, GB are powers of 1000)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected a number and a unit, e.g. 250MB or 2GB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


@dataclass(frozen=True)
class Rates:
    """Shares of records planted as exact and near duplicates, and of records given PII."""

    exact: float = 0.05
    near: float = 0.10
    pii: float = 0.10


@dataclass(frozen=True)
class Base:
    """A real conversation, slimmed to what a corpus record carries."""

    source: str
    record_id: str
    thread: str
    turns: tuple[dict, ...]
    metadata: dict


def base_conversations(rows: list[dict]) -> list[Base]:
    """Real canonical rows as bases: turns without empty fields, metadata typed and extra."""
    bases = []
    for row in rows:
        metadata = {key: row[key] for key in METADATA_COLUMNS if row[key] is not None}
        metadata.update(json.loads(row["extra"]))
        turns = tuple({k: v for k, v in turn.items() if v is not None} for turn in row["turns"])
        bases.append(Base(row["source"], row["source_record_id"], row["thread_id"], turns, metadata))
    return bases


def read_shared(params: Path, mirror: str | None) -> tuple[dict[str, SourceConfig], list[dict]]:
    """The shared sources' config and every row their readers give (rejections are left out)."""
    raw_params = read_params(params)
    ingest = build_config(IngestStageConfig, raw_params)
    configured = build_config(AcquireStageConfig, raw_params).acquire.mirror
    mirror_path = Path(mirror) if mirror else resolve_mirror(configured)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        acquire_all(ingest.sources, mirror_path, raw)
        rows = [
            item
            for name, source in sorted(ingest.sources.items())
            for item in read_source(raw, name, source, ingest.read_options)
            if not isinstance(item, Rejection)
        ]
    return ingest.sources, rows


@dataclass
class Written:
    """One record as written: the original's clean turns (before PII) for near duplicates."""

    id: str
    base: Base
    clean: list[dict]
    turns: list[dict]
    pii: list[dict]


class Planter:
    """Synthetic PII in a sentence appended to a seeker turn (the first turn if none is)."""

    def __init__(self, seed: int, rng: random.Random):
        makers = generators(*fakers(seed), rng)
        self.makers = [(entity, *makers[entity]) for entity in PII_TYPES]
        self.rng = rng

    def plant(self, turns: list[dict]) -> tuple[list[dict], list[dict]]:
        entity, make, templates = self.rng.choice(self.makers)
        value = make()
        seekers = [i for i, turn in enumerate(turns) if turn.get("role") == "seeker"] or [0]
        index = self.rng.choice(seekers)
        turns = [dict(t) for t in turns]
        turns[index]["text"] = f"{turns[index]['text']} {self.rng.choice(templates).format(value)}"
        return turns, [{"type": entity, "value": value, "turn": index}]


class Generator:
    """Records one after another: real, remix, or a planted duplicate of a recent one."""

    def __init__(self, bases: list[Base], seed: int, rates: Rates):
        self.rng = random.Random(seed)
        self.rates = rates
        self.planter = Planter(seed, self.rng)
        self.bases = bases
        self.unused = iter(self.rng.sample(bases, len(bases)))  # real ones, each written once
        self.by_source: dict[str, list[Base]] = {}
        for base in bases:
            self.by_source.setdefault(base.source, []).append(base)
        self.recent: list[Written] = []
        self.count = 0

    def __iter__(self) -> Iterator[tuple[Written, dict]]:
        while True:
            self.count += 1
            yield self.next(f"c{self.count:010d}")

    def next(self, record_id: str) -> tuple[Written, dict]:
        """(the record, its answer key)."""
        draw = self.rng.random()
        if self.recent and draw < self.rates.exact:
            original = self.rng.choice(self.recent)
            written = Written(record_id, original.base, original.clean, original.turns, original.pii)
            return written, {"kind": "exact_duplicate", "of": original.id}
        if self.recent and draw < self.rates.exact + self.rates.near:
            original = self.rng.choice(self.recent)
            edit = self.rng.choice(EDITS)
            written = self._with_pii(record_id, original.base, perturb(original.clean, edit, self.rng))
            return written, {"kind": "near_duplicate", "of": original.id, "edit": edit}
        if base := next(self.unused, None):
            written, key = self._with_pii(record_id, base, list(base.turns)), {"kind": "real"}
        else:
            written, key = self._remix(record_id), {"kind": "remix"}
        if len(self.recent) < WINDOW:
            self.recent.append(written)
        else:
            self.recent[self.count % WINDOW] = written
        return written, key

    def _remix(self, record_id: str) -> Written:
        first = self.rng.choice(self.bases)
        second = self.rng.choice(self.by_source[first.source])
        cut = self.rng.randrange(1, len(first.turns)) if len(first.turns) > 1 else 1
        turns = list(first.turns[:cut] + (second.turns[cut:] or second.turns[-1:]))
        edited = perturb(turns, self.rng.choice(WORD_EDITS), self.rng, rate=REMIX_EDIT_RATE)
        return self._with_pii(record_id, first, edited)

    def _with_pii(self, record_id: str, base: Base, turns: list[dict]) -> Written:
        if self.rng.random() < self.rates.pii:
            planted, pii = self.planter.plant(turns)
            return Written(record_id, base, turns, planted, pii)
        return Written(record_id, base, turns, turns, [])


def record(written: Written, key: dict, license: str) -> dict:
    """One JSONL record; the thread of a real conversation is kept, a made one is its own."""
    return {
        "id": written.id,
        "thread": written.base.thread if key["kind"] == "real" else written.id,
        "base_source": written.base.source,
        "base_record_id": written.base.record_id,
        "license": license,
        "metadata": written.base.metadata,
        "turns": written.turns,
        "planted": {**key, "pii": written.pii},
    }


@dataclass
class SourceFile:
    """One source's corpus file, hashed and counted as it is written."""

    path: Path
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    records: int = 0
    bytes: int = 0
    metadata_keys: set[str] = field(default_factory=set)


def generate(
    rows: list[dict], sources: dict[str, SourceConfig], size: int, seed: int, output: Path, rates: Rates
) -> dict:
    """Write the corpus under `output` until the next record would pass `size` bytes; the manifest."""
    output.mkdir(parents=True, exist_ok=True)
    files: dict[str, SourceFile] = {}
    counts, edits, pii = Counter(), Counter(), Counter()
    pii_records, total = 0, 0
    with ExitStack() as stack:
        handles = {}
        for written, key in Generator(base_conversations(rows), seed, rates):
            source = written.base.source
            line = json.dumps(
                record(written, key, sources[source].license),
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
            line += b"\n"
            if total + len(line) > size:
                break
            if source not in files:
                files[source] = SourceFile(output / source / FILE)
                files[source].path.parent.mkdir(exist_ok=True)
                handles[source] = stack.enter_context(open(files[source].path, "wb"))
            handles[source].write(line)
            entry = files[source]
            entry.sha256.update(line)
            entry.records, entry.bytes, total = entry.records + 1, entry.bytes + len(line), total + len(line)
            entry.metadata_keys.update(written.base.metadata)
            counts[key["kind"]] += 1
            if "edit" in key:
                edits[key["edit"]] += 1
            pii.update(item["type"] for item in written.pii)
            pii_records += bool(written.pii)
    (output / "sources.yaml").write_text(yaml.safe_dump(corpus_sources(files, sources), sort_keys=True))
    manifest = {
        "seed": seed,
        "size_requested": size,
        "size_written": total,
        "records": sum(counts.values()),
        "base_conversations": len(rows),
        "kinds": {kind: counts[kind] for kind in ("real", "remix", "near_duplicate", "exact_duplicate")},
        "near_duplicate_edits": dict(sorted(edits.items())),
        "pii": {"records": pii_records, "items": sum(pii.values()), "by_type": dict(sorted(pii.items()))},
        "rates": {"exact_duplicate": rates.exact, "near_duplicate": rates.near, "pii": rates.pii},
        "sources": {
            name: {
                "file": f"{name}/{FILE}",
                "license": sources[name].license,
                "commercial_use": sources[name].commercial_use,
                "records": entry.records,
                "bytes": entry.bytes,
                "sha256": entry.sha256.hexdigest(),
            }
            for name, entry in sorted(files.items())
        },
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (output / "SOURCE.md").write_text(source_md(manifest))
    return manifest


def corpus_sources(files: dict[str, SourceFile], sources: dict[str, SourceConfig]) -> dict:
    """The corpus as conf/sources entries: each base source's licence and consent, its file."""
    return {
        name: {
            "location": name,
            "files": {FILE: entry.sha256.hexdigest()},
            "read": [FILE],
            "format": "jsonl",
            "license": sources[name].license,
            "commercial_use": sources[name].commercial_use,
            "consent": sources[name].consent,
            "consent_basis": sources[name].consent_basis,
            "mapping": {
                "id": "id",
                "thread": "thread",
                "turn_fields": {name: name for name in TURN_FIELDS if name not in ("role", "text")},
                "metadata": {
                    "base_record_id": "base_record_id",
                    **{key: f"metadata.{key}" for key in sorted(entry.metadata_keys)},
                },
            },
        }
        for name, entry in sorted(files.items())
    }


def source_md(manifest: dict) -> str:
    kinds = manifest["kinds"]
    lines = [
        "# Synthetic scale-test corpus",
        "",
        "Made by `python -m bench.make_corpus` from the shared conversations (see their SOURCE.md",
        "files in the mirror); it is derived data under each base source's licence, carried on",
        "every record. Names, emails, phone numbers and addresses planted here are generated by",
        "Faker, not real. Each record's `planted` field says how it was made.",
        "",
        f"- seed {manifest['seed']}, {manifest['size_written']} bytes written "
        f"({manifest['size_requested']} asked), {manifest['records']} records",
        f"- {manifest['base_conversations']} base conversations; {kinds['real']} written as they are, "
        f"{kinds['remix']} remixes",
        f"- planted: {kinds['exact_duplicate']} exact duplicates, {kinds['near_duplicate']} near "
        f"duplicates, {manifest['pii']['items']} PII items in {manifest['pii']['records']} records",
        "",
        "| source | licence | records |",
        "| --- | --- | --- |",
        *(f"| {name} | {s['license']} | {s['records']} |" for name, s in manifest["sources"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--size", type=parse_size, required=True, help="e.g. 250MB, 2GB")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--mirror", help="shared data mirror (default: PE_DATA_MIRROR, then params.yaml)")
    parser.add_argument("--exact-rate", type=float, default=Rates.exact)
    parser.add_argument("--near-rate", type=float, default=Rates.near)
    parser.add_argument("--pii-rate", type=float, default=Rates.pii)
    args = parser.parse_args()
    sources, rows = read_shared(args.params, args.mirror)
    rates = Rates(exact=args.exact_rate, near=args.near_rate, pii=args.pii_rate)
    manifest = generate(rows, sources, args.size, args.seed, args.output, rates)
    print(json.dumps({k: manifest[k] for k in ("size_written", "records", "kinds", "pii")}, indent=1))


if __name__ == "__main__":
    main()
