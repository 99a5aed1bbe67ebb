"""Where the repository and the shared datasets are, for tests run from any directory."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
