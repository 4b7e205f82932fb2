"""Chunking: sentence-aware, token-budgeted chunks with page spans, exact offsets and stable ids."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.chunking import chunk_document, document_text, is_heading, split_sentences
from rag.types import Page, ParsedDocument, chunk_id_for

SHA = "ab" * 32


def words(texts: Sequence[str]) -> list[int]:
    """Token counter for tests: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def sentence(n: int, length: int = 8) -> str:
    """A sentence of ``length`` words, numbered so every sentence is different."""
    return f"Sentence{n} " + " ".join(f"word{n}x{i}" for i in range(length - 2)) + " end."


def make_doc(pages: Sequence[str], sha: str = SHA) -> ParsedDocument:
    return ParsedDocument(
        path=Path("doc.pdf"),
        sha256=sha,
        title="Doc",
        pages=tuple(Page(number=i + 1, text=text) for i, text in enumerate(pages)),
    )


def page_of_sentences(first: int, count: int, length: int = 8) -> str:
    return " ".join(sentence(n, length) for n in range(first, first + count))


def sentence_spans(doc: ParsedDocument) -> list[str]:
    text = document_text(doc)
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.fixture
def doc() -> ParsedDocument:
    return make_doc([page_of_sentences(0, 30), page_of_sentences(30, 30), page_of_sentences(60, 30)])


# ------------------------------------------------------------------------------------------ budget


def test_every_chunk_stays_within_the_token_budget(doc):
    chunks = chunk_document(doc, words, chunk_tokens=50, overlap=0.2)
    assert chunks and max(words([c.text for c in chunks])) <= 50


def test_tokens_a_tokenizer_adds_to_every_text_are_counted_once_per_chunk(doc):
    def with_special_tokens(texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]  # like [CLS] ... [SEP]

    chunks = chunk_document(doc, with_special_tokens, chunk_tokens=50, overlap=0.0)
    counts = with_special_tokens([c.text for c in chunks])
    assert max(counts) <= 50 and max(counts[:-1]) >= 46  # budget respected, and filled


def test_sentence_counts_are_asked_for_in_batches(doc):
    calls = []

    def counting(texts: Sequence[str]) -> list[int]:
        calls.append(len(texts))
        return words(texts)

    chunk_document(doc, counting, chunk_tokens=50)
    assert len(calls) <= 3 and max(calls) >= 90


# --------------------------------------------------------------------------------------- sentences


def test_sentences_that_fit_are_never_cut(doc):
    sentences = set(sentence_spans(doc))
    for chunk in chunk_document(doc, words, chunk_tokens=50, overlap=0.15):
        assert all(s in sentences for s in split_sentences_of(chunk.text))


def split_sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_a_sentence_longer_than_the_budget_is_cut_between_words():
    long = sentence(1, length=120)
    chunks = chunk_document(make_doc([long]), words, chunk_tokens=50, overlap=0.0)
    assert len(chunks) == 3
    assert max(words([c.text for c in chunks])) <= 50
    assert " ".join(c.text for c in chunks) == long  # cut at spaces, nothing lost


def test_a_word_longer_than_the_budget_is_cut_between_characters():
    def characters(texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    url = "https://example.org/" + "a" * 100
    chunks = chunk_document(make_doc([f"See {url} now."]), characters, chunk_tokens=40, overlap=0.0)
    assert max(characters([c.text for c in chunks])) <= 40
    assert "".join(c.text for c in chunks).replace(" ", "") == f"See{url}now."


def test_chinese_sentences_end_at_full_width_marks():
    text = "大型语言模型的参数量很大。它们需要大量数据！这样可靠吗？是的"
    assert split_sentences_of(text) == ["大型语言模型的参数量很大。", "它们需要大量数据！", "这样可靠吗？", "是的"]


def test_abbreviations_initials_and_decimals_do_not_end_sentences():
    text = (
        "Models, e.g. BERT, were compared by Devlin et al. in 2018. Fig. 3 shows a gain of 3.5 points. "
        "Albert Q. Jiang wrote it. Is it good? Yes!"
    )
    assert split_sentences_of(text) == [
        "Models, e.g. BERT, were compared by Devlin et al. in 2018.",
        "Fig. 3 shows a gain of 3.5 points.",
        "Albert Q. Jiang wrote it.",
        "Is it good?",
        "Yes!",
    ]


def test_paragraph_breaks_and_headings_separate_sentences():
    text = "A sentence without an end\n\nAnother one\n3.2 Scaled Dot-Product Attention\nWe call it"
    assert split_sentences_of(text) == [
        "A sentence without an end",
        "Another one",
        "3.2 Scaled Dot-Product Attention",
        "We call it",
    ]


# ----------------------------------------------------------------------------------------- overlap


def test_consecutive_chunks_repeat_whole_sentences_from_the_end_of_the_previous_one(doc):
    chunks = chunk_document(doc, words, chunk_tokens=64, overlap=0.15)
    for before, after in zip(chunks, chunks[1:]):
        shared = document_text(doc)[after.char_start : before.char_end]
        assert after.char_start < before.char_end  # they overlap
        assert before.text.endswith(shared) and after.text.startswith(shared)
        assert shared.startswith("Sentence") and shared.endswith("end.")  # whole sentences


def test_overlap_is_about_the_requested_share_of_the_budget(doc):
    chunks = chunk_document(doc, words, chunk_tokens=80, overlap=0.2)
    text = document_text(doc)
    shared = [words([text[b.char_start : a.char_end]])[0] for a, b in zip(chunks, chunks[1:])]
    assert all(8 <= n <= 32 for n in shared)  # sentences of 8 words, target 16 tokens


def test_zero_overlap_repeats_nothing(doc):
    chunks = chunk_document(doc, words, chunk_tokens=50, overlap=0.0)
    assert all(b.char_start > a.char_end for a, b in zip(chunks, chunks[1:]))


def test_all_the_text_is_covered(doc):
    chunks = chunk_document(doc, words, chunk_tokens=50, overlap=0.15)
    covered = " ".join(document_text(doc)[c.char_start : c.char_end] for c in chunks)
    assert set(re.findall(r"\S+", covered)) == set(re.findall(r"\S+", document_text(doc)))


# --------------------------------------------------------------------------- offsets, pages, ids


def test_document_text_joins_the_pages_with_a_blank_line():
    assert document_text(make_doc(["one.", "two."])) == "one.\n\ntwo."


def test_chunk_text_is_exactly_its_slice_of_the_document_text(doc):
    text = document_text(doc)
    for chunk in chunk_document(doc, words, chunk_tokens=50):
        assert text[chunk.char_start : chunk.char_end] == chunk.text


def test_a_chunk_across_a_page_break_carries_both_pages():
    doc = make_doc([page_of_sentences(0, 3), page_of_sentences(3, 3)])
    (chunk,) = chunk_document(doc, words, chunk_tokens=100)
    assert (chunk.page_start, chunk.page_end) == (1, 2) and chunk.pages == [1, 2]


def test_page_numbers_of_chunks_follow_the_pages_their_text_comes_from(doc):
    text = document_text(doc)
    page_two = text.index(doc.pages[1].text)
    for chunk in chunk_document(doc, words, chunk_tokens=50):
        assert (chunk.page_start == 1) == (chunk.char_start < page_two)


def test_empty_pages_are_skipped_and_do_not_shift_page_numbers():
    doc = make_doc(["", page_of_sentences(0, 2), ""])
    (chunk,) = chunk_document(doc, words)
    assert (chunk.page_start, chunk.page_end) == (2, 2)


def test_chunk_ids_come_from_the_document_hash_and_the_index(doc):
    chunks = chunk_document(doc, words, chunk_tokens=50)
    assert [c.chunk_id for c in chunks] == [chunk_id_for(doc.doc_id, i) for i in range(len(chunks))]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.doc_id == doc.doc_id for c in chunks)


def test_chunking_the_same_document_twice_gives_the_same_chunks(doc):
    assert chunk_document(doc, words, chunk_tokens=50) == chunk_document(doc, words, chunk_tokens=50)


def test_a_document_without_text_has_no_chunks():
    assert chunk_document(make_doc(["", "  "]), words) == []


# ---------------------------------------------------------------------------------------- sections


def test_chunks_carry_the_heading_of_their_section():
    doc = make_doc(
        [
            "Abstract\n" + page_of_sentences(0, 4),
            "3.2 Scaled Dot-Product Attention\n" + page_of_sentences(4, 4),
        ]
    )
    chunks = chunk_document(doc, words, chunk_tokens=40, overlap=0.0)
    sections = {c.section for c in chunks if "Sentence6 " in c.text}
    assert sections == {"3.2 Scaled Dot-Product Attention"}
    assert chunks[0].section == "Abstract"


def test_text_before_any_heading_has_no_section():
    (chunk,) = chunk_document(make_doc([page_of_sentences(0, 2)]), words)
    assert chunk.section is None


def test_a_heading_starts_a_new_chunk_when_the_current_one_is_half_full():
    doc = make_doc([page_of_sentences(0, 4) + "\n1 Introduction\n" + page_of_sentences(4, 2)])
    chunks = chunk_document(doc, words, chunk_tokens=60, overlap=0.15)
    assert chunks[1].text.startswith("1 Introduction")


@pytest.mark.parametrize(
    "line",
    ["3.2 Scaled Dot-Product Attention", "Abstract", "1 Introduction", "A.1 Training Details",
     "IV. Results", "References", "Appendix A", "4.2 SQuAD v1.1", "第三章 方法", "参考文献"],
)
def test_heading_lines_are_recognised(line):
    assert is_heading(line)


@pytest.mark.parametrize(
    "line",
    ["4 GPUs for 3 days and the big models were trained", "2018a; Radford et al., 2018; Howard and",
     "2.1 Tenets of Zero Trust ........ 6", "10 20 30", "8 The big models were trained on it.",
     "We call our particular attention Scaled", "3.1 Software Defined Perimeters. 12",
     "A. Vaswani, N. Shazeer, N. Parmar"],
)
def test_body_lines_are_not_headings(line):
    assert not is_heading(line)
