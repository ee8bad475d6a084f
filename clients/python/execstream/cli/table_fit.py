"""Tables that fit the terminal: ids and names shorten, numbers and money never do.

A table is drawn at its natural width when that fits. Otherwise the columns that may
shorten (ids, names) share the room the others leave, each keeping at least a few
characters; when even that does not fit, the caller tries a layout with fewer columns
(``snapshot_table`` and ``execstream pricing`` drop their least useful columns first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table

# Ids and names shortened to fit keep at least this many characters (ellipsis included).
SHORTEST = 10
_UNBOUNDED = Console(width=10_000)  # a measure is capped at the console's width


@dataclasses.dataclass(frozen=True)
class FitColumn:
    header: str
    justify: Literal["left", "right"] = "right"
    shortens: bool = False  # may be cut with an ellipsis (ids and names, never numbers)


class FittingTable:
    """Rendered cells of one layout, and the table drawn from them within a width."""

    def __init__(
        self,
        columns: Sequence[FitColumn],
        rows: Sequence[Sequence[str]],
        *,
        footers: Sequence[str] | None = None,
        row_styles: Sequence[str | None] | None = None,
        title: str | None = None,
        caption: str | None = None,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.footers = footers
        self.row_styles = row_styles or [None] * len(rows)
        self.title = title
        self.caption = caption
        cells = [*rows, *([footers] if footers else [])]
        self.natural = [
            max([len(column.header), *(len(row[i]) for row in cells)])
            for i, column in enumerate(columns)
        ]

    def fitted(self, width: int, *, shorten: bool = True) -> Table | None:
        """The table within ``width``, ids and names shortened as needed; None if it can't.

        ``shorten=False`` asks for the table with every cell whole, or None.
        """
        chrome = _UNBOUNDED.measure(self.table({})).maximum - sum(self.natural)
        shortening = [i for i, c in enumerate(self.columns) if c.shortens and shorten]
        fixed = sum(n for i, n in enumerate(self.natural) if i not in shortening)
        shares = share(width - chrome - fixed, [self.natural[i] for i in shortening])
        if shares is None:
            return None
        return self.table(dict(zip(shortening, shares, strict=True)))

    def table(self, limits: dict[int, int]) -> Table:
        """The table with column ``i`` at ``limits[i]`` characters (its natural width if absent)."""
        table = Table(
            title=self.title,
            title_justify="left",
            caption=self.caption,
            caption_justify="left",
            show_footer=self.footers is not None,
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        for i, column in enumerate(self.columns):
            width = limits.get(i, self.natural[i])
            table.add_column(
                column.header,
                self.footers[i] if self.footers else "",
                justify=column.justify,
                no_wrap=True,
                overflow="ellipsis",
                min_width=width,
                max_width=width,
            )
        for row, style in zip(self.rows, self.row_styles, strict=True):
            table.add_row(*row, style=style)
        return table


def share(room: int, wants: Sequence[int]) -> list[int] | None:
    """Split ``room`` among columns wanting ``wants``: the narrow ones get all they want.

    Every column gets at least ``SHORTEST`` (or its want, when less); None when even that
    does not fit. What is left is split evenly, the narrowest first, so that all the room
    is used whenever some column still wants more.
    """
    floors = [min(want, SHORTEST) for want in wants]
    if sum(floors) > room:
        return None
    shares = list(floors)
    left = room - sum(floors)
    order = sorted(range(len(wants)), key=lambda i: wants[i])
    for done, index in enumerate(order):
        extra = min(wants[index] - shares[index], left // (len(order) - done))
        shares[index] += extra
        left -= extra
    return shares
