"""Data versions: backup, verify, restore, review and model rollback.

`python -m pixelated.versioning --help`; each subcommand calls one function of the package
and turns a VersioningError (or a bad params.yaml) into a message and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pixelated.core.config import ConfigError
from pixelated.versioning.mlflow_store import mlflow_paths, restore_mlflow
from pixelated.versioning.remote import backup, verify
from pixelated.versioning.repo import VersioningError
from pixelated.versioning.restore import restore
from pixelated.versioning.review import review
from pixelated.versioning.rollback import DEFAULT_ALIAS, rollback_model

REMOTE_HELP = "DVC remote name (default: the repo's default remote)"


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per operation, `--root` for the repository."""
    cli = argparse.ArgumentParser(prog="python -m pixelated.versioning", description=__doc__.split("\n\n")[0])
    cli.add_argument("--root", type=Path, default=Path("."), help="repository root")
    commands = cli.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("backup", help="push dvc.lock outputs and the MLflow store; verify")
    sub.add_argument("--remote", help=REMOTE_HELP)
    sub = commands.add_parser("verify", help="report dvc.lock objects missing from the remote")
    sub.add_argument("--remote", help=REMOTE_HELP)
    sub.add_argument("--rehash", action="store_true", help="also download and re-hash every object")
    sub = commands.add_parser("restore", help="restore a data version (git revision or tag)")
    sub.add_argument("rev")
    sub.add_argument("--remote", help=REMOTE_HELP)
    sub = commands.add_parser("restore-mlflow", help="restore the MLflow store from the last backup")
    sub.add_argument("--remote", help=REMOTE_HELP)
    sub.add_argument("--force", action="store_true")
    sub = commands.add_parser("review", help="markdown diff of params, metrics, ledgers and plots")
    sub.add_argument("base")
    sub.add_argument("rev", nargs="?", help="revision to compare (default: the workspace)")
    sub.add_argument("--output", type=Path, default=Path("review"))
    sub.add_argument("--image-base", default="", help="URL prefix for plot images (PR comments)")
    sub = commands.add_parser("rollback", help="point the registered model's alias at a data version")
    sub.add_argument("rev")
    sub.add_argument("--model", required=True, help="registered model name")
    sub.add_argument("--alias", default=DEFAULT_ALIAS)
    return cli


def _run(args: argparse.Namespace, root: Path) -> int:
    """Carry out one subcommand, print its outcome; the exit status."""
    if args.command == "backup":
        report = backup(root, args.remote)
        print(f"backup complete: {report.checked} objects verified in the remote")
    elif args.command == "verify":
        report = verify(root, args.remote, args.rehash)
        if not report.ok:
            print(report.describe("in the remote"))
            return 1
        print(f"remote holds all {report.checked} objects named in dvc.lock")
    elif args.command == "restore":
        report = restore(root, args.rev, args.remote)
        print(f"restored {args.rev}: {report.checked} files match its dvc.lock")
    elif args.command == "restore-mlflow":
        print(f"restored {restore_mlflow(root, args.remote, args.force)}")
    elif args.command == "review":
        print(review(root, args.base, args.rev, args.output, args.image_base))
    elif args.command == "rollback":
        tracking_uri = f"sqlite:///{mlflow_paths(root)[0]}"
        version = rollback_model(root, args.rev, args.model, tracking_uri, args.alias)
        print(f"{args.model}@{args.alias} -> version {version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args, args.root.resolve())
    except (VersioningError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # `python -m pixelated.versioning.cli` still works (CI workflow)
    sys.exit(main())
