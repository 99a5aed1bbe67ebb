"""The `pixelated` command line (console script in pyproject.toml; `python -m pixelated.cli`)."""
