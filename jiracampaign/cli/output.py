"""Render rows for people (aligned table) or programs (JSON, newline-delimited JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any, Callable, Sequence

import click

__all__ = ["FORMATS", "output_options", "render_rows", "Progress", "STATE_STYLES", "state_style"]

FORMATS = ("table", "json", "nl", "csv")


def output_options(fn: Callable) -> Callable:
    """Add ``--table/--json/--nl/--csv`` (stored as ``fmt``) to a command."""
    for flag, help_text in reversed((
        ("table", "Aligned columns for people (default)."),
        ("json", "One JSON array."),
        ("nl", "Newline-delimited JSON, one object per line."),
        ("csv", "Comma-separated values with a header row."),
    )):
        extra = {"default": True} if flag == "table" else {}
        fn = click.option(f"--{flag}", "fmt", flag_value=flag, help=help_text, **extra)(fn)
    return fn


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)


#: how a run state is coloured on a terminal (`click.style` arguments)
STATE_STYLES: dict[str, dict[str, Any]] = {
    "succeeded": {"fg": "green"}, "running": {"fg": "cyan"}, "pending": {"fg": "blue"},
    "partial": {"fg": "yellow", "bold": True}, "failed": {"fg": "red", "bold": True},
    "held": {"fg": "magenta", "bold": True}, "cancelled": {"dim": True}, "unknown": {"fg": "yellow"},
    "not submitted": {"dim": True},
}


def state_style(row: dict[str, Any], key: str) -> dict[str, Any] | None:
    """`render_rows` ``style``: a ``state`` column coloured by run state, a ``stuck`` or ``note`` one in yellow."""
    if key == "state":
        return STATE_STYLES.get(str(row.get(key) or ""))
    if key in ("stuck", "note") and row.get(key):
        return {"fg": "yellow"}
    return None


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], fmt: str = "table",
                style: Callable[[dict[str, Any], str], dict[str, Any] | None] | None = None) -> str:
    """Format rows.

    Parameters
    ----------
    rows : sequence of `dict`
        The data; JSON formats emit every key, table and CSV only ``columns``.
    columns : sequence of ``(key, heading)``
        Columns for table and CSV output, in order.
    fmt : `str`
        One of `FORMATS`.
    style : callable, optional
        Table only: ``style(row, key)`` gives `click.style` arguments for a cell (colour codes that
        `click.echo` drops when its output is not a terminal), or `None`.

    Returns
    -------
    text : `str`
        Ends with a newline unless empty.
    """
    if fmt == "json":
        return json.dumps(list(rows), indent=2) + "\n"
    if fmt == "nl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([heading for _, heading in columns])
        for row in rows:
            writer.writerow(["" if row.get(key) is None else row.get(key) for key, _ in columns])
        return buffer.getvalue()
    table = [[heading for _, heading in columns]] + [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table[:1]]
    for row, line in zip(rows, table[1:]):
        cells = []
        for i, (cell, (key, _)) in enumerate(zip(line, columns)):
            look = style(row, key) if style and cell else None
            cells.append((click.style(cell, **look) if look else cell) + " " * (widths[i] - len(cell)))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


class Progress:
    """A progress bar on standard error, shown only on a terminal; its length is known once work starts."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def start(self, total: int) -> None:
        self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, hidden=not sys.stderr.isatty())
        self.bar.__enter__()

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
