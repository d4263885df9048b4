"""The one layout of Top-k rate tables (``scan``, ``demo``): full numbers in 80 columns.

The default table keeps BA at the first k and ASR at up to three k (the first and the two largest:
``1, 5, 10`` of the default ``1,3,5,10``), which with a name column and two short text columns fits
an 80-column terminal or pipe without cutting a number. ``--wide`` shows every k and the extra
columns, on a console as wide as the table needs (a terminal may then wrap it; a pipe does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from cleanerclip_tool.cli.common import console

MISSING = "—"  # a rate that does not exist (k larger than the number of classes, no triggered image)


def rate_ks(ks: Sequence[int | str], *, wide: bool) -> tuple[list[str], list[str]]:
    """(BA columns, ASR columns) as the report's string keys."""
    keys = [str(k) for k in ks]
    if wide or len(keys) <= 1:
        return keys, keys
    asr = keys if len(keys) <= 3 else [keys[0], *keys[-2:]]
    return keys[:1], asr


def percent(value: float | None, scale: float = 100.0) -> str:
    """A rate as a percentage with one decimal; ``None`` (no such rate) as a dash."""
    return MISSING if value is None else f"{scale * value:.1f}"


def rate_table(title: str) -> Table:
    """A borderless table: a header rule and no vertical lines, so columns cost one space each side."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)


def print_table(table: Table, *, wide: bool = False) -> None:
    """Print on stderr; a ``wide`` table gets the width it measures instead of being squeezed."""
    if not wide:
        console.print(table)
        return
    needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    target = console if needed <= console.width else Console(stderr=True, width=needed, highlight=False, emoji=False)
    target.print(table)


def add_rate_columns(table: Table, ba_ks: Sequence[str], asr_ks: Sequence[str]) -> None:
    for k in ba_ks:
        table.add_column(f"BA@{k}", justify="right", no_wrap=True)
    for k in asr_ks:
        table.add_column(f"ASR@{k}", justify="right", no_wrap=True)


def rate_cells(row: dict[str, Any], ba_ks: Sequence[str], asr_ks: Sequence[str], scale: float = 100.0) -> list[str]:
    """The BA then ASR cells of one report row (``row['ba']``, ``row['asr']``: k -> rate or None)."""
    return [percent(row["ba"].get(k), scale) for k in ba_ks] + [percent(row["asr"].get(k), scale) for k in asr_ks]


__all__ = ["MISSING", "add_rate_columns", "percent", "print_table", "rate_cells", "rate_ks", "rate_table"]
