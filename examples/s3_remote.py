"""Back up to an S3 remote and pull from it, here a local S3 server (moto) on 127.0.0.1.

Adds an S3 remote to .dvc/config.local (git-ignored: endpoints and keys stay out of the
repository) with `endpointurl` pointing at the server, backs up every output of dvc.lock
there (`pixelated.versioning backup`: push, then check each object), then pulls them into a
fresh git clone, as a colleague would, and checks that clone is complete. Without --endpoint
it starts moto's server (the dev extra: `make install`) with a new bucket and dummy
credentials; for a real store pass --endpoint and --bucket, credentials from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE).

    python examples/s3_remote.py .
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import parser, run

REMOTE = "s3example"


@contextlib.contextmanager
def moto_server(bucket: str):
    """moto's S3 server on a free port of 127.0.0.1 holding one empty bucket; its URL."""
    import boto3

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")  # moto takes any; DVC reads them from here too
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def add_remote(repo: Path, url: str, endpoint: str) -> None:
    run(["dvc", "remote", "add", "--local", "--force", REMOTE, url], repo)
    run(["dvc", "remote", "modify", "--local", REMOTE, "endpointurl", endpoint], repo)


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--endpoint", help="S3 endpoint URL (default: start a local moto server)")
    cli.add_argument("--bucket", default="pixelated-example")
    args = cli.parse_args()
    repo = args.repo.resolve()
    url = f"s3://{args.bucket}/pixelated"
    with contextlib.nullcontext(args.endpoint) if args.endpoint else moto_server(args.bucket) as endpoint:
        add_remote(repo, url, endpoint)
        run(["python", "-m", "pixelated.versioning", "backup", "--remote", REMOTE], repo)
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "clone"
            run(["git", "clone", "--quiet", str(repo), str(clone)], repo)
            add_remote(clone, url, endpoint)
            run(["dvc", "pull", "--remote", REMOTE], clone)
            # every output matches the committed dvc.lock: nothing to rerun, nothing missing
            status = run(["dvc", "status"], clone)
    sys.exit(0 if "up to date" in status else 1)


if __name__ == "__main__":
    main()
