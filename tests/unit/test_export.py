"""Exporting an answer with its evidence (app.export): what the Markdown and HTML files say, and that document
text, whatever it holds, is shown literally and never fetches anything.

A real Catalog over a real generated PDF (chunks written by hand, so no model loads) and real pdfium rendering.
"""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from app.export import ExportError, answer_html, export_answer, md_strong
from rag.answer.grounding import Grounding
from rag.answer.result import MODEL_REFUSED, QUOTED, Answer, AnswerKind, Citation
from rag.index.catalog import Catalog
from rag.types import Chunk
from tests.fixtures.pdfs import make_pdf

HOSTILE_TITLE = "*[x](http://evil)* <script>alert(1)</script>"
PAGE_1 = "The turbine room is on the ground floor. Visitors sign in at the front desk."
PAGE_2 = (
    "Careful: <img src=http://x> and <script>alert(1)</script> are printed here. "
    "The blades are made of carbon fibre and last twenty years."
)
SENTENCE = "The blades are made of carbon fibre and last twenty years."
STAMP = datetime(2025, 3, 14, 9, 26)


@pytest.fixture
def catalog(tmp_path: Path):
    """A catalog holding one ready two-page PDF (doc id ``turbine``) whose title is hostile."""
    pdf = make_pdf(tmp_path / "turbine.pdf", [PAGE_1, PAGE_2], title=HOSTILE_TITLE)
    chunks = [
        Chunk("turbine-0", "turbine", 0, PAGE_1, 1, 1, 0, len(PAGE_1)),
        Chunk("turbine-1", "turbine", 1, PAGE_2, 2, 2, len(PAGE_1) + 2, len(PAGE_1) + 2 + len(PAGE_2)),
    ]
    catalog = Catalog(tmp_path / "catalog.db")
    catalog.add_pending("turbine", str(pdf), "0" * 64, HOSTILE_TITLE, 2, chunks, "test")
    catalog.publish("turbine")
    yield catalog
    catalog.close()


def cited_answer(**changes: object) -> Answer:
    citation = Citation(1, "turbine", "", [2], SENTENCE, "turbine.pdf")
    fields: dict[str, object] = {
        "question": "What are the blades made of?",
        "answer": "The blades are made of carbon fibre [1].",
        "citations": [citation],
    }
    fields.update(changes)
    return Answer(**fields)  # type: ignore[arg-type]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Tags:
    parser = Tags()
    parser.feed(document)
    parser.close()
    return parser


def markdown_to_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the exported Markdown")
    return markdown_it.MarkdownIt("commonmark").render(text)


# --- file types -----------------------------------------------------------------------------------
def test_an_unknown_suffix_is_an_export_error_naming_the_accepted_ones(catalog, tmp_path):
    with pytest.raises(ExportError, match=r"\.md.*\.html"):
        export_answer(cited_answer(), catalog, tmp_path / "answer.txt")
    assert not (tmp_path / "answer.txt").exists()


def test_the_suffix_is_read_in_any_case(catalog, tmp_path):
    written = export_answer(cited_answer(), catalog, tmp_path / "ANSWER.HTML")
    assert written == [tmp_path / "ANSWER.HTML"]


def test_a_failed_write_raises_an_export_error_and_leaves_no_file_behind(catalog, tmp_path):
    target = tmp_path / "answer.md"
    target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(ExportError, match="cannot write"):
        export_answer(cited_answer(), catalog, target)
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".png"))]
    assert not left and not any(target.iterdir())


# --- Markdown -------------------------------------------------------------------------------------
def test_markdown_has_the_question_the_answer_and_a_section_per_citation(catalog, tmp_path):
    export_answer(cited_answer(), catalog, tmp_path / "answer.md", exported_at=STAMP)
    text = (tmp_path / "answer.md").read_text(encoding="utf-8")
    assert text.startswith("# What are the blades made of\\?\n")
    assert "The blades are made of carbon fibre \\[1\\]\\." in text
    assert re.search(r"^## \\\[1\\\] .+ — turbine\\\.pdf\\, p\\\. 2$", text, re.MULTILINE)
    assert "Exported on 2025\\-03\\-14 09\\:26 from groundrag — answers come only from your documents" in text


def test_markdown_quotes_the_passage_with_the_supporting_sentence_in_bold(catalog, tmp_path):
    export_answer(cited_answer(), catalog, tmp_path / "answer.md")
    rendered = markdown_to_html((tmp_path / "answer.md").read_text(encoding="utf-8"))
    quote = re.search(r"<blockquote>(.*?)</blockquote>", rendered, re.DOTALL)
    assert quote and "<strong>The blades are made of carbon fibre and last twenty years</strong>." in quote.group(1)


def test_hostile_document_text_renders_literally_from_markdown(catalog, tmp_path):
    export_answer(cited_answer(), catalog, tmp_path / "answer.md")
    text = (tmp_path / "answer.md").read_text(encoding="utf-8")
    rendered = parse(markdown_to_html(text))
    assert {tag for tag, _ in rendered.tags} <= {"h1", "h2", "p", "blockquote", "strong", "img", "hr"}
    assert [attrs["src"] for tag, attrs in rendered.tags if tag == "img"] == ["answer-1-p2.png"]
    shown = "".join(rendered.text)
    assert "*[x](http://evil)* <script>alert(1)</script>" in shown  # the title, as characters
    assert "<img src=http://x>" in shown  # the passage, as characters


def test_the_bold_sentence_opens_and_closes_next_to_cjk_punctuation():
    rendered = markdown_to_html("前文。" + md_strong("风机的叶片由碳纤维制成。") + "后文。")
    assert "<strong>风机的叶片由碳纤维制成</strong>。" in rendered


# --- HTML -----------------------------------------------------------------------------------------
def test_html_is_self_contained_with_no_script_and_no_url(catalog):
    document = answer_html(cited_answer(), catalog).decode("utf-8")
    tags = parse(document).tags
    assert "<script" not in document.lower()
    assert "http://" not in document and "https://" not in document and "://" not in document
    assert not {"script", "link", "iframe", "object", "embed", "base", "form"} & {tag for tag, _ in tags}
    assert "url(" not in document and "@import" not in document
    raw_sources = re.findall(r"""src\s*=\s*["']?([^"'\s>]*)""", document, re.IGNORECASE)
    assert raw_sources and all(s.startswith("data:image/png;base64,") for s in raw_sources)
    for tag, attrs in tags:
        for name, value in attrs.items():
            if name in {"src", "href", "srcset", "action", "poster", "data"}:
                assert value and value.startswith(("data:image/png;base64,", "#")), (tag, name)
            assert not name.startswith("on"), (tag, name)


def test_every_html_image_is_a_png_data_uri_that_decodes(catalog):
    document = answer_html(cited_answer(), catalog).decode("utf-8")
    sources = [attrs["src"] for tag, attrs in parse(document).tags if tag == "img"]
    assert sources
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1], validate=True)))
        image.verify()
        assert image.format == "PNG"


def test_hostile_document_text_is_escaped_in_html(catalog):
    document = answer_html(cited_answer(), catalog).decode("utf-8")
    parsed = parse(document)
    assert [tag for tag, _ in parsed.tags].count("img") == 2  # the close-up and the whole page: ours only
    assert "<img src=http://x>" in "".join(parsed.text)
    assert "*[x](http://evil)* <script>alert(1)</script>" in "".join(parsed.text)


def test_the_supporting_sentence_is_inside_mark(catalog):
    document = answer_html(cited_answer(), catalog).decode("utf-8")
    assert f"<mark>{SENTENCE}</mark>" in document


def test_the_answer_markers_link_to_their_sources(catalog):
    document = answer_html(cited_answer(), catalog).decode("utf-8")
    assert '<a href="#source-1">[1]</a>' in document and '<section id="source-1">' in document


def test_chinese_and_control_characters_are_kept_readable_and_safe(catalog):
    question = "叶片是用什么做的？\x00\x1b[31m\u202e"
    answer = cited_answer(question=question, citations=[Citation(1, "turbine", "风机手册 <b>", [2], SENTENCE)])
    document = answer_html(answer, catalog).decode("utf-8")
    text = "".join(parse(document).text)
    assert "叶片是用什么做的？[31m" in text and "风机手册 <b>" in text
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", document)


# --- kinds of answers -----------------------------------------------------------------------------
def test_a_refused_answer_exports_the_question_the_refusal_and_its_reason(catalog, tmp_path):
    refused = Answer("Who built the pyramids?", "I cannot find this in your documents.", AnswerKind.REFUSED, MODEL_REFUSED)
    written = export_answer(refused, catalog, tmp_path / "refused.md")
    text = (tmp_path / "refused.md").read_text(encoding="utf-8")
    assert written == [tmp_path / "refused.md"]
    assert "# Who built the pyramids\\?" in text and "I cannot find this in your documents\\." in text
    assert "**Why:** the model found no answer in the passages" in text and "## " not in text
    document = answer_html(refused, catalog).decode("utf-8")
    assert "I cannot find this in your documents." in document and "<section" not in document


def test_a_quoted_answer_says_so_and_flags_the_unsupported_sentences(catalog):
    quoted = cited_answer(
        answer=SENTENCE + " [1]",
        kind=AnswerKind.QUOTED,
        reason=QUOTED,
        grounding=Grounding(0.0, ["The blades are made of <b>wood</b>."]),
    )
    text = "".join(parse(answer_html(quoted, catalog).decode("utf-8")).text)
    assert "Quoted from your documents: " + QUOTED in text
    assert "not supported by the sources" in text and "The blades are made of <b>wood</b>." in text


def test_unsupported_sentences_of_an_answer_are_flagged(catalog, tmp_path):
    answer = cited_answer(grounding=Grounding(0.5, ["They are painted green."]))
    export_answer(answer, catalog, tmp_path / "answer.md")
    rendered = markdown_to_html((tmp_path / "answer.md").read_text(encoding="utf-8"))
    assert "<strong>Not supported by the sources:</strong>" in rendered
    assert "<li>They are painted green.</li>" in rendered


def test_a_citation_of_a_removed_document_exports_with_a_note(tmp_path):
    empty = Catalog(tmp_path / "empty.db")
    try:
        written = export_answer(cited_answer(), empty, tmp_path / "answer.md")
        document = answer_html(cited_answer(), empty).decode("utf-8")
    finally:
        empty.close()
    text = (tmp_path / "answer.md").read_text(encoding="utf-8")
    assert written == [tmp_path / "answer.md"]
    assert "**The blades are made of carbon fibre and last twenty years**" in text  # the snippet stands in
    assert "removed from the library" in text and "<img" not in document
    assert "removed from the library" in document


def test_a_page_that_cannot_be_rendered_exports_with_a_note(catalog, tmp_path):
    (tmp_path / "turbine.pdf").write_bytes(b"no longer a PDF")
    written = export_answer(cited_answer(), catalog, tmp_path / "answer.md")
    text = (tmp_path / "answer.md").read_text(encoding="utf-8")
    assert written == [tmp_path / "answer.md"]
    assert "Page image not included: cannot open turbine\\.pdf" in text


# --- evidence -------------------------------------------------------------------------------------
def test_the_web_chat_can_supply_its_own_rendering_and_page_search(catalog):
    """app.evidence calls the functions it is given (the web chat passes its cached ones)."""
    from app.evidence import citation_evidence
    from app.page_images import PageImage, page_contains, render_page

    calls: list[tuple[str, int]] = []

    def render(path: Path, page: int, *, highlight: str | None = None, ocr_lines=()) -> PageImage:
        calls.append(("render", page))
        return render_page(path, page, width_px=300, highlight=highlight, ocr_lines=ocr_lines)

    def contains(path: Path, page: int, text: str, *, ocr_lines=()) -> bool:
        calls.append(("contains", page))
        return page_contains(path, page, text, ocr_lines=ocr_lines)

    whole = PAGE_1 + "\n\n" + PAGE_2  # one chunk over both pages: the page holding the sentence is searched
    record = catalog.get("turbine")
    catalog.add_pending("whole", record.path, "1" * 64, "", 2, [Chunk("whole-0", "whole", 0, whole, 1, 2, 0, len(whole))], "t")
    catalog.publish("whole")

    evidence = citation_evidence(catalog, "The blades are made of carbon fibre [1].",
                                 Citation(1, "whole", "", [1, 2], SENTENCE), render=render, contains=contains)

    assert calls == [("contains", 1), ("contains", 2), ("render", 2)]
    assert evidence.page == 2 and evidence.image is not None
    assert Image.open(io.BytesIO(evidence.image.page)).width == pytest.approx(300, abs=2)
