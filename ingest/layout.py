"""Reading order of two-column pages, from the text boxes pdfium reports (pure geometry).

pdfium returns a page's text in content-stream order. Producers such as LaTeX write a two-column page
column by column, so that order is already the reading order, and nothing here changes it. Other producers
write line by line across both columns ("left line 1, right line 1, left line 2, ..."): then
``reading_regions`` finds the gutter and returns the regions to read in order — full-width blocks as they
come from top to bottom, and between them the left column, then the right column.

Coordinates are PDF points with the origin at the bottom left (y grows upwards), as pdfium gives them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    left: float
    bottom: float
    right: float
    top: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.top - self.bottom


def find_gutter(boxes: Sequence[Box], page: Box, step: float = 2.0) -> tuple[float, int]:
    """The gutter between two columns: the middle of the widest vertical strip, within the middle 40% of
    the page, that (almost) no box crosses, and how many boxes cross it. "Almost": a full-width title or
    caption may cross it, so x positions with at most one box (or 5% of boxes) more than the least
    crossed position count as free. Sampled every ``step`` points."""
    lo, hi = page.left + 0.3 * page.width, page.left + 0.7 * page.width
    centre = page.left + page.width / 2
    n = int((hi - lo) / step) + 1
    delta = [0] * (n + 1)  # difference array: boxes crossing sample i = prefix sum of delta[: i + 1]
    for b in boxes:
        first = max(0, math.floor((b.left + 1 - lo) / step) + 1)  # first sample with x - 1 > left
        last = min(n - 1, math.ceil((b.right - 1 - lo) / step) - 1)  # last sample with x + 1 < right
        if first <= last:
            delta[first] += 1
            delta[last + 1] -= 1
    crossing, running = [], 0
    for i in range(n):
        running += delta[i]
        crossing.append(running)
    allowed = min(crossing) + max(1, int(0.05 * len(boxes)))
    best: tuple[int, float, int, int] | None = None  # (-run length, distance to centre, first, last)
    i = 0
    while i < n:
        if crossing[i] > allowed:
            i += 1
            continue
        j = i
        while j + 1 < n and crossing[j + 1] <= allowed:
            j += 1
        middle = lo + (i + j) / 2 * step
        candidate = (-(j - i), abs(middle - centre), i, j)
        if best is None or candidate < best:
            best = candidate
        i = j + 1
    assert best is not None
    x_index = (best[2] + best[3]) // 2
    return lo + x_index * step, crossing[x_index]


def _side(box: Box, gutter: float) -> str:
    if box.right <= gutter + 1:
        return "L"
    if box.left >= gutter - 1:
        return "R"
    return "F"


def reading_regions(
    boxes: Sequence[Box],
    page: Box,
    min_column_lines: int = 5,
    min_switch_share: float = 0.25,
    min_gutter: float = 8.0,
    max_crossing_share: float = 0.1,
) -> list[Box] | None:
    """Regions to read in order when ``boxes`` (in pdfium's text order) are a two-column page written
    across the columns; ``None`` when the page is not two-column or its text order is already fine.
    ``page`` is the page's visible box (its origin is not always at 0, 0). A page where more boxes than
    ``max_crossing_share`` of the column lines cross the gutter is read as one column (pdfium cuts lines at
    font changes; OCR'd lines, whole printed lines, allow more: full-width blocks above or below columns)."""
    boxes = [b for b in boxes if b.width > 0 and b.height > 0]
    if len(boxes) < 2 * min_column_lines:
        return None
    wide = 0.2 * page.width
    # Cheap test first: most pages have no wide lines confined to each half.
    left_half = sum(1 for b in boxes if b.width >= wide and b.right <= page.left + 0.6 * page.width)
    right_half = sum(1 for b in boxes if b.width >= wide and b.left >= page.left + 0.4 * page.width)
    if left_half < min_column_lines or right_half < min_column_lines:
        return None
    gutter, crossing = find_gutter(boxes, page)
    sides = [_side(b, gutter) for b in boxes]
    lines = {s: sum(1 for b, side in zip(boxes, sides) if side == s and b.width >= wide) for s in "LR"}
    if lines["L"] < min_column_lines or lines["R"] < min_column_lines:
        return None
    if crossing > max(2, max_crossing_share * (lines["L"] + lines["R"])):
        return None  # most lines run across the middle: one column (pdfium cuts lines at font changes)
    left_edge = max(b.right for b, side in zip(boxes, sides) if side == "L")
    right_edge = min(b.left for b, side in zip(boxes, sides) if side == "R")
    if right_edge - left_edge < min_gutter:
        return None  # pieces of one line separated by a space, not columns separated by a gutter
    sequence = [side for b, side in zip(boxes, sides) if side != "F" and b.width >= wide]
    switches = sum(1 for a, b in zip(sequence, sequence[1:]) if a != b)
    if switches <= max(3, min_switch_share * len(sequence)):
        return None  # columns already come one after the other

    # Full-width boxes split the page into bands; merge their vertical extents.
    spans: list[list[float]] = []
    for b in sorted((b for b, s in zip(boxes, sides) if s == "F"), key=lambda b: -b.top):
        if spans and b.top >= spans[-1][0]:  # overlaps the span above
            spans[-1][0] = min(spans[-1][0], b.bottom)
        else:
            spans.append([b.bottom, b.top])
    regions: list[Box] = []
    top = page.top
    for bottom, span_top in spans + [[page.bottom, page.bottom]]:
        if top > span_top:  # a band of columns between the previous full-width block and this one
            regions.append(Box(page.left, span_top, gutter, top))
            regions.append(Box(gutter, span_top, page.right, top))
        if span_top > bottom:
            regions.append(Box(page.left, bottom, page.right, span_top))
        top = min(top, bottom)
    return regions
