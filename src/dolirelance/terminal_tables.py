"""The CLI's tables, laid out for the terminal they are printed in.

Refs, dates, amounts and keys are what people read and copy: they are printed whole, never cut
nor wrapped, and get their width first. Free text (a customer, a note) shares what is left and
wraps. When even that does not fit, each record is printed as a block of "Label: value" lines.
Piped output (a file, ``grep``, CI logs) is plain whatever the width: a header line, then one
record per line, fields separated by tabs.

Cells are rich markup strings, their values already escaped with :func:`dolirelance.terminal.text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "TableLayout", "print_table"]

# Between two columns; the table has no borders (every column kept for the values).
_GAP = 2
# A free-text column narrower than this is unreadable: the records are printed as blocks instead.
_MIN_TEXT_WIDTH = 10
# A free text this short (a model's name, a person's) gets its whole width before longer texts share the rest.
_SHORT_TEXT = 16
_INDENT = 2


@dataclass(frozen=True)
class Column:
    header: str
    # True for refs, dates, amounts, keys: printed whole, never cut nor wrapped.
    whole: bool = False
    right: bool = False


@dataclass
class TableLayout:
    """The columns of a table printed in several parts (a page at a time) that must line up.

    The whole columns' widths only grow from part to part, so the parts line up unless a later
    page holds a longer ref or amount.
    """

    columns: Sequence[Column]
    _whole_widths: dict[int, int] = field(default_factory=dict)

    def widths(self, rows: Sequence[Sequence[str]], total: int) -> list[int] | None:
        """Each column's width within ``total`` columns, or None when the table cannot fit."""
        natural = [_natural_width(column, [row[index] for row in rows]) for index, column in enumerate(self.columns)]
        for index, column in enumerate(self.columns):
            if column.whole:
                natural[index] = self._whole_widths[index] = max(natural[index], self._whole_widths.get(index, 0))
        widths = [
            natural[index] if column.whole else min(natural[index], _MIN_TEXT_WIDTH)
            for index, column in enumerate(self.columns)
        ]
        room = total - sum(widths) - _GAP * (len(widths) - 1)
        if room < 0:
            return None
        # what is left: first to the short texts (a model, a login) so that they do not wrap, then to the
        # others in proportion to what they lack (a long note gets more than a name), none wider than its text
        text_columns = sorted((i for i, c in enumerate(self.columns) if not c.whole), key=lambda i: natural[i])
        for index in text_columns:
            if natural[index] <= _SHORT_TEXT and natural[index] - widths[index] <= room:
                room -= natural[index] - widths[index]
                widths[index] = natural[index]
        lacking = {index: natural[index] - widths[index] for index in text_columns if natural[index] > widths[index]}
        total_lack = sum(lacking.values())
        for index, lack in lacking.items():
            extra = min(lack, room * lack // total_lack) if total_lack else 0
            widths[index] += extra
        room = total - sum(widths) - _GAP * (len(widths) - 1)
        for index in lacking:  # the remainder of the divisions, one column at a time
            extra = min(natural[index] - widths[index], room)
            widths[index] += extra
            room -= extra
        return widths


def print_table(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    header: bool = True,
    layout: TableLayout | None = None,
    heading: int = 1,
) -> None:
    """Print ``rows`` (markup strings, one per column) for ``console``: a table, blocks, or plain lines.

    ``heading``: how many of the first columns make a record's first line when records are blocks.
    """
    if title is not None:
        console.print(Text(title, style="bold"), soft_wrap=True)
    if not console.is_terminal:
        _print_plain(console, columns, rows, header=header)
        return
    widths = (layout or TableLayout(columns)).widths(rows, console.width)
    if widths is None:
        _print_blocks(console, columns, rows, heading)
        return
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    wraps = any(_cell_width(cell) > widths[index] for row in cells for index, cell in enumerate(row))
    table = Table(box=None, show_header=header, header_style="bold", pad_edge=False, padding=(0, _GAP // 2))
    for column, width in zip(columns, widths, strict=True):
        # a whole value fits its column exactly: only free text folds (on words where it can)
        table.add_column(column.header, width=width, justify="right" if column.right else "left", overflow="fold")
    for number, row in enumerate(cells):
        if wraps and number:  # a blank line between records that take several lines
            table.add_row(*("" for _ in columns))
        table.add_row(*row)
    console.print(table, soft_wrap=False)


def _print_plain(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]], *, header: bool) -> None:
    lines = ["\t".join(column.header for column in columns)] if header else []
    lines += ["\t".join(_one_line(Text.from_markup(cell).plain) for cell in row) for row in rows]
    # written as they are: rich would turn the tabs into spaces
    console.file.write("".join(line + "\n" for line in lines))


def _print_blocks(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]], heading: int) -> None:
    """Each record as a heading line (its first values), then "Label: value" items packed onto indented lines."""
    room = max(console.width - _INDENT, 1)
    for row in rows:
        first = Text("  ").join(Text.from_markup(cell.replace("\n", " ")) for cell in row[:heading] if cell)
        first.stylize("bold")
        console.print(first, soft_wrap=False)
        line = Text()
        for column, cell in zip(columns[heading:], row[heading:], strict=True):
            value = Text.from_markup(cell.replace("\n", " "))
            if not value.plain.strip():
                continue
            item = Text(column.header + ": ", style="dim") + value
            if line.plain and line.cell_len + 3 + item.cell_len > room:
                console.print(Padding(line, (0, 0, 0, _INDENT)), soft_wrap=False)
                line = Text()
            line = line + Text("   ") + item if line.plain else item
        if line.plain:
            console.print(Padding(line, (0, 0, 0, _INDENT)), soft_wrap=False)


def _natural_width(column: Column, cells: Sequence[str]) -> int:
    header = max((len(word) for word in column.header.split()), default=0)
    return max([header, *(_cell_width(Text.from_markup(cell)) for cell in cells)])


def _cell_width(cell: Text) -> int:
    return max((Text(line).cell_len for line in cell.plain.split("\n")), default=0)


def _one_line(value: str) -> str:
    return " ".join(value.replace("\t", " ").split("\n")).strip()
