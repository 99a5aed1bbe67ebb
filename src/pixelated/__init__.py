"""Pixelated Empathy: a reproducible curation pipeline for mental-health support conversations."""

__version__ = "0.1.0"
