"""Scanned and garbled PDFs, read by the real OCR engine (RapidOCR, packaged models) and ingested into the real
stores: OCR'd pages are searchable and cited with their page, ocr=off keeps the clear error, the reading report
counts what happened, and `rag ingest`, `rag docs list --json` and `rag doctor` show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import cli
from ingest.ocr import OcrConfig
from ingest.pdf_reader import read_pdf
from tests.fixtures.pdfs import cjk_font, make_garbled_pdf, make_pdf, make_scanned_pdf

pytestmark = pytest.mark.slow

FILLER = [
    "Inspectors walk the quay every morning before the shift.",
    "They write down the weather, the wind and the state of the sea.",
    "Any damage is reported to the harbour office the same day.",
    "Small repairs are made at once by the quay maintenance team.",
    "Larger repairs wait for the monthly planning meeting.",
]
CRANE = ["Harbour crane maintenance log", *FILLER, "The north quay crane was repaired in March.",
         "It now lifts forty tonnes.", *FILLER]
BARGE = ["Barge inspection notes", *FILLER, "The grain barge Aurora carries 1,800 tonnes.",
         "Its hull was painted in June.", *FILLER]
TIDES = "This page has a real text layer. Spring tides at the harbour mouth reach six metres."
CHINESE = ["港口起重机维修记录", "北码头的起重机在三月修好了。", "它现在能吊起四十吨货物。"]


@pytest.fixture(scope="module")
def ocr_engine():
    """The real OCR engine, models loaded once for this module."""
    from ingest.ocr import RapidOcrEngine

    return RapidOcrEngine(OcrConfig())


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """A folder with an English scan whose second page is a born-digital page between two scanned ones."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    make_scanned_pdf(folder / "harbour-scan.pdf", [CRANE, TIDES, BARGE])
    return folder


def test_scanned_pages_are_ocrd_per_page_and_keep_their_numbers(scans: Path, ocr_engine) -> None:
    doc = read_pdf(scans / "harbour-scan.pdf", ocr=OcrConfig(), ocr_engine=ocr_engine)
    assert "north quay crane was repaired in March" in doc.pages[0].text
    assert doc.pages[1].text.startswith("This page has a real text layer")  # never OCR'd
    assert "grain barge Aurora carries 1,800 tonnes" in doc.pages[2].text
    assert doc.title == "Harbour crane maintenance log"
    report = doc.reading
    assert (report.pages, report.text_layer_pages, report.ocr_pages, report.empty_pages, report.garbled_pages) == (3, 1, 2, 0, 0)
    assert report.scripts == {"latin": 1.0} and report.summary() == "2 of 3 pages OCR'd"


def test_a_chinese_scan_is_read(tmp_path: Path, ocr_engine) -> None:
    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font (Debian package fonts-droid-fallback)")
    doc = read_pdf(make_scanned_pdf(tmp_path / "zh.pdf", [CHINESE], font=font), ocr=OcrConfig(), ocr_engine=ocr_engine)
    assert "北码头的起重机在三月修好了" in doc.pages[0].text
    assert "四十吨" in doc.pages[0].text
    assert doc.reading.scripts == {"cjk": 1.0} and doc.reading.ocr_pages == 1


@pytest.mark.parametrize("garbage", ["private-use", "shifted"])
def test_a_garbled_text_layer_is_detected_and_read_by_ocr(tmp_path: Path, ocr_engine, garbage: str) -> None:
    lines = ["The invoice for the crane repair came to 4,250 euros.", "Payment is due within thirty days.", *FILLER]
    doc = read_pdf(make_garbled_pdf(tmp_path / "g.pdf", lines, garbage=garbage), ocr=OcrConfig(), ocr_engine=ocr_engine)
    assert doc.reading.garbled_pages == 1 and doc.reading.ocr_pages == 1
    assert "crane repair came to 4,250 euros" in doc.pages[0].text


def test_ocrd_pages_are_searchable_and_cited_with_their_page(make_workspace, scans: Path, tmp_path: Path) -> None:
    font = cjk_font()
    files = [scans / "harbour-scan.pdf"]
    if font is not None:
        files.append(make_scanned_pdf(tmp_path / "zh-scan.pdf", [["封面"], CHINESE], font=font))
    workspace = make_workspace(chunk_tokens=64)  # chunks smaller than a page: each is cited with its own page
    report = workspace.ingest(files)
    assert [r.status for r in report.results] == ["added"] * len(files), report.results
    assert report.results[0].reading.ocr_pages == 2

    barge = workspace.search("How many tonnes does the grain barge Aurora carry?", mode="keyword")
    assert (barge.hits[0].file, barge.hits[0].chunk.pages) == ("harbour-scan.pdf", [3])
    crane = workspace.search("When was the north quay crane repaired?")
    assert crane.hits[0].chunk.pages == [1] and "March" in crane.hits[0].chunk.text
    if font is not None:
        chinese = workspace.search("起重机什么时候修好的", mode="keyword")
        assert (chinese.hits[0].file, chinese.hits[0].chunk.pages) == ("zh-scan.pdf", [2])
    [record] = [d for d in workspace.documents() if d.file_name == "harbour-scan.pdf"]
    assert record.reading == report.results[0].reading  # stored with the document


def test_with_ocr_off_a_scan_gets_the_clear_error(make_workspace, scans: Path) -> None:
    report = make_workspace(ocr="off").ingest([make_scanned_pdf(scans / "only-scan.pdf", [CRANE])])
    [result] = report.results
    assert result.status == "failed"
    assert result.reason == "no extractable text (a scanned PDF?); OCR is off: set RAG_OCR=auto to read scanned pages"


# ------------------------------------------------------------------------------------------ the CLI
@pytest.fixture
def run(rag_home: Path, embedder, monkeypatch: pytest.MonkeyPatch):
    from app.workspace import Workspace

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    monkeypatch.setattr(cli, "_workspace", lambda: Workspace(cli._settings(), embedder=embedder))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, list(args), catch_exceptions=False)


def test_the_cli_reports_what_was_read(run, scans: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pdf(scans / "plain.pdf", [["Tide tables for the harbour are printed every spring by the port office."]])
    result = run("ingest", str(scans))
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0].strip("✓ "): line for line in result.output.splitlines() if ".pdf:" in line}
    assert "(2 of 3 pages OCR'd)" in lines["harbour-scan.pdf"]
    assert "OCR'd" not in lines["plain.pdf"]  # only documents that need attention say more
    assert "(2 OCR'd)" in result.output  # the summary line

    listed = {d["file"]: d for d in json.loads(run("docs", "list", "--json").output)}
    assert listed["harbour-scan.pdf"]["reading"] == {
        "pages": 3, "text_layer_pages": 1, "ocr_pages": 2, "empty_pages": 0, "garbled_pages": 0, "tables": 0,
        "scripts": {"latin": 1.0}, "notes": [], "ocr": "auto",
    }
    assert listed["plain.pdf"]["reading"]["ocr_pages"] == 0

    findings = json.loads(run("doctor", "--json").output)
    [ocr] = [f for f in findings if f["check"] == "ocr"]
    assert ocr["level"] == "ok" and "RapidOCR" in ocr["message"]
    [quality] = [f for f in findings if f["check"] == "text quality"]
    assert quality["level"] == "ok" and "1 read partly or wholly by OCR" in quality["message"]


def test_doctor_names_documents_whose_text_is_poor(run, scans: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_OCR", "off")
    result = run("ingest", str(scans / "harbour-scan.pdf"))
    assert result.exit_code == 0, result.output
    assert "2 of 3 pages have no text" in result.output
    findings = json.loads(run("doctor", "--json").output)
    [quality] = [f for f in findings if f["check"] == "text quality"]
    assert quality["level"] == "warning"
    assert quality["message"] == "harbour-scan.pdf: 2 of 3 pages have no text; set RAG_OCR=auto and ingest it again"


def test_a_cited_sentence_is_marked_on_the_scanned_page(make_workspace, scans: Path) -> None:
    import io

    from PIL import Image

    from app.evidence import citation_evidence
    from rag.answer.result import Citation

    workspace = make_workspace(chunk_tokens=64)
    [result] = workspace.ingest([scans / "harbour-scan.pdf"]).results
    lines = workspace.catalog.page_lines(result.doc_id, 3)
    assert any("grain barge Aurora" in line.text for line in lines)
    assert workspace.catalog.page_lines(result.doc_id, 2) == []  # the text-layer page keeps no OCR lines

    sentence = "The grain barge Aurora carries 1,800 tonnes."
    evidence = citation_evidence(workspace.catalog, f"{sentence} [1]", Citation(1, result.doc_id, "", [3], sentence))
    assert evidence.page == 3 and evidence.image is not None
    assert evidence.image.focus is not None  # a close-up exists only when the sentence was found and marked
    page = Image.open(io.BytesIO(evidence.image.page)).convert("RGB")
    [line] = [l for l in lines if "grain barge Aurora" in l.text]
    scale = page.width / 595.28  # A4 width in points
    y = int((841.89 - line.top) * scale) + 1  # just inside the top edge of the line's box: highlighter, no ink
    x = int((line.left + line.right) / 2 * scale)
    red, green, blue = page.getpixel((x, y))
    assert red > 200 and green > 170 and blue < 170, (red, green, blue)  # yellow marker over white paper
