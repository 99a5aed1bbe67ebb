"""Where the repository and the shared datasets are, for tests run from any directory."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# PE_DATA_MIRROR wins, as in acquire (a git worktree is not next to ../shared).
SHARED_DATA = Path(os.environ.get("PE_DATA_MIRROR") or REPO.parent / "shared" / "data")
