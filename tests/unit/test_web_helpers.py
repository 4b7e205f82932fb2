"""The web chat's pure rules: upload names, size limit, escaping, the supporting sentence, labels, page images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.web.helpers import (
    best_supporting_span,
    claim_for_citation,
    describe_backends,
    describe_result,
    escape_markdown,
    escape_stream,
    format_pages,
    highlighted_markdown,
    is_inside,
    safe_upload_name,
    sentence_spans,
    tidy_passage,
    unsupported_note,
    upload_destination,
    upload_limit_mb,
    upload_size_error,
)
from ingest.pipeline import FileResult
from rag.answer.grounding import Grounding
from rag.answer.result import QUOTED, Answer, AnswerKind
from rag.settings import Settings

# --- upload names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        "../../etc/passwd.pdf",
        "..\\..\\windows\\system32\\evil.pdf",
        "/absolute/path/report.pdf",
        "..",
        ".",
        "",
        "....pdf",
        "a/../../b.pdf",
        "name\x00with-nul.pdf",
        "C:\\Users\\me\\report.pdf",
    ],
)
def test_uploads_cannot_leave_the_uploads_folder(tmp_path: Path, sent: str) -> None:
    uploads = tmp_path / "home" / "uploads"
    target = upload_destination(uploads, sent)
    assert target.parent == uploads.resolve()
    assert target.name.endswith(".pdf")
    assert not target.name.startswith(".")


def test_upload_name_keeps_a_readable_name() -> None:
    assert safe_upload_name("Annual Report (2024).pdf") == "Annual Report (2024).pdf"
    assert safe_upload_name("résumé.PDF") == "résumé.pdf"


def test_upload_name_replaces_odd_characters_and_adds_the_pdf_suffix() -> None:
    assert safe_upload_name("a<b>|c?.pdf") == "a_b_c.pdf"
    assert safe_upload_name("notes") == "notes.pdf"


def test_upload_name_of_a_hidden_file_is_not_hidden() -> None:
    assert safe_upload_name(".bashrc.pdf") == "bashrc.pdf"


def test_upload_name_avoids_windows_device_names() -> None:
    assert safe_upload_name("CON.pdf").lower() != "con.pdf"


def test_upload_name_is_shortened() -> None:
    assert len(safe_upload_name("x" * 500 + ".pdf")) <= 120


def test_upload_within_the_limit_is_accepted() -> None:
    assert upload_size_error("a.pdf", 5 * 1024 * 1024, max_mb=5) is None


def test_upload_over_the_limit_says_how_big_and_which_setting() -> None:
    message = upload_size_error("big.pdf", 12 * 1024 * 1024, max_mb=10)
    assert message is not None
    assert "big.pdf" in message and "12.0 MB" in message and "limit is 10 MB" in message
    assert "RAG_MAX_UPLOAD_MB" in message


def test_browser_upload_limit_is_a_whole_number_of_megabytes() -> None:
    assert upload_limit_mb(0.5) == 1
    assert upload_limit_mb(100) == 100
    assert upload_limit_mb(2.2) == 3


def test_is_inside_tells_inside_from_outside(tmp_path: Path) -> None:
    assert is_inside(tmp_path / "uploads" / "a.pdf", tmp_path / "uploads")
    assert not is_inside(tmp_path / "other" / "a.pdf", tmp_path / "uploads")
    assert not is_inside(tmp_path / "uploads" / ".." / "a.pdf", tmp_path / "uploads")


# --- escaping -------------------------------------------------------------------------------------


def _unescape(markdown: str) -> str:
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown):
            out.append(markdown[i + 1])
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "![tracker](http://evil.example/x.png)",
        "[click](javascript:alert(1))",
        "**bold** _em_ `code` ~~strike~~",
        ":red[coloured] :material/home:",
        "$x^2$ and $$y$$",
        "# heading\n- item\n1. item",
        "&lt;tag&gt; &#60;",
        "| a | b |\n|---|---|",
    ],
)
def test_escaped_text_has_no_unescaped_markup(text: str) -> None:
    escaped = escape_markdown(text)
    specials = set("<>[]()!*_`~:$#|&-")
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            i += 2
            continue
        assert escaped[i] not in specials, (text, escaped)
        i += 1


def test_escaping_keeps_every_character_of_the_text() -> None:
    text = "Llama 2 (70B) scores 68.9% on MMLU [1]; see <table> & 'notes' — 中文。"
    assert _unescape(escape_markdown(text)) == text


def test_streamed_pieces_escape_like_the_whole_text() -> None:
    pieces = ["The **", "answer", "** is <b", ">here</b> [", "1]", ""]
    assert "".join(escape_stream(pieces)) == escape_markdown("".join(pieces))


def test_passage_lines_are_joined_and_paragraphs_kept() -> None:
    assert tidy_passage("one line\nnext  line\n\nnew paragraph\n") == "one line next line\n\nnew paragraph"


# --- the supporting sentence ----------------------------------------------------------------------


def test_sentences_split_at_full_stops_but_not_inside_numbers_or_abbreviations() -> None:
    text = "Llama 2 has 70B parameters. It scores 68.9 on MMLU, e.g. better than before! Is it open? Yes."
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences == [
        "Llama 2 has 70B parameters.",
        "It scores 68.9 on MMLU, e.g. better than before!",
        "Is it open?",
        "Yes.",
    ]


def test_chinese_sentences_split_at_chinese_full_stops() -> None:
    text = "模型很大。它很好！真的吗？"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["模型很大。", "它很好！", "真的吗？"]


def test_the_sentence_sharing_most_words_with_the_claim_is_chosen() -> None:
    passage = (
        "We release our models to the public. The context length of Llama 2 is 4096 tokens. "
        "Training used 2 trillion tokens."
    )
    span = best_supporting_span(passage, "Llama 2 has a context length of 4096 tokens.")
    assert span is not None
    assert passage[span[0] : span[1]] == "The context length of Llama 2 is 4096 tokens."


def test_no_sentence_is_chosen_when_nothing_is_shared() -> None:
    assert best_supporting_span("Bananas are yellow. Apples are red.", "quantum chromodynamics") is None


def test_claim_for_a_citation_is_the_sentences_that_cite_it() -> None:
    answer = "The context is 4096 tokens [1]. It was trained on 2T tokens [2]. Both are open [1][2]."
    assert claim_for_citation(answer, 2) == "It was trained on 2T tokens. Both are open."


def test_a_marker_after_the_full_stop_cites_the_sentence_before_it() -> None:
    answer = "The context is 4096 tokens. [1] It was trained on 2T tokens. [2]"
    assert claim_for_citation(answer, 1) == "The context is 4096 tokens."
    assert claim_for_citation(answer, 2) == "It was trained on 2T tokens."


def test_claim_is_the_whole_answer_when_no_sentence_cites_the_passage() -> None:
    assert claim_for_citation("The context is 4096 tokens.", 3) == "The context is 4096 tokens."


def test_highlight_wraps_only_the_sentence_and_escapes_everything() -> None:
    passage = "Intro <b>text</b>. The key fact is [here]. Outro."
    start = passage.index("The key")
    end = passage.index("Outro") - 1
    markdown = highlighted_markdown(passage, (start, end))
    assert markdown.count(":yellow-background[") == 1
    assert "<b>" not in markdown and "[here]" not in markdown
    highlighted = markdown.split(":yellow-background[**", 1)[1].split("**]", 1)[0]
    assert _unescape(highlighted) == "The key fact is [here]."


def test_without_a_sentence_the_passage_is_only_escaped() -> None:
    assert highlighted_markdown("a <b> c", None) == escape_markdown("a <b> c")


# --- labels ---------------------------------------------------------------------------------------


def test_pages_read_naturally() -> None:
    assert format_pages([3]) == "p. 3"
    assert format_pages([5, 3, 4]) == "pp. 3–5"
    assert format_pages([2, 7]) == "pp. 2, 7"
    assert format_pages([]) == ""


def test_a_failed_file_shows_its_reason_as_an_error() -> None:
    reason = "no extractable text (a scanned PDF?); OCR is off: set RAG_OCR=auto to read scanned pages"
    line = describe_result(FileResult("/x/scan.pdf", "failed", reason=reason))
    assert line.level == "error"
    assert line.text == f"scan.pdf: {reason}"


def test_an_added_file_read_by_ocr_says_how_many_pages() -> None:
    from rag.types import ReadingReport

    reading = ReadingReport(pages=12, text_layer_pages=9, ocr_pages=3, scripts={"latin": 1.0})
    line = describe_result(FileResult("/x/scan.pdf", "added", "d1", "A", pages=12, chunks=30, reading=reading))
    assert line.text == "scan.pdf: added, 12 pages, 30 chunks (3 of 12 pages OCR'd)"


def test_an_added_file_with_tables_says_how_many() -> None:
    from rag.types import ReadingReport

    reading = ReadingReport(pages=8, text_layer_pages=8, tables=3, scripts={"latin": 1.0})
    line = describe_result(FileResult("/x/report.pdf", "added", "d1", "A", pages=8, chunks=20, reading=reading))
    assert line.text == "report.pdf: added, 8 pages, 3 tables, 20 chunks"


def test_a_library_entry_names_its_tables_when_it_has_some() -> None:
    from app.web.helpers import tables_note
    from rag.types import ReadingReport

    assert tables_note(ReadingReport(pages=3, tables=1)) == "1 table · "
    assert tables_note(ReadingReport(pages=3)) == "" and tables_note(None) == ""


def test_an_added_file_shows_pages_and_chunks() -> None:
    line = describe_result(FileResult("/x/a.pdf", "added", "d1", "A", pages=1, chunks=3))
    assert (line.level, line.text) == ("success", "a.pdf: added, 1 page, 3 chunks")


def test_an_unchanged_file_is_information_not_an_error() -> None:
    assert describe_result(FileResult("/x/a.pdf", "unchanged", "d1")).level == "info"


def test_backends_name_the_default_model_and_embedded_stores(tmp_path: Path) -> None:
    rows = dict(describe_backends(Settings(home=tmp_path)))
    assert "SmolLM2" in rows["Chat model"]
    assert rows["Keyword index"].startswith("SQLite FTS5")
    assert rows["Vectors"].startswith("Chroma embedded")


def test_backends_name_the_servers_when_configured(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, keyword_backend="elasticsearch", chroma_url="http://chroma:8000", llm_backend="openai", llm_model="llama-2-7b-chat"
    )
    rows = dict(describe_backends(settings))
    assert "Elasticsearch" in rows["Keyword index"]
    assert "http://chroma:8000" in rows["Vectors"]
    assert "llama-2-7b-chat" in rows["Chat model"]


# --- page images ----------------------------------------------------------------------------------


@pytest.fixture
def two_page_pdf(tmp_path: Path) -> Path:
    from tests.fixtures.pdfs import make_pdf

    return make_pdf(
        tmp_path / "two.pdf",
        [
            "The first page talks about apples and orchards in the north.",
            "The second page explains that the context window holds 4096 tokens in total. Other text follows here.",
        ],
    )


def _image(png: bytes):  # noqa: ANN202
    from PIL import Image

    return Image.open(io.BytesIO(png))


def test_a_page_renders_as_a_png_of_the_asked_width(two_page_pdf: Path) -> None:
    from app.page_images import render_page_png

    png = render_page_png(two_page_pdf, 2, width_px=400)
    image = _image(png)
    assert image.format == "PNG"
    assert image.width == pytest.approx(400, abs=2)
    assert image.height > image.width  # A4 portrait


def test_the_cited_sentence_is_marked_on_the_page(two_page_pdf: Path) -> None:
    from app.page_images import render_page_png

    plain = _image(render_page_png(two_page_pdf, 2, width_px=400)).convert("RGB")
    marked = _image(
        render_page_png(two_page_pdf, 2, width_px=400, highlight="the context window holds 4096 tokens in total.")
    ).convert("RGB")
    changed = [
        (a, b) for a, b in zip(plain.getdata(), marked.getdata()) if a != b
    ]
    assert changed, "the highlight changed no pixel"
    yellowish = [px for _, px in changed if px[0] > px[2] + 40 and px[1] > px[2] + 20]
    assert len(yellowish) > len(changed) / 2


def test_text_not_on_the_page_marks_nothing(two_page_pdf: Path) -> None:
    from app.page_images import page_contains, render_page_png

    assert not page_contains(two_page_pdf, 1, "the context window holds 4096 tokens")
    assert page_contains(two_page_pdf, 2, "the context window holds 4096 tokens")
    assert render_page_png(two_page_pdf, 1, width_px=300, highlight="zebra crossing quantum") == render_page_png(
        two_page_pdf, 1, width_px=300
    )


def test_a_missing_page_is_a_clear_error(two_page_pdf: Path) -> None:
    from app.page_images import render_page_png
    from rag.errors import DocumentError

    with pytest.raises(DocumentError, match="has no page 9"):
        render_page_png(two_page_pdf, 9)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    from app.page_images import render_page_png
    from rag.errors import DocumentError

    with pytest.raises(DocumentError, match="no longer on disk"):
        render_page_png(tmp_path / "gone.pdf", 1)


# --- the passage shown under a source -------------------------------------------------------------


def _chunk(index: int, text: str, page_start: int, page_end: int):  # noqa: ANN202
    from rag.types import Chunk

    return Chunk(f"d-{index:05d}", "d", index, text, page_start, page_end, 0, len(text))


def test_a_snippet_is_found_across_line_breaks() -> None:
    from app.web.helpers import locate_snippet

    passage = "First sentence here. The mirror has a\ndiameter of 14 metres. Last one."
    span = locate_snippet(passage, "The mirror has a diameter of 14 metres.")
    assert span is not None and passage[span[0] : span[1]] == "The mirror has a\ndiameter of 14 metres."


def test_a_cut_snippet_is_found_by_what_it_keeps() -> None:
    from app.web.helpers import locate_snippet

    passage = "The mirror of the telescope has a diameter of 14 metres and weighs a lot."
    span = locate_snippet(passage, "The mirror of the telescope has a diameter\u2026")
    assert span == (0, len("The mirror of the telescope has a diameter"))


def test_the_shown_passage_is_the_chunk_on_the_cited_page_holding_the_snippet() -> None:
    from app.web.helpers import shown_passage

    chunks = [
        _chunk(0, "Intro text. The mirror is 14 metres wide.", 1, 1),  # same sentence, wrong page
        _chunk(1, "Other text. The mirror is 14 metres wide. More text.", 2, 3),
    ]
    shown = shown_passage(chunks, [3], "The mirror is 14 metres wide.")
    assert shown.text.startswith("Other text.")
    assert shown.sentence == "The mirror is 14 metres wide."
    assert shown.pages == [3]


def test_without_the_snippet_the_best_matching_sentence_is_highlighted() -> None:
    from app.web.helpers import shown_passage

    chunks = [_chunk(0, "Bakeries open early. The primary mirror measures fourteen metres across.", 1, 1)]
    shown = shown_passage(chunks, [1], "", claim="How wide is the primary mirror?")
    assert shown.sentence == "The primary mirror measures fourteen metres across."


def test_without_chunks_the_snippet_alone_is_shown() -> None:
    from app.web.helpers import shown_passage

    shown = shown_passage([], [4], "The mirror is 14 metres wide.")
    assert shown.text == shown.sentence == "The mirror is 14 metres wide."
    assert shown.pages == [4]


def test_timings_read_as_seconds() -> None:
    from app.web.helpers import describe_timings

    assert describe_timings({"total": 2.44, "first_token": 0.81}) == "Answered in 2.4 s (first words after 0.8 s)"
    assert describe_timings({"total": 0.02, "first_token": 0.02}) == "Answered in 0.0 s"
    assert describe_timings({}) == ""


# --- session workspaces ---------------------------------------------------------------------------


@pytest.fixture
def shared_workspace(tmp_path: Path):
    from app.workspace import Workspace

    workspace = Workspace(Settings(home=tmp_path / "home"), embedder=object(), engine=object())  # type: ignore[arg-type]
    yield workspace
    workspace.close()


def test_a_session_workspace_shares_the_models_and_stores(shared_workspace) -> None:
    session = shared_workspace.with_settings(top_k=3, temperature=0.7)
    assert session is not shared_workspace
    assert session.parts is shared_workspace.parts
    assert session.embedder is shared_workspace.embedder
    assert session.engine is shared_workspace.engine
    assert session.catalog is shared_workspace.catalog
    assert (session.settings.top_k, session.settings.temperature) == (3, 0.7)
    assert shared_workspace.settings.top_k == 6


def test_a_session_without_changes_uses_the_shared_workspace(shared_workspace) -> None:
    assert shared_workspace.with_settings(top_k=shared_workspace.settings.top_k) is shared_workspace


def test_a_session_cannot_change_how_shared_parts_are_built(shared_workspace) -> None:
    with pytest.raises(ValueError, match="embedding_model"):
        shared_workspace.with_settings(embedding_model="other")


def test_closing_a_session_workspace_leaves_the_shared_stores_open(shared_workspace) -> None:
    catalog = shared_workspace.catalog
    shared_workspace.with_settings(top_k=3).close()
    assert shared_workspace.catalog is catalog
    assert catalog.documents() == []


def test_a_found_sentence_also_gets_a_close_up_of_its_lines(two_page_pdf: Path) -> None:
    from app.page_images import render_page

    rendered = render_page(two_page_pdf, 2, width_px=400, highlight="the context window holds 4096 tokens in total.")
    assert rendered.focus is not None
    page, focus = _image(rendered.page), _image(rendered.focus)
    assert focus.width <= page.width
    assert focus.height < page.height / 2


def test_a_sentence_not_found_gets_no_close_up(two_page_pdf: Path) -> None:
    from app.page_images import render_page

    assert render_page(two_page_pdf, 1, width_px=300, highlight="zebra crossing quantum").focus is None


def test_the_close_up_keeps_whole_lines_of_the_marked_column_only() -> None:
    from app.page_images import close_up_box

    # a two-column page 600 x 800: left column x 50..290, right column x 310..550; lines 12 units tall
    lines = [(50, 700 - 14 * i, 290, 712 - 14 * i) for i in range(10)] + [(310, 700 - 14 * i, 550, 712 - 14 * i) for i in range(10)]
    marked = [(120, 644, 200, 656)]  # part of the fifth line of the left column
    left, top, right, bottom = close_up_box(marked, lines, 600, 800, context=0.05)
    assert left <= 50 and 290 <= right < 310  # the whole left column, none of the right one
    assert top < 800 - 656 and bottom > 800 - 644  # the marked line with context above and below


# --- uploads on disk ------------------------------------------------------------------------------


def test_an_upload_is_saved_under_its_safe_name(tmp_path: Path) -> None:
    from app.web.uploads import save_upload

    saved = save_upload(tmp_path / "uploads", "../../evil.pdf", b"%PDF-new")
    assert saved.path == (tmp_path / "uploads" / "evil.pdf").resolve()
    assert saved.path.read_bytes() == b"%PDF-new"
    assert saved.previous is None
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["evil.pdf"]  # no temporary file left


def test_a_failed_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    from app.web.uploads import save_upload, settle

    saved = save_upload(tmp_path, "broken.pdf", b"not a pdf")
    settle(saved, "failed")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_new_version_puts_the_earlier_file_back(tmp_path: Path) -> None:
    from app.web.uploads import save_upload, settle

    settle(save_upload(tmp_path, "report.pdf", b"%PDF-v1"), "added")
    newer = save_upload(tmp_path, "report.pdf", b"%PDF-v2 broken")
    assert newer.previous is not None
    settle(newer, "failed")
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF-v1"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_an_ingested_new_version_replaces_the_earlier_file(tmp_path: Path) -> None:
    from app.web.uploads import save_upload, settle

    settle(save_upload(tmp_path, "report.pdf", b"%PDF-v1"), "added")
    settle(save_upload(tmp_path, "report.pdf", b"%PDF-v2"), "replaced")
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF-v2"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_a_duplicate_of_another_document_is_not_kept(tmp_path: Path) -> None:
    from app.web.uploads import save_upload, settle

    saved = save_upload(tmp_path, "copy.pdf", b"%PDF-same")
    settle(saved, "duplicate")
    assert not saved.path.exists()


# --- the note under an answer ---------------------------------------------------------------------
def test_unsupported_sentences_are_listed_under_an_answer():
    answer = Answer("q", "The heads were designed by a chef [1].",
                    grounding=Grounding(0.5, ["The heads were designed by a chef."]))
    assert unsupported_note(answer) == "Not supported by the sources: \u201cThe heads were designed by a chef.\u201d"


def test_for_a_quoted_answer_the_note_says_the_models_answer_is_not_shown():
    answer = Answer("q", "The passage closest to your question says: \u201c...\u201d [1]", AnswerKind.QUOTED, reason=QUOTED,
                    grounding=Grounding(0.0, ["It has 12 heads.", "A chef made them."]))
    assert unsupported_note(answer) == (
        "The model's answer, not supported by the sources, is not shown: "
        "\u201cIt has 12 heads.\u201d \u00b7 \u201cA chef made them.\u201d"
    )


def test_a_fully_supported_answer_has_no_note():
    assert unsupported_note(Answer("q", "Eight heads [1].", grounding=Grounding(1.0, []))) == ""
