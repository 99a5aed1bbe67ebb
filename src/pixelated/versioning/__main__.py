"""`python -m pixelated.versioning`: the data-version command line (see cli.py)."""

import sys

from pixelated.versioning.cli import main

sys.exit(main())
