"""Tables in page text, found from the structure of its lines (pure text; no geometry).

pypdfium2 writes a table row by row, one row a line, its cells separated by spaces. A table is a run of
at least ``min_rows`` row lines — lines with several short numeric cells ("51310 Health Insurance
73,218.04", "11b 模式 17.5 18.5 20 dBm", "CaP 2 6 32 94") — where at most one other line (a wrapped cell,
a group label such as "BCL-2") sits between two rows. A run of rows never crosses a blank line (nor,
so, a page). Above the run, within ``max_lead`` lines, may come its caption ("Table 2: ...", "表 8:") and
its header (the non-row lines between the caption and the first row; without a caption, the one line just
above the first row when it looks like column names). A caption may also stand apart, as a paragraph of at
most ``max_caption_lines`` lines beginning "Table N" just above (after a blank line) or just below the
table, as papers set them: then that paragraph belongs to the table too.

``TableSpan`` offsets are into the text given, like the spans of ``ingest.chunking.split_sentences``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMERIC_CELL_RE = re.compile(
    r"[(\[]?[-–—−+±~<>≤≥$€£¥]?\d[\d,.:/]*(?:[eE][-+]?\d+)?%?[)\]]?"  # 12, 73,218.04, (90), -0.3, 10%
    r"|\d[\d,.]*[a-zA-Zµ°Ω]{1,4}"  # 80MHz, 4MB, 17dBm
    r"|[-–—−]|N/?A|n/?a"  # an empty cell
)
_CAPTION_RE = re.compile(r"(?:^|\s)(?:Table|TABLE|Tab\.)\s*[A-Z]?\d+(?:[.-]\d+)*\b|表\s*[A-Z]?\d+(?:[.-]\d+)*\s*[:：.]?")
_CAPTION_START_RE = re.compile(r"\s*(?:Table|TABLE|Tab\.|表)\s*[A-Z]?\d+")
_LINE_RE = re.compile(r"[^\n]*")


@dataclass(frozen=True)
class TableSpan:
    """A table in a text: ``start``-``end`` covers caption, header and rows; ``lead_end`` is where the
    caption and header (the part repeated above each piece of a split table) end; ``rows`` are the spans
    of the lines after the lead (rows, and the few other lines between them); ``caption_below``: the first
    line of a caption set below the table, if any."""

    start: int
    lead_end: int
    end: int
    rows: tuple[tuple[int, int], ...]
    caption_below: tuple[int, int] | None = None

    @property
    def has_lead(self) -> bool:
        return self.lead_end > self.start


def is_row_line(line: str, min_cells: int = 2, min_share: float = 0.25, max_chars: int = 160) -> bool:
    """Whether ``line`` reads as a table row: at least ``min_cells`` numeric cells (numbers, amounts,
    percentages, values with a unit, a dash for an empty cell) making at least ``min_share`` of its
    whitespace-separated cells, and not a long line of prose."""
    tokens = line.split()
    if len(tokens) < min_cells or len(line) > max_chars:
        return False
    numeric = sum(1 for t in tokens if _NUMERIC_CELL_RE.fullmatch(t))
    return numeric >= min_cells and numeric >= min_share * len(tokens)


def is_caption(line: str) -> bool:
    """Whether ``line`` names a table ("Table 2: Degree of staining", "Tab. 3", "表 8: Wi-Fi 射频特性")."""
    return bool(_CAPTION_RE.search(line)) and len(line) <= 200


def find_tables(text: str, min_rows: int = 3, max_lead: int = 3, max_caption_lines: int = 8) -> list[TableSpan]:
    """The tables of ``text``, in order (see the module docstring)."""
    lines = [(m.start(), m.end()) for m in _LINE_RE.finditer(text)]
    lines = [span for i, span in enumerate(lines) if i == 0 or span[0] > lines[i - 1][1] or span[1] > span[0]]
    rowish = [is_row_line(text[s:e]) for s, e in lines]
    blank = [not text[s:e].strip() for s, e in lines]
    tables: list[TableSpan] = []
    i = 0
    while i < len(lines):
        if not rowish[i]:
            i += 1
            continue
        last, rows, j = i, 1, i + 1
        while j < len(lines) and not blank[j]:
            if rowish[j]:
                last, rows = j, rows + 1
            elif j - last > 1:  # two non-row lines in a row end the table
                break
            j += 1
        if rows >= min_rows:
            first_lead = _lead(text, lines, rowish, blank, i, max_lead)
            if first_lead == i or not is_caption(text[lines[first_lead][0] : lines[first_lead][1]]):
                first_lead = _caption_above(text, lines, blank, first_lead, max_caption_lines)
            below = _caption_below(text, lines, blank, last, max_caption_lines)
            start = lines[first_lead][0]
            body = tuple(lines[k] for k in range(i, below + 1) if not blank[k])
            caption_below = next((lines[k] for k in range(last + 1, below + 1) if not blank[k]), None)
            lead_end = lines[i - 1][1] if first_lead < i else start
            tables.append(TableSpan(start, lead_end, lines[below][1], body, caption_below))
            last = below
        i = last + 1
    return tables


def _paragraph_caption(text: str, lines: list[tuple[int, int]], blank: list[bool], first: int, step: int, limit: int) -> int | None:
    """From line ``first``, walking ``step`` (+1 down, -1 up) over the non-blank lines of one paragraph of
    at most ``limit`` lines: the far end of the paragraph when it is a caption ("Table N" at its top)."""
    k, seen = first, 0
    while 0 <= k < len(lines) and not blank[k] and seen < limit + 1:
        k, seen = k + step, seen + 1
    if seen == 0 or seen > limit:
        return None
    top, bottom = (first, k - 1) if step > 0 else (k + 1, first)
    if not _CAPTION_START_RE.match(text[lines[top][0] : lines[top][1]]):
        return None
    return bottom if step > 0 else top


def _caption_above(text: str, lines: list[tuple[int, int]], blank: list[bool], first: int, limit: int) -> int:
    """``first``, or the first line of a caption paragraph just above it, past one blank line."""
    if first >= 2 and blank[first - 1]:
        found = _paragraph_caption(text, lines, blank, first - 2, -1, limit)
        if found is not None:
            return found
    return first


def _caption_below(text: str, lines: list[tuple[int, int]], blank: list[bool], last: int, limit: int) -> int:
    """``last``, or the last line of a caption paragraph just below it (past at most one blank line)."""
    for k in (last + 1, last + 2):
        if k < len(lines) and not blank[k]:
            found = _paragraph_caption(text, lines, blank, k, 1, limit)
            return found if found is not None else last
    return last


def _lead(text: str, lines: list[tuple[int, int]], rowish: list[bool], blank: list[bool], first_row: int, max_lead: int) -> int:
    """Index of the first line of the caption and header above ``first_row`` (``first_row`` when none)."""
    above = []
    k = first_row - 1
    while k >= 0 and len(above) < max_lead and not blank[k] and not rowish[k]:
        above.append(k)
        k -= 1
    for k in above:  # nearest first
        if is_caption(text[lines[k][0] : lines[k][1]]):
            return k
    if above and _looks_like_header(text[lines[above[0]][0] : lines[above[0]][1]]):
        return above[0]
    return first_row


def _looks_like_header(line: str) -> bool:
    """Column names: a short line of several words that is not a sentence."""
    stripped = line.strip()
    return 2 <= len(stripped.split()) <= 16 and len(stripped) <= 120 and stripped[-1] not in ".。;；,，"
