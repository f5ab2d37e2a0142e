"""Drawing a table cell as DataTable draws it through Rich, without Rich's layout machinery.

DataTable renders each cell as ``Styled(Padding(cell, (0, 1)), pre_style=...)`` through
``Console.render_lines``: measuring, wrapping, cropping and padding lines for a one-line cell,
about ten times the work of the few segments it comes to. Those segments are built here
directly, with the same padding, justification and styles (tests/console/test_virtual_table.py
compares them with Rich's, cell by cell), and the per-cell styles that carry a cell's place are
cached.
"""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

PADDING = 1
"""Blank cells on each side of every cell, as DataTable's default ``cell_padding``."""


def cell_segments(cell: Text, width: int, style: Style, console: Console) -> list[Segment]:
    """One padded cell of ``width`` content cells, as DataTable draws it through Rich (its
    ``Styled(Padding(cell))``), without Rich's layout machinery: a tenth of the time.

    ``style`` goes under the cell's own styles. Justification pads as Rich's ``Lines.justify``:
    right and left with the cell's base style, default with blanks in ``style`` alone.
    """
    plain = cell.plain
    justify = cell.justify or "default"
    blank = width - cell.cell_len
    # Rich strips trailing blanks before it pads right or centre (a full-width cell may move),
    # and centres by padding both sides: those rare cells go the long way.
    if justify not in ("default", "left", "right") or (justify == "right" and plain[-1:].isspace()):
        return _padded_cell_segments(cell, width, style, console)
    base = style + console.get_style(cell.style) if cell.style else style
    pad = Segment(" " * PADDING, style)
    segments = [pad]
    if justify == "right" and blank > 0:
        segments.append(Segment(" " * blank, base))
        blank = 0
    if cell.spans:
        add = style.__add__
        segments.extend(Segment(s.text, add(s.style)) for s in cell.render(console, end=""))
    elif plain:
        # Text.render leaves out the base style of a text without spans (Rich applies it
        # when it joins lines); here it is applied as Rich would.
        segments.append(Segment(plain, base))
    if blank > 0:
        segments.append(Segment(" " * blank, base if justify == "left" else style))
    segments.append(pad)
    return segments


def _padded_cell_segments(cell: Text, width: int, style: Style, console: Console) -> list[Segment]:
    text = cell.copy()
    text.rstrip()
    if cell.justify == "center":
        text.pad_left((width - text.cell_len) // 2)
        text.pad_right(width - text.cell_len)
    else:  # right, and full (one line: as right is wrong, but no cell of ours is "full")
        text.pad_left(width - text.cell_len)
    text.justify = "default"
    return cell_segments(text, width, style, console)


@lru_cache(maxsize=8192)
def cell_style(row_style: Style, row: int, column: int) -> Style:
    """A row's style with the cell's place (which a click reads), as DataTable marks its cells."""
    return row_style + Style.from_meta({"row": row, "column": column})


@lru_cache(maxsize=1024)
def extend_style(row_style: Style, row: int) -> Style:
    """The blank past the last column: the row's style, a click on it selects the row."""
    return row_style + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
