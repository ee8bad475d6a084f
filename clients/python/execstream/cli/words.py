"""Counted nouns for people: "1 task", "2 tasks", "1,000 events"."""

from __future__ import annotations


def count(number: int, noun: str, plural: str = "") -> str:
    """``number`` with ``noun``, plural unless it is exactly one (``plural`` if irregular)."""
    word = noun if number == 1 else plural or f"{noun}s"
    return f"{number:,} {word}"
