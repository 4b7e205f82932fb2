"""Reading real PDFs (made by tests.fixtures.pdfs) into clean page texts, and refusing bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import ingest.pdf_reader as pdf_reader
from ingest.ocr import OcrConfig
from ingest.pdf_reader import read_pdf
from rag.errors import DocumentError
from tests.fixtures import pdfs

LEFT = [f"left column line {i} tells part one" for i in range(12)]
RIGHT = [f"right column line {i} tells part two" for i in range(12)]


def body(n: int) -> list[str]:
    return pdfs.filler_sentences(n, 5)


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pdfs.make_long_pdf(tmp_path_factory.mktemp("long") / "long.pdf", pages=1000)


# ----------------------------------------------------------------------------------- pages, titles


def test_pages_are_numbered_physically_from_one(tmp_path):
    doc = read_pdf(pdfs.make_pdf(tmp_path / "a.pdf", [body(1), body(2), body(3)]))
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert body(2)[0] in doc.pages[1].text


def test_printed_page_labels_are_kept_beside_the_physical_number(tmp_path):
    doc = read_pdf(pdfs.make_labelled_pdf(tmp_path / "labels.pdf", front_pages=2, body_pages=3))
    assert [(p.number, p.label) for p in doc.pages] == [(1, "i"), (2, "ii"), (3, "1"), (4, "2"), (5, "3")]
    assert "Body page one." in doc.pages[2].text


def test_pages_of_a_pdf_without_labels_have_none(tmp_path):
    doc = read_pdf(pdfs.make_pdf(tmp_path / "a.pdf", [body(1), body(2)]))
    assert [p.label for p in doc.pages] == [None, None]


def test_title_comes_from_the_metadata(tmp_path):
    doc = read_pdf(pdfs.make_pdf(tmp_path / "a.pdf", [body(1)], title="Quarterly Widget Report"))
    assert doc.title == "Quarterly Widget Report"


def test_without_metadata_the_title_is_the_first_pages_largest_line(tmp_path):
    doc = read_pdf(pdfs.make_pdf(tmp_path / "a.pdf", [body(1)], heading="A Study of Widgets"))
    assert doc.title == "A Study of Widgets"


def test_sha256_is_the_hash_of_the_file_bytes(tmp_path):
    path = pdfs.make_pdf(tmp_path / "a.pdf", [body(1)])
    doc = read_pdf(path)
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.doc_id == doc.sha256[:16]


# ------------------------------------------------------------------------------------- page text


def test_running_header_footer_and_page_numbers_are_removed(tmp_path):
    pages = [body(n) for n in range(4)]
    path = pdfs.make_pdf(tmp_path / "a.pdf", pages, header="ACME Widget Report - Internal", footer="Page {page}")
    doc = read_pdf(path)
    for page, sentences in zip(doc.pages, pages):
        assert "ACME Widget Report" not in page.text and "Page" not in page.text
        assert page.text.startswith(sentences[0][:20])


def test_a_word_hyphenated_across_a_line_break_is_joined(tmp_path):
    lines = ["The encoder learns a compact repre-", "sentation of every input sentence."]
    doc = read_pdf(pdfs.make_lines_pdf(tmp_path / "a.pdf", [lines]))
    assert "compact representation of every" in " ".join(doc.pages[0].text.split())


def test_a_real_hyphen_at_a_line_end_stays_and_keeps_the_line_break(tmp_path):
    lines = ["Each task needs a specific model: a task-", "specific model."]
    doc = read_pdf(pdfs.make_lines_pdf(tmp_path / "a.pdf", [lines]))
    assert "a task-\nspecific model." in doc.pages[0].text


def test_ligature_glyphs_are_spelled_out(tmp_path):
    if pdfs.text_font() is None:
        pytest.skip("no Unicode TrueType font (DejaVu Sans) to print ligature glyphs with")
    doc = read_pdf(pdfs.make_pdf(tmp_path / "a.pdf", ["An e\ufb03cient \ufb01ne-tuning \ufb02ow."]))
    assert "An efficient fine-tuning flow." in doc.pages[0].text


def test_a_two_column_page_reads_the_left_column_then_the_right(tmp_path):
    doc = read_pdf(pdfs.make_two_column_pdf(tmp_path / "two.pdf", LEFT, RIGHT))
    lines = doc.pages[0].text.split("\n")
    assert lines == ["A Study of Two Column Layouts", *LEFT, *RIGHT, pdfs.CLOSING_LINE]


def test_table_rows_read_as_lines_with_cells_in_order(tmp_path):
    rows = [["Model", "Params", "Score"], ["Alpha", "7B", "61.2"], ["Beta", "13B", "64.8"]]
    doc = read_pdf(pdfs.make_table_pdf(tmp_path / "table.pdf", rows))
    lines = doc.pages[0].text.split("\n")
    assert ["Model Params Score", "Alpha 7B 61.2", "Beta 13B 64.8"] == lines[-3:]


def test_chinese_text_is_read_without_spaces_between_characters(tmp_path):
    if pdfs.cjk_font() is None:
        pytest.skip(f"no CJK font installed (Debian package {pdfs.CJK_FONT_PACKAGE})")
    paragraph = "大型语言模型的参数量很大。它们需要大量的训练数据！这样的模型可靠吗？研究者认为需要检索增强。" * 2
    doc = read_pdf(pdfs.make_chinese_pdf(tmp_path / "zh.pdf", [paragraph]))
    assert "".join(doc.pages[0].text.split()) == paragraph


def test_a_thousand_page_pdf_is_read_page_by_page(long_pdf):
    doc = read_pdf(long_pdf)
    assert len(doc.pages) == 1000 and doc.pages[-1].number == 1000
    assert pdfs.filler_sentences(1000, 4)[1] in doc.pages[-1].text


# ------------------------------------------------------------------------------------- bad input


def reason(path: Path, **kwargs) -> str:
    with pytest.raises(DocumentError) as caught:
        read_pdf(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message  # one line
    return message


def test_an_empty_file_is_refused(tmp_path):
    assert reason(pdfs.make_empty_file(tmp_path / "empty.pdf")) == "empty file (0 bytes)"


def test_an_image_named_pdf_is_refused_saying_what_it_is(tmp_path):
    assert reason(pdfs.make_not_a_pdf(tmp_path / "photo.pdf", "png")) == "not a PDF (looks like a PNG image)"


def test_a_text_file_named_pdf_is_refused_saying_it_is_text(tmp_path):
    assert reason(pdfs.make_not_a_pdf(tmp_path / "notes.pdf", "text")) == "not a PDF (looks like plain text)"


def test_an_html_page_named_pdf_is_refused_saying_it_is_html(tmp_path):
    assert reason(pdfs.make_not_a_pdf(tmp_path / "page.pdf", "html")) == "not a PDF (looks like an HTML page)"


def test_a_truncated_pdf_is_refused_as_corrupt(tmp_path):
    assert reason(pdfs.make_corrupt_pdf(tmp_path / "cut.pdf")).startswith("corrupt or truncated PDF")


def test_an_encrypted_pdf_without_password_asks_for_one(tmp_path):
    assert reason(pdfs.make_encrypted_pdf(tmp_path / "locked.pdf")) == "encrypted: pass --password"


def test_an_encrypted_pdf_with_a_wrong_password_says_so(tmp_path):
    path = pdfs.make_encrypted_pdf(tmp_path / "locked.pdf", user_password="secret")
    assert reason(path, password="guess") == "encrypted: wrong password"


def test_an_encrypted_pdf_opens_with_its_password(tmp_path):
    path = pdfs.make_encrypted_pdf(tmp_path / "locked.pdf", user_password="secret", text="The vault code is blue.")
    assert "The vault code is blue." in read_pdf(path, password="secret").pages[0].text


def test_an_image_only_pdf_is_refused_when_ocr_is_off(tmp_path):
    path = pdfs.make_image_only_pdf(tmp_path / "scan.pdf")
    assert reason(path) == "no extractable text (a scanned PDF?); OCR is off: set RAG_OCR=auto to read scanned pages"
    assert reason(path, ocr=OcrConfig(mode="off")) == reason(path)


def test_a_pdf_over_the_page_limit_is_refused(long_pdf):
    assert reason(long_pdf, max_pages=999) == "too many pages: 1000 (limit 999)"


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = pdfs.make_pdf(tmp_path / "a.pdf", [body(1)])
    assert reason(path, max_file_mb=0.001).startswith("file too large:")


def test_a_missing_file_is_refused(tmp_path):
    assert reason(tmp_path / "nowhere.pdf") == "file not found"


def test_pdfium_objects_are_closed_when_reading_fails(tmp_path, monkeypatch):
    opened = []
    real_document = pdf_reader.pdfium.PdfDocument

    def spy(*args, **kwargs):
        document = real_document(*args, **kwargs)
        opened.append(document)
        return document

    monkeypatch.setattr(pdf_reader.pdfium, "PdfDocument", spy)
    reason(pdfs.make_image_only_pdf(tmp_path / "scan.pdf"))
    reason(pdfs.make_labelled_pdf(tmp_path / "many.pdf"), max_pages=2)
    assert len(opened) == 2 and all(document.raw is None for document in opened)
