"""Marking a cited sentence on a page read by OCR: found in the lines OCR read (kept in the catalog with their
boxes), since such a page has no text layer to search."""

from __future__ import annotations

from pathlib import Path

from app.page_images import find_in_lines
from rag.index.catalog import Catalog
from rag.types import Chunk, TextLine

LINES = (
    TextLine("Barge inspection notes", 60, 760, 300, 774),
    TextLine("Inspectors walk the quay every morning.", 60, 730, 420, 744),
    TextLine("The grain barge Aurora carries 1,800", 60, 700, 380, 714),
    TextLine("tonnes. Its hull was painted in June.", 60, 680, 390, 694),
    TextLine("Small repairs are made at once.", 60, 650, 330, 664),
)


def box(line: TextLine) -> tuple[float, float, float, float]:
    return (line.left, line.bottom, line.right, line.top)


def test_a_sentence_over_two_lines_marks_both_and_only_them():
    marked, every = find_in_lines(LINES, "The grain barge Aurora carries 1,800 tonnes.")
    assert marked == [box(LINES[2]), box(LINES[3])]
    assert every == [box(l) for l in LINES]


def test_the_sentence_is_found_despite_case_punctuation_and_ocr_spacing():
    marked, _ = find_in_lines(LINES, "inspectors walk the QUAY every morning")
    assert marked == [box(LINES[1])]


def test_a_sentence_that_is_not_on_the_page_marks_nothing():
    assert find_in_lines(LINES, "The crane lifts forty tonnes.") == ([], [])
    assert find_in_lines((), "anything") == ([], [])


def test_the_catalog_keeps_the_ocr_lines_of_a_page_and_drops_them_with_the_document(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.db")
    chunk = Chunk("d1-00000", "d1", 0, "text", 2, 2, 0, 4)
    catalog.add_pending("d1", "/scan.pdf", "d" * 64, "Scan", 2, [chunk], "fp", page_lines={2: LINES})
    catalog.publish("d1")
    assert catalog.page_lines("d1", 2) == list(LINES)
    assert catalog.page_lines("d1", 1) == []  # a text-layer page keeps none
    catalog.delete("d1")
    assert catalog.page_lines("d1", 2) == []
