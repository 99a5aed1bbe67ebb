"""Add a new source: one config entry, with the mapping from its field names to the canonical
turns, and run it through acquire -> ingest -> validate.

A new dataset in a shape an existing reader knows (here JSONL) needs config only. This writes
a small JSONL file of a made-up helpline (one broken line, one empty reply) beside the
repository, registers it as conf/sources/helpline.yaml, checks the file with
`pixelated check`, recomposes params.yaml and runs `dvc repro validate`; both show the same
two problems, and the ledgers count them. It edits conf/: run it in a clone.

    python examples/add_source.py .
"""

from __future__ import annotations

import json
import re

import yaml
from _common import parser, run, stage_path

from pixelated.core.hashing import sha256_file

NAME = "helpline"
RECORDS = [
    {"id": "h1", "topic": "sleep", "messages": [
        {"from": "caller", "says": "I can't sleep since I lost my job."},
        {"from": "volunteer", "says": "That sounds really hard. How long has it been going on?"},
    ]},
    {"id": "h2", "topic": "loneliness", "messages": [
        {"from": "caller", "says": "Nobody has called me in weeks."},
        {"from": "volunteer", "says": ""},
    ]},
    {"id": "h3", "topic": "stress", "messages": [
        {"from": "caller", "says": "Exams are next week and I panic."},
        {"from": "volunteer", "says": "Panic before exams is common. What helped you last time?"},
    ]},
]  # fmt: skip
SOURCE = {  # what every source says; see conf/sources/shared.yaml for the keys
    "read": ["chats.jsonl"],
    "format": "jsonl",
    "license": "CC0 (made up for this example)",
    "commercial_use": True,
    "consent": True,
    "consent_basis": "synthetic conversations written for this example",
    "role_map": {"caller": "seeker", "volunteer": "helper"},
    # the reader mapping: dotted paths from a record to the canonical fields
    "mapping": {
        "turns": "messages",
        "role": "from",
        "text": "says",
        "id": "id",
        "metadata": {"topic": "topic"},
    },
}


def main() -> None:
    repo = parser(__doc__).parse_args().repo.resolve()
    folder = repo.parent / "example-sources" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(record) for record in RECORDS]
    data = folder / "chats.jsonl"
    data.write_text("\n".join([lines[0], '{"id": "h9", "messages": [', *lines[1:]]) + "\n")

    # the source: fetched from its folder (a url; a folder in the data mirror works the same)
    source = {"url": folder.as_uri(), "files": {"chats.jsonl": sha256_file(data)}, **SOURCE}
    (repo / "conf" / "sources" / f"{NAME}.yaml").write_text(yaml.safe_dump({NAME: source}, sort_keys=False))
    config = repo / "conf" / "config.yaml"  # its defaults list: compose both files into `sources`
    config.write_text(re.sub(r"(?m)^(\s*- sources:) shared$", rf"\1 [shared, {NAME}]", config.read_text()))
    run(["python", "-m", "pixelated.core.params"], repo)

    run(["python", "-m", "pixelated.cli", "check", str(data), "--source", NAME], repo, ok=(0, 1))
    run(["dvc", "repro", "validate"], repo)
    for stage in ("ingest", "validate"):
        ledger = json.loads(stage_path(repo, stage, "--ledger").read_text())
        print(f"{stage} ledger, {NAME}: {ledger['by_source'][NAME]}")


if __name__ == "__main__":
    main()
