"""Money for people: nano-USD integers rendered as dollars with sensible precision.

The service keeps money as exact integers; only display code turns them into text, and it
does so here so every command rounds the same way.
"""

from __future__ import annotations

from decimal import Decimal

NANOS_PER_USD = 1_000_000_000


def usd(nanos: int) -> str:
    """``$1,234.57`` for dollars, ``$0.0123`` for cents, ``$0.000012`` below that."""
    value = Decimal(nanos) / NANOS_PER_USD
    size = abs(value)
    if size and size < Decimal("0.000001"):
        return "-<$0.000001" if value < 0 else "<$0.000001"
    places = 2 if size >= 1 or not size else 4 if size >= Decimal("0.01") else 6
    text = f"{abs(value):,.{places}f}"
    return f"-${text}" if value < 0 else f"${text}"


def per_mtok(price: Decimal) -> str:
    """A price in USD per million tokens, without trailing zeros beyond the cents."""
    text = f"{price:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"
