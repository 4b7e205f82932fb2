"""Tables in page text; how chunking with ``keep_tables`` keeps them whole or splits them with their header
repeated; the count of tables in the reading report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.chunking import chunk_document, document_text
from ingest.tables import find_tables, is_caption, is_row_line
from rag.types import Page, ParsedDocument

CAPTION = "Table 2: Degree of staining for each marker."
HEADER = "Biomarker Group Mild Moderate Severe Mean"
ROWS = ["PSA Benign 4 0 0 10", "CaP 2 6 32 94", "P63 Benign 1 0 0 10", "CaP 2 4 34 98"]
PROSE = "The staining was scored by two pathologists who did not know the diagnosis of the case."


def words(texts: Sequence[str]) -> list[int]:
    """Token counter for tests: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def make_doc(pages: Sequence[str]) -> ParsedDocument:
    return ParsedDocument(
        path=Path("doc.pdf"), sha256="cd" * 32, title="Doc",
        pages=tuple(Page(number=i + 1, text=text) for i, text in enumerate(pages)),
    )


def table_page(rows: Sequence[str] = ROWS, before: int = 1) -> str:
    return "\n".join([PROSE] * before + [CAPTION, HEADER, *rows, PROSE])


# ------------------------------------------------------------------------------------------ finding


def test_a_line_of_several_numeric_cells_is_a_row():
    assert is_row_line("51310 Health Insurance 73,218.04")
    assert is_row_line("11b 模式 17.5 18.5 20 dBm")
    assert is_row_line("BPH 36 (90) 4 (10) 39 (100)")


def test_a_sentence_with_a_number_or_two_is_not_a_row():
    assert not is_row_line(PROSE)
    assert not is_row_line("In 2019 the committee met 4 times to discuss the budget of the program and its staff.")


def test_table_captions_are_recognised_in_english_and_chinese():
    assert is_caption(CAPTION) and is_caption("Fi 射频表 8: Wi-") and is_caption("TABLE 3 Results")
    assert not is_caption(HEADER)


def test_a_table_spans_its_caption_header_and_rows():
    text = table_page()
    [table] = find_tables(text)
    assert text[table.start : table.lead_end] == f"{CAPTION}\n{HEADER}"
    assert text[table.lead_end : table.end].strip() == "\n".join(ROWS)
    assert [text[s:e] for s, e in table.rows] == ROWS


def test_a_label_line_between_rows_stays_in_the_table():
    rows = [*ROWS[:2], "BCL-2", *ROWS[2:]]
    [table] = find_tables(table_page(rows))
    assert len(table.rows) == len(rows)


def test_two_rows_are_not_a_table():
    assert find_tables(table_page(ROWS[:2])) == []


def test_a_table_never_crosses_a_blank_line():
    text = "\n".join([HEADER, *ROWS[:3]]) + "\n\n" + "\n".join(ROWS[:3])
    tables = find_tables(text)
    assert len(tables) == 2 and all("\n\n" not in text[t.start : t.end] for t in tables)


def test_without_a_caption_the_line_above_the_rows_is_the_header():
    [table] = find_tables("\n".join([PROSE, HEADER, *ROWS]))
    assert "\n".join([PROSE, HEADER, *ROWS])[table.start : table.lead_end] == HEADER


def test_a_caption_paragraph_below_the_table_belongs_to_it():
    below = "Table 6: Statistics of the staining.\nWe list every marker."
    text = "\n".join([PROSE, HEADER, *ROWS, below]) + "\n\n" + PROSE
    [table] = find_tables(text)
    assert text[table.start : table.end] == "\n".join([HEADER, *ROWS, below])


def test_a_caption_paragraph_above_the_table_past_a_blank_line_belongs_to_it():
    above = "Table 1: Elo ratings for a competition\nbetween models."
    text = PROSE + "\n\n" + above + "\n\n" + "\n".join([HEADER, *ROWS])
    [table] = find_tables(text)
    assert text[table.start : table.lead_end] == above + "\n\n" + HEADER


def test_a_paragraph_that_is_not_a_caption_stays_out_of_the_table():
    text = "\n".join([HEADER, *ROWS, PROSE, PROSE])
    [table] = find_tables(text)
    assert PROSE not in text[table.start : table.end]


# ------------------------------------------------------------------------------------------ chunking


def test_a_table_within_the_budget_is_one_chunk_with_its_caption_and_header():
    doc = make_doc([table_page(before=4)])  # 4 sentences of 16 words before it: the budget forces cuts
    chunks = chunk_document(doc, words, chunk_tokens=60, overlap=0.0, keep_tables=True)
    holding = [c for c in chunks if "CaP 2 6 32 94" in c.text]
    assert len(holding) == 1
    assert all(line in holding[0].text for line in [CAPTION, HEADER, *ROWS])


def test_a_table_that_fits_is_packed_with_the_prose_around_it():
    chunks = chunk_document(make_doc([table_page(before=2)]), words, chunk_tokens=200, overlap=0.15, keep_tables=True)
    assert [c.text for c in chunks] == [table_page(before=2)]


def test_only_the_chunks_that_would_cut_a_table_are_made_again():
    prose = " ".join(f"Sentence {i} of the report says something about the harbour." for i in range(40))
    rows = ROWS * 2
    doc = make_doc([prose, table_page(rows, before=4), prose])
    with_tables = chunk_document(doc, words, chunk_tokens=60, overlap=0.0, keep_tables=True)
    without = chunk_document(doc, words, chunk_tokens=60, overlap=0.0)  # the default: tables read as sentences

    def whole(chunks):
        return [c for c in chunks if all(line in c.text for line in [CAPTION, HEADER, *rows])]

    assert whole(without) == [] and len(whole(with_tables)) == 1  # read as sentences, the caption is cut off

    def off_page_2(chunks):
        return [(c.char_start, c.char_end, c.text) for c in chunks if 2 not in (c.page_start, c.page_end)]

    assert off_page_2(with_tables) == off_page_2(without) != []  # the prose of pages 1 and 3: cut as before


def test_the_table_text_reads_row_by_row():
    chunks = chunk_document(make_doc([table_page()]), words, chunk_tokens=200, overlap=0.0, keep_tables=True)
    assert any("\n".join([CAPTION, HEADER, *ROWS]) in c.text for c in chunks)


@pytest.fixture
def long_table_doc() -> ParsedDocument:
    rows = [f"Sample{i} Benign {i} {i + 1} {i + 2} {i * 3}" for i in range(40)]  # 6 words a row: 240 words
    return make_doc([table_page(rows), PROSE])


def test_a_table_over_the_budget_is_cut_between_rows_and_each_piece_repeats_the_header(long_table_doc):
    chunks = chunk_document(long_table_doc, words, chunk_tokens=60, overlap=0.15, keep_tables=True)
    pieces = [c for c in chunks if "Sample" in c.text]
    assert len(pieces) >= 4
    assert all(c.text.startswith(f"{CAPTION}\n{HEADER}\n") for c in pieces)
    rows_seen = [line for c in pieces for line in c.text.split("\n") if line.startswith("Sample")]
    assert rows_seen == [f"Sample{i} Benign {i} {i + 1} {i + 2} {i * 3}" for i in range(40)]  # each once, whole


def test_pieces_of_a_split_table_stay_within_the_budget(long_table_doc):
    chunks = chunk_document(long_table_doc, words, chunk_tokens=60, overlap=0.15, keep_tables=True)
    assert max(words([c.text for c in chunks])) <= 60


def test_a_chunk_text_ends_with_its_exact_slice_of_the_document(long_table_doc):
    text = document_text(long_table_doc)
    for chunk in chunk_document(long_table_doc, words, chunk_tokens=60, overlap=0.15, keep_tables=True):
        assert chunk.text.endswith(text[chunk.char_start : chunk.char_end])


def test_pieces_of_a_table_keep_the_page_numbers_of_their_rows(long_table_doc):
    chunks = chunk_document(long_table_doc, words, chunk_tokens=60, overlap=0.15, keep_tables=True)
    assert all(c.page_start == c.page_end == 1 for c in chunks if "Sample" in c.text)
    assert chunks[-1].page_end == 2 and PROSE in chunks[-1].text


def test_a_table_read_from_a_pdf_keeps_its_rows_with_the_header(tmp_path):
    from ingest.pdf_reader import read_pdf
    from tests.fixtures.pdfs import make_table_pdf

    rows = [["Model", "Params", "Score", "Latency"]] + [[f"model-{i}", f"{i}.5B", f"{60 + i}.1", f"{i * 7} ms"] for i in range(12)]
    doc = read_pdf(make_table_pdf(tmp_path / "t.pdf", rows, intro=PROSE))
    chunks = chunk_document(doc, words, chunk_tokens=30, overlap=0.0, keep_tables=True)
    pieces = [c for c in chunks if "model-" in c.text]
    assert len(pieces) >= 2
    assert all("Model Params Score Latency" in c.text for c in pieces)


def test_a_caption_set_below_a_split_table_is_repeated_above_each_piece():
    rows = [f"Sample{i} Benign {i} {i + 1} {i + 2} {i * 3}" for i in range(40)]
    below = "Table 6: Statistics of the staining."
    doc = make_doc(["\n".join([PROSE, HEADER, *rows, below]) + "\n\n" + PROSE])
    pieces = [c for c in chunk_document(doc, words, chunk_tokens=60, overlap=0.0, keep_tables=True) if "Sample" in c.text]
    assert len(pieces) >= 4 and all(c.text.startswith(below) for c in pieces)
    assert all(HEADER in c.text for c in pieces)


def test_the_reading_report_counts_the_tables_of_a_pdf(tmp_path):
    from ingest.pdf_reader import read_pdf
    from tests.fixtures.pdfs import make_pdf, make_table_pdf

    rows = [["Model", "Params", "Score", "Latency"]] + [[f"model-{i}", f"{i}.5B", f"{60 + i}.1", f"{i * 7} ms"] for i in range(5)]
    assert read_pdf(make_table_pdf(tmp_path / "t.pdf", rows, intro=PROSE)).reading.tables == 1
    assert read_pdf(make_pdf(tmp_path / "p.pdf", [[PROSE, PROSE]])).reading.tables == 0
