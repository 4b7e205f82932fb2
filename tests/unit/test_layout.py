"""Reading order of two-column pages from text boxes (pure geometry, PDF points, y grows upwards)."""

from __future__ import annotations

from ingest.layout import Box, find_gutter, reading_regions

PAGE = Box(0, 0, 600, 800)
LEFT_X, RIGHT_X = (50, 280), (320, 550)


def line(x: tuple[float, float], row: int) -> Box:
    top = 700 - 15 * row
    return Box(x[0], top - 10, x[1], top)


def title() -> Box:
    return Box(50, 760, 550, 780)


def test_the_gutter_is_the_free_strip_between_the_columns():
    boxes = [line(LEFT_X, r) for r in range(10)] + [line(RIGHT_X, r) for r in range(10)]
    gutter, crossing = find_gutter(boxes, PAGE)
    assert 280 < gutter < 320 and crossing == 0


def test_a_page_written_across_the_columns_is_read_column_by_column():
    boxes = [title()] + [b for r in range(10) for b in (line(LEFT_X, r), line(RIGHT_X, r))]
    regions = reading_regions(boxes, PAGE)
    assert regions is not None
    texty = [r for r in regions if r.top > 550 and r.bottom < 700]  # the band with the columns
    assert [(r.left, r.right) for r in texty][:2] == [(0, texty[0].right), (texty[1].left, 600)]
    assert regions.index(texty[0]) < regions.index(texty[1])
    title_region = next(r for r in regions if r.bottom <= 760 and r.top >= 780)
    assert regions.index(title_region) < regions.index(texty[0])


def test_a_page_whose_columns_already_come_one_after_the_other_keeps_its_order():
    boxes = [title()] + [line(LEFT_X, r) for r in range(10)] + [line(RIGHT_X, r) for r in range(10)]
    assert reading_regions(boxes, PAGE) is None


def test_a_single_column_page_cut_into_pieces_at_font_changes_keeps_its_order():
    # pdfium reports a line in pieces where the font changes; here every line is cut at one spot,
    # 3 points apart (a space), which no gutter is
    pieces = [(Box(50, 690 - 15 * r, 310, 700 - 15 * r), Box(313, 690 - 15 * r, 550, 700 - 15 * r)) for r in range(20)]
    assert reading_regions([b for pair in pieces for b in pair], PAGE) is None


def test_a_page_with_an_origin_away_from_zero_is_handled():
    shift = 100
    page = Box(shift, shift, 600 + shift, 800 + shift)
    boxes = [
        Box(b.left + shift, b.bottom + shift, b.right + shift, b.top + shift)
        for r in range(10)
        for b in (line(LEFT_X, r), line(RIGHT_X, r))
    ]
    regions = reading_regions(boxes, page)
    assert regions is not None and regions[0].left == shift and regions[-1].bottom >= shift
