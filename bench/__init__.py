"""Benchmarks and scale-test corpora; run each as `python -m bench.<name>` from the repository root."""

import argparse


def command_line(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser whose help is its module docstring, line breaks kept."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
