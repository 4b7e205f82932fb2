"""OCR'd lines -> page text (ingest.ocr), and which pages the PDF reader sends to OCR (ingest.pdf_reader), with a
scripted engine that reads back what the test tells it: fast and exact. Real OCR: tests/integration/test_ocr.py."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.layout import Box
from ingest.ocr import OcrConfig, OcrLine, lines_to_text, to_page_lines
from ingest.pdf_reader import read_pdf
from rag.errors import DocumentError, ModelUnavailable
from rag.types import ReadingReport
from tests.fixtures import pdfs

PAGE = Box(0, 0, 600, 800)


def line(text: str, left: float, top: float, right: float, height: float = 12) -> OcrLine:
    return OcrLine(text, Box(left, top - height, right, top), 0.99)


# ------------------------------------------------------------------------------------------ reading order
def test_pixel_boxes_become_pdf_points_with_y_up():
    [converted] = to_page_lines([("  two   words ", (100, 50, 300, 80), 0.9)], Box(0, 0, 612, 792), scale=2.0)
    assert converted.text == "two words"
    assert converted.box == Box(50, 792 - 40, 150, 792 - 25)


def test_empty_and_unsure_lines_are_dropped():
    raw = [("kept", (0, 0, 10, 10), 0.9), ("  ", (0, 20, 10, 30), 0.99), ("unsure", (0, 40, 10, 50), 0.3)]
    assert [l.text for l in to_page_lines(raw, PAGE, 1.0, min_score=0.5)] == ["kept"]


def test_pieces_of_one_printed_row_join_left_to_right_and_rows_go_top_down():
    lines = [line("world", 200, 700, 260), line("second row", 50, 680, 160), line("hello", 50, 701, 120)]
    assert lines_to_text(lines, PAGE) == "hello world\nsecond row"


def test_cjk_pieces_join_without_a_space_and_a_wide_gap_is_a_paragraph_break():
    lines = [line("港口起重机", 50, 700, 150), line("三月修好了。", 155, 700, 260), line("新段落。", 50, 640, 130)]
    assert lines_to_text(lines, PAGE) == "港口起重机三月修好了。\n\n新段落。"


def test_two_columns_are_read_column_by_column_below_a_full_width_heading():
    lines = [line("A heading that runs across the whole width of the page", 40, 760, 560)]
    for i in range(8):
        top = 720 - 20 * i
        lines.append(line(f"left column line {i} of the text", 40, top, 290))
        lines.append(line(f"right column line {i} of the text", 310, top, 560))
    text = lines_to_text(lines, PAGE)
    order = [text.index(f"left column line {i} ") for i in range(8)] + [text.index(f"right column line {i} ") for i in range(8)]
    assert order == sorted(order)
    assert text.startswith("A heading")


# ------------------------------------------------------------------------------------------ which pages OCR reads
class ScriptedEngine:
    """Reads every page picture as the given lines (pixel boxes), counting its calls; fails on demand."""

    name = "scripted"

    def __init__(self, lines: list[str], fail_on: set[int] = frozenset(), unavailable: bool = False) -> None:
        self.lines = lines
        self.fail_on = fail_on
        self.unavailable = unavailable
        self.calls = 0

    def read(self, image: np.ndarray):
        self.calls += 1
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        if self.unavailable:
            raise ModelUnavailable("the OCR engine is not installed (PyPI package rapidocr); reinstall the project, or set RAG_OCR=off")
        if self.calls in self.fail_on:
            raise RuntimeError("onnxruntime: out of memory")
        return [(text, (100, 100 + 60 * i, 900, 140 + 60 * i), 0.95) for i, text in enumerate(self.lines)]


SCANNED = ["The crane lifts forty tonnes at the north quay."]
TEXT_PAGE = "This page has a real text layer about tides and the harbour, long enough to be usable text."


@pytest.fixture
def mixed_pdf(tmp_path):
    """Page 1: text layer; pages 2 and 3: pictures only."""
    return pdfs.make_scanned_pdf(tmp_path / "mixed.pdf", [TEXT_PAGE, SCANNED, SCANNED])


def test_only_pages_without_a_usable_text_layer_are_ocrd_and_keep_their_page_numbers(mixed_pdf):
    engine = ScriptedEngine(["OCR read the north quay crane page."])
    seen: list[tuple[int, int]] = []
    doc = read_pdf(mixed_pdf, ocr=OcrConfig(), ocr_engine=engine, on_ocr_page=lambda n, total: seen.append((n, total)))
    assert engine.calls == 2 and seen == [(2, 3), (3, 3)]
    assert "real text layer" in doc.pages[0].text
    assert [p.number for p in doc.pages if "north quay crane" in p.text] == [2, 3]
    assert doc.reading == ReadingReport(pages=3, text_layer_pages=1, ocr_pages=2, empty_pages=0, garbled_pages=0,
                                        scripts={"latin": 1.0}, notes=(), ocr="auto")
    assert doc.reading.summary() == "2 of 3 pages OCR'd"


def test_force_reads_every_page_by_ocr(mixed_pdf):
    engine = ScriptedEngine(["Every page is read by OCR when forced."])
    doc = read_pdf(mixed_pdf, ocr=OcrConfig(mode="force"), ocr_engine=engine)
    assert engine.calls == 3 and doc.reading.ocr_pages == 3
    assert all("read by OCR when forced" in p.text for p in doc.pages)


def test_off_never_calls_the_engine_and_scanned_pages_stay_empty(mixed_pdf):
    engine = ScriptedEngine(["never"])
    doc = read_pdf(mixed_pdf, ocr=OcrConfig(mode="off"), ocr_engine=engine)
    assert engine.calls == 0
    assert doc.reading.empty_pages == 2 and doc.reading.ocr_pages == 0
    assert doc.reading.problems == ["2 of 3 pages have no text"]


def test_an_ocr_failure_on_one_page_is_a_note_and_the_rest_goes_on(mixed_pdf, caplog):
    engine = ScriptedEngine(["The second scanned page was read."], fail_on={1})
    doc = read_pdf(mixed_pdf, ocr=OcrConfig(), ocr_engine=engine)
    assert "second scanned page" in doc.pages[2].text and doc.pages[1].text == ""
    assert doc.reading.notes == ("p. 2: OCR failed: onnxruntime: out of memory",)
    assert doc.reading.ocr_pages == 1 and doc.reading.empty_pages == 1
    assert "OCR failed on 1 pages" in doc.reading.problems
    assert any("p. 2: OCR failed" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_a_scan_whose_every_page_fails_is_one_clear_error(tmp_path):
    path = pdfs.make_scanned_pdf(tmp_path / "scan.pdf", [SCANNED, SCANNED])
    with pytest.raises(DocumentError) as caught:
        read_pdf(path, ocr=OcrConfig(), ocr_engine=ScriptedEngine(["x"], fail_on={1, 2}))
    assert str(caught.value) == "no extractable text: OCR failed on 2 of 2 pages (p. 1: OCR failed: onnxruntime: out of memory)"


def test_a_missing_engine_is_tried_once_and_named_in_the_error(tmp_path):
    path = pdfs.make_scanned_pdf(tmp_path / "scan.pdf", [SCANNED, SCANNED, SCANNED])
    engine = ScriptedEngine(["x"], unavailable=True)
    with pytest.raises(DocumentError) as caught:
        read_pdf(path, ocr=OcrConfig(), ocr_engine=engine)
    assert engine.calls == 1
    assert str(caught.value).startswith("no extractable text, and the OCR engine is not installed")
    assert "RAG_OCR=off" in str(caught.value)


def test_a_scan_that_ocr_finds_empty_says_so(tmp_path):
    path = pdfs.make_scanned_pdf(tmp_path / "scan.pdf", [SCANNED])
    with pytest.raises(DocumentError) as caught:
        read_pdf(path, ocr=OcrConfig(), ocr_engine=ScriptedEngine([]))
    assert str(caught.value) == "no extractable text, even with OCR (0 of 1 pages OCR'd)"


@pytest.mark.parametrize("garbage", ["private-use", "shifted"])
def test_a_garbled_text_layer_is_detected_counted_and_replaced_by_ocr(tmp_path, garbage):
    path = pdfs.make_garbled_pdf(tmp_path / "garbled.pdf", ["The invoice total was 4,250 euros."] * 4, garbage=garbage)
    doc = read_pdf(path, ocr=OcrConfig(), ocr_engine=ScriptedEngine(["The invoice total was 4,250 euros."]))
    assert doc.reading.garbled_pages == 1 and doc.reading.ocr_pages == 1 and doc.reading.text_layer_pages == 1
    assert doc.pages[0].text.startswith("The invoice total was 4,250 euros.")
    assert doc.title == "The invoice total was 4,250 euros."  # not the garbage of the text layer


def test_with_ocr_off_a_garbled_page_is_reported_as_a_problem(tmp_path):
    path = pdfs.make_garbled_pdf(tmp_path / "garbled.pdf", ["The invoice total was 4,250 euros."] * 4, garbage="shifted")
    doc = read_pdf(path, ocr=OcrConfig(mode="off"))
    assert doc.reading.garbled_pages == 1 and doc.reading.ocr_pages == 0
    assert doc.reading.problems == ["1 pages have a garbled text layer (OCR is off)"]
    assert doc.reading.needs_attention


def test_a_born_digital_pdf_needs_no_attention(tmp_path):
    path = pdfs.make_pdf(tmp_path / "a.pdf", [pdfs.filler_sentences(1, 5), pdfs.filler_sentences(2, 5)])
    engine = ScriptedEngine(["never"])
    doc = read_pdf(path, ocr=OcrConfig(), ocr_engine=engine)
    assert engine.calls == 0
    assert not doc.reading.needs_attention and doc.reading.summary() == ""
    assert doc.reading.text_layer_pages == 2


def test_the_reading_report_survives_json():
    report = ReadingReport(pages=12, text_layer_pages=9, ocr_pages=3, empty_pages=1, garbled_pages=2,
                           scripts={"cjk": 0.7, "latin": 0.3}, notes=("p. 4: OCR failed: boom",), ocr="auto")
    assert ReadingReport.from_dict(report.as_dict()) == report
    assert report.summary() == "3 of 12 pages OCR'd; 2 pages looked garbled; OCR failed on 1 pages"
