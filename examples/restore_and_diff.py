"""Restore an earlier data version and see how it differs from the current one.

A data version is a git tag or commit whose outputs were backed up (`make backup`). Restoring
brings back that version's dvc.yaml, dvc.lock, params, conf/ and reports, and its data and
models from the DVC remote, every object re-hashed. The review then compares the restored
workspace with HEAD: params changed, headline metrics with deltas, rows kept and dropped per
stage, changed plots. `python -m pixelated.versioning restore HEAD` goes back.

    python examples/restore_and_diff.py . v1
"""

from __future__ import annotations

from _common import parser, run


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("rev", help="the version to restore: a tag or commit")
    cli.add_argument("--remote", help="DVC remote to restore from (default: the repo's default)")
    args = cli.parse_args()
    remote = ["--remote", args.remote] if args.remote else []
    run(["python", "-m", "pixelated.versioning", "restore", args.rev, *remote], args.repo)
    run(["git", "status", "--short"], args.repo)
    run(["python", "-m", "pixelated.versioning", "review", "HEAD", "--output", "review"], args.repo)
    print((args.repo / "review" / "review.md").read_text())


if __name__ == "__main__":
    main()
