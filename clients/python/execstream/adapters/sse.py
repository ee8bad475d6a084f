"""Server-sent events, as far as chat completion streams use them: the ``data:`` field.

Per the HTML spec an event is the ``data:`` lines up to a blank line, joined by newlines;
comments (``:``) and other fields (``event:``, ``id:``, ``retry:``) are skipped. A last event
not followed by a blank line is still delivered (some servers close right after it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the data of each event read from ``lines``."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)
