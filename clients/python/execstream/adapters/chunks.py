"""What an adapter yields while a chat completion streams: text, then usage, then done.

Adapters are async generators of these typed chunks and know nothing about execstream's
client, so they can be tested (and reused) on their own; ``run.py`` turns them into events.
"""

from __future__ import annotations

import dataclasses

from .usage import TokenUsage


@dataclasses.dataclass(frozen=True, slots=True)
class TextChunk:
    """A piece of generated text, as the server sent it."""

    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class UsageChunk:
    """The normalised token counts of the whole call (sent once, near the end)."""

    usage: TokenUsage


@dataclasses.dataclass(frozen=True, slots=True)
class DoneChunk:
    """The model finished; ``reason`` is the provider's (``stop``, ``length``, ...)."""

    reason: str


Chunk = TextChunk | UsageChunk | DoneChunk
