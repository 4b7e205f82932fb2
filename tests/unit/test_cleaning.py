"""Cleaning of raw pdfium page text: hyphens, ligatures, whitespace, running headers and footers."""

from __future__ import annotations

from ingest.cleaning import (
    build_vocabulary,
    clean_page,
    clean_pages,
    find_running_lines,
    join_cjk_lines,
    join_hyphenated,
    mark_paragraph_breaks,
    normalize_chars,
    normalize_whitespace,
)

BODY = [
    "Retrieval systems index documents so that questions find the passages that answer them.",
    "Each passage is embedded once and compared with the question at query time by a score.",
    "The best passages are handed to the model together with the question and instructions.",
]


TOPICS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def _body(n: int) -> list[str]:
    """Body lines that differ from page to page (pages that are all alike are not a document)."""
    topic = TOPICS[n % 10]
    return [
        f"This page discusses the {topic} method in some detail.",
        f"The {topic} method was designed for questions about long reports.",
        *BODY,
        f"In short, the {topic} method answers most questions correctly.",
    ]


def _page(header: str, body: list[str], footer: str) -> str:
    return "\r\n".join([header, *body, footer])


# --------------------------------------------------------------------------------------- hyphens


def test_pdfium_soft_hyphen_marker_joins_the_broken_word():
    assert join_hyphenated("learns a compact repre\ufffesentation of text") == (
        "learns a compact representation of text"
    )


def test_soft_hyphen_before_a_line_break_joins_the_word_and_moves_the_break_after_it():
    assert join_hyphenated("a compact repre\ufffe\nsentation of text") == "a compact representation\nof text"


def test_unicode_soft_hyphen_joins_the_broken_word():
    assert join_hyphenated("the repre\u00ad\nsentation") == "the representation\n"


def test_plain_hyphen_at_a_line_end_between_lower_case_letters_joins_a_word_the_document_uses():
    vocab = build_vocabulary(["All information is kept."])
    assert join_hyphenated("the in-\nformation flows", vocab) == "the information\nflows"


def test_hyphen_is_kept_where_the_document_spells_the_word_with_one():
    vocab = build_vocabulary(["We use fine-tuning here, and fine-tuning there."])
    assert join_hyphenated("during fine\ufffetuning we", vocab) == "during fine-\ntuning we"


def test_hyphen_is_kept_between_two_words_the_document_uses_on_their_own():
    vocab = build_vocabulary(["Each task has a specific goal."])
    assert join_hyphenated("a task\ufffespecific model", vocab) == "a task-\nspecific model"


def test_hyphen_is_kept_inside_a_hyphenated_compound():
    assert join_hyphenated("a left-to\uffferight model") == "a left-to-\nright model"


def test_plain_hyphen_before_a_capital_is_left_alone():
    assert join_hyphenated("the GPT-\nNeo model") == "the GPT-\nNeo model"


def test_soft_hyphen_marker_next_to_a_digit_stands_for_a_printed_hyphen():
    assert join_hyphenated("models like GPT\ufffe3 and") == "models like GPT-3 and"


def test_fragments_of_broken_words_do_not_count_as_words_of_the_document():
    vocab = build_vocabulary(["the repre\ufffesentation is good"])
    assert vocab["repre"] == 0 and vocab["sentation"] == 0 and vocab["good"] == 1


# ------------------------------------------------------------------------------------ characters


def test_ligatures_are_spelled_out():
    assert normalize_chars("e\ufb03cient \ufb01ne \ufb02ow o\ufb00er ba\ufb04e") == "efficient fine flow offer baffle"


def test_full_width_chinese_punctuation_is_not_folded_to_ascii():
    assert normalize_chars("参数量，很大！真的吗？") == "参数量，很大！真的吗？"


def test_odd_spaces_become_spaces_and_zero_width_characters_disappear():
    assert normalize_chars("a\u00a0b\u2009c\u200bd\ufeffe") == "a b cde"


def test_pdfium_line_ends_become_newlines():
    assert normalize_chars("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_decomposed_accents_are_composed():
    assert normalize_chars("Rozie\u0300re") == "Rozière"


# ------------------------------------------------------------------------------------ whitespace


def test_runs_of_spaces_collapse_and_lines_are_stripped():
    assert normalize_whitespace("  a   lot \t of   space  \n  next ") == "a lot of space\nnext"


def test_several_blank_lines_become_one_paragraph_break():
    assert normalize_whitespace("first\n\n\n \n\nsecond\n\n") == "first\n\nsecond"


def test_a_short_line_that_ends_a_sentence_ends_a_paragraph():
    text = "\n".join(BODY + ["That is all.", *BODY])
    marked = mark_paragraph_breaks(text)
    assert "That is all.\n\nRetrieval systems" in marked


def test_full_length_lines_stay_in_one_paragraph_even_when_a_sentence_ends_there():
    text = "\n".join(BODY * 2)
    assert mark_paragraph_breaks(text) == text


def test_chinese_lines_are_joined_without_a_space():
    assert join_cjk_lines("大型语言\n模型的参数量很大。\n它们需要") == "大型语言模型的参数量很大。\n它们需要"


def test_clean_page_reads_a_raw_pdfium_page():
    raw = "The \ufb01rst  repre\ufffesentation\r\nof text.  "
    assert clean_page(raw) == "The first representation\nof text."


# ---------------------------------------------------------------------------- headers and footers


def test_running_header_and_footer_with_page_numbers_are_dropped():
    raw = [_page("ACME Annual Report 2024", _body(n), f"Page {n} of 4") for n in range(1, 5)]
    cleaned = clean_pages(raw)
    assert all("ACME Annual Report" not in page and "Page" not in page for page in cleaned)
    assert all(BODY[0] in page and "discusses the" in page for page in cleaned)


def test_bare_page_numbers_are_dropped_arabic_and_roman():
    raw = [_page("", _body(n), number) for n, number in enumerate(["i", "ii", "iii", "1", "2", "3"])]
    cleaned = clean_pages(raw)
    assert all(page.split("\n")[-1].startswith("In short,") for page in cleaned)


def test_a_line_repeated_on_only_a_few_pages_of_many_is_kept():
    raw = [_page(f"The {TOPICS[n]} section", _body(n), "") for n in range(10)]
    raw[0] = _page("Table 3: Results", _body(0), "")
    raw[1] = _page("Table 3: Results", _body(1), "")
    assert "Table 3: Results" in clean_pages(raw)[0]


def test_documents_of_fewer_than_three_pages_keep_their_repeated_lines():
    raw = [_page("ACME Annual Report 2024", _body(n), f"Page {n}") for n in (1, 2)]
    assert all(page.startswith("ACME Annual Report 2024") for page in clean_pages(raw))


def test_a_repeated_line_in_the_middle_of_pages_is_kept():
    raw = [_page("Report", [*_body(n), "Confidential", *_body(n + 1)], "Page {n}") for n in range(5)]
    assert all("Confidential" in page for page in clean_pages(raw))


def test_running_lines_are_found_by_shape_with_digits_ignored():
    pages = [f"Report 2024 page {n}\n" + "\n".join(_body(n)) for n in range(1, 6)]
    assert "report # page #" in find_running_lines(pages)


def test_pages_made_only_of_look_alike_lines_are_kept():
    raw = [f"Slide {n}" for n in range(1, 6)]
    assert clean_pages(raw) == raw
