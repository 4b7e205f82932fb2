"""Exporting an answer over a really ingested PDF: the files exist, the page images decode, the HTML fetches
nothing, and an answer whose PDF is gone still exports.

The answer is built directly (no language model): its citation points at the ingested document's id, pages
and sentence, as the answer pipeline's would.
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from app.evidence import citation_evidence
from app.export import answer_html, export_answer
from rag.answer.result import Answer, Citation
from tests.fixtures.pdfs import cjk_font, make_chinese_pdf, make_pdf

PAGE_1 = (
    "The turbine hall is on the ground floor of the plant. Visitors sign in at the front desk and wear a helmet. "
    "Guided tours start every hour."
)
PAGE_2 = (
    "Some manuals print markup such as <script>alert(1)</script> or <img src=http://x> in their text. "
    "The blades are made of carbon fibre and last twenty years. Each blade weighs eleven tonnes."
)
SENTENCE = "The blades are made of carbon fibre and last twenty years."


@pytest.fixture
def library(make_workspace, tmp_path: Path):
    """(workspace, doc id, PDF path) with a two-page manual ingested; its title is hostile markup."""
    (tmp_path / "pdfs").mkdir()
    pdf = make_pdf(tmp_path / "pdfs" / "turbine manual.pdf", [PAGE_1, PAGE_2], title="<script>alert(1)</script>")
    workspace = make_workspace()
    report = workspace.ingest([pdf])
    assert report.ok, [r.reason for r in report.results]
    return workspace, report.results[0].doc_id, pdf


def answer_citing(doc_id: str, pages: list[int], snippet: str = SENTENCE) -> Answer:
    return Answer(
        question="What are the blades made of?",
        answer="The blades are made of carbon fibre [1].",
        citations=[Citation(1, doc_id, "", pages, snippet, "turbine manual.pdf")],
    )


def image_sources(document: str) -> list[str]:
    class Images(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.sources: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "img":
                self.sources.append(dict(attrs).get("src") or "")

    parser = Images()
    parser.feed(document)
    return parser.sources


def test_markdown_export_writes_the_file_and_page_images_it_references(library, tmp_path):
    workspace, doc_id, _ = library
    target = tmp_path / "out" / "answer.md"

    written = export_answer(answer_citing(doc_id, [1, 2]), workspace.catalog, target)

    assert written[0] == target and all(p.is_file() for p in written)
    images = written[1:]
    assert [p.name for p in images] == ["answer-1-p2.png"]  # the cited page that holds the sentence
    for image in images:
        assert image.parent == target.parent
        with Image.open(image) as picture:
            picture.verify()
            assert picture.format == "PNG"
    text = target.read_text(encoding="utf-8")
    referenced = [unquote(link) for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)]
    assert referenced == [p.name for p in images]


def test_html_export_is_one_self_contained_file(library, tmp_path):
    workspace, doc_id, _ = library
    target = tmp_path / "answer.html"

    written = export_answer(answer_citing(doc_id, [2]), workspace.catalog, target)

    assert written == [target] and sorted(p.name for p in tmp_path.glob("answer*")) == ["answer.html"]
    document = target.read_text(encoding="utf-8")
    assert "<script" not in document.lower()
    assert "http://" not in document and "https://" not in document
    sources = image_sources(document)
    assert sources
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()
    assert f"<mark>{SENTENCE}</mark>" in document
    assert "&lt;img src&#61;http&#58;//x&gt;" in document  # the passage's markup, as text


def test_the_web_download_is_the_same_html(library, tmp_path):
    workspace, doc_id, _ = library
    answer = answer_citing(doc_id, [2])
    export_answer(answer, workspace.catalog, tmp_path / "answer.html")
    downloaded = answer_html(answer, workspace.catalog).decode("utf-8")
    on_disk = (tmp_path / "answer.html").read_text(encoding="utf-8")
    assert re.sub(r"Exported on [^<]*", "", downloaded) == re.sub(r"Exported on [^<]*", "", on_disk)


def test_the_page_shown_is_the_cited_page_holding_the_sentence(library):
    workspace, doc_id, _ = library
    evidence = citation_evidence(workspace.catalog, "The blades are made of carbon fibre [1].",
                                 Citation(1, doc_id, "", [1, 2], SENTENCE))
    assert evidence.page == 2 and evidence.sentence == SENTENCE
    assert evidence.image is not None and evidence.image.focus is not None and not evidence.note


def test_a_citation_whose_pdf_was_deleted_still_exports_with_a_note(library, tmp_path):
    workspace, doc_id, pdf = library
    pdf.unlink()

    written = export_answer(answer_citing(doc_id, [2]), workspace.catalog, tmp_path / "answer.md")
    document = answer_html(answer_citing(doc_id, [2]), workspace.catalog).decode("utf-8")

    text = (tmp_path / "answer.md").read_text(encoding="utf-8")
    assert written == [tmp_path / "answer.md"]
    assert "turbine manual\\.pdf is no longer on disk" in text
    assert "**The blades are made of carbon fibre and last twenty years**" in text  # the passage is in the catalog
    assert "no longer on disk" in document and not image_sources(document)


def test_a_chinese_passage_is_marked_and_shown(make_workspace, tmp_path):
    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font (Debian package fonts-droid-fallback)")
    sentence = "风机的叶片由碳纤维制成，可以使用二十年。"
    pdf = make_chinese_pdf(tmp_path / "风机.pdf", ["风机房位于一楼。" + sentence + "每片叶片重十一吨。"], font=font)
    workspace = make_workspace()
    report = workspace.ingest([pdf])
    assert report.ok, [r.reason for r in report.results]
    answer = Answer("叶片是用什么做的？", "叶片由碳纤维制成[1]。",
                    citations=[Citation(1, report.results[0].doc_id, "", [1], sentence)], language="zh")

    written = export_answer(answer, workspace.catalog, tmp_path / "回答.html")

    document = written[0].read_text(encoding="utf-8")
    assert f"<mark>{sentence}</mark>" in document and '<html lang="zh">' in document
    assert image_sources(document) and all(s.startswith("data:image/png;base64,") for s in image_sources(document))
