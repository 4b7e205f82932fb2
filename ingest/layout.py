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


def find_gutter(boxes: Sequence[Box], page_width: float, step: float = 2.0) -> tuple[float, int]:
    """The x in the middle 40% of the page crossed by the fewest boxes (ties: nearest the centre),
    and how many boxes cross it. Sampled every ``step`` points."""
    lo, hi = 0.3 * page_width, 0.7 * page_width
    n = int((hi - lo) / step) + 1
    delta = [0] * (n + 1)  # difference array: boxes crossing sample i = prefix sum of delta[: i + 1]
    for b in boxes:
        first = max(0, math.floor((b.left + 1 - lo) / step) + 1)  # first sample with x - 1 > left
        last = min(n - 1, math.ceil((b.right - 1 - lo) / step) - 1)  # last sample with x + 1 < right
        if first <= last:
            delta[first] += 1
            delta[last + 1] -= 1
    best: tuple[int, float, float] | None = None
    crossing = 0
    for i in range(n):
        crossing += delta[i]
        x = lo + i * step
        candidate = (crossing, abs(x - page_width / 2), x)
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return best[2], best[0]


def _side(box: Box, gutter: float) -> str:
    if box.right <= gutter + 1:
        return "L"
    if box.left >= gutter - 1:
        return "R"
    return "F"


def reading_regions(
    boxes: Sequence[Box],
    page_width: float,
    page_height: float,
    min_column_lines: int = 5,
    min_switch_share: float = 0.25,
) -> list[Box] | None:
    """Regions to read in order when ``boxes`` (in pdfium's text order) are a two-column page written
    across the columns; ``None`` when the page is not two-column or its text order is already fine."""
    boxes = [b for b in boxes if b.width > 0 and b.height > 0]
    if len(boxes) < 2 * min_column_lines:
        return None
    wide = 0.2 * page_width
    # Cheap test first: most pages have no wide lines confined to each half.
    left_half = sum(1 for b in boxes if b.width >= wide and b.right <= 0.6 * page_width)
    right_half = sum(1 for b in boxes if b.width >= wide and b.left >= 0.4 * page_width)
    if left_half < min_column_lines or right_half < min_column_lines:
        return None
    gutter, _ = find_gutter(boxes, page_width)
    sides = [_side(b, gutter) for b in boxes]
    lines = {s: sum(1 for b, side in zip(boxes, sides) if side == s and b.width >= wide) for s in "LR"}
    if lines["L"] < min_column_lines or lines["R"] < min_column_lines:
        return None
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
    top = page_height
    for bottom, span_top in spans + [[0.0, 0.0]]:
        if top > span_top:  # a band of columns between the previous full-width block and this one
            regions.append(Box(0.0, span_top, gutter, top))
            regions.append(Box(gutter, span_top, page_width, top))
        if span_top > bottom:
            regions.append(Box(0.0, bottom, page_width, span_top))
        top = min(top, bottom)
    return regions
