"""`rag ask --export` as a user runs it: over really ingested PDFs, the answer and its cited pages land in a
Markdown file with PNGs beside it or in one HTML file; a wrong suffix fails before anything is asked.

The workspace is real (stores, embedder, gate); the chat engine is scripted, so the answer is known."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app import cli
from tests.fixtures.pdfs import make_pdf
from tests.fixtures.scripted_engine import ScriptedEngine

MANUAL = ["The turbine hall is on the ground floor. Visitors sign in at the front desk.",
          "The blades are made of carbon fibre and last twenty years. Each blade weighs eleven tonnes."]
QUESTION = "What are the turbine blades made of?"


@pytest.fixture
def run(rag_home: Path, embedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from app.workspace import Workspace

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    engine = ScriptedEngine(["The blades are made of carbon fibre [1]."])
    monkeypatch.setattr(cli, "_workspace", lambda: Workspace(cli._settings(), embedder=embedder, engine=engine))
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    make_pdf(pdfs / "turbine.pdf", MANUAL, title="Turbine manual")
    invoke = lambda *args: CliRunner().invoke(cli.app, list(args), catch_exceptions=False)  # noqa: E731
    assert invoke("ingest", str(pdfs)).exit_code == 0
    invoke.engine = engine
    return invoke


def test_export_to_markdown_writes_the_answer_and_the_cited_page_beside_it(run, tmp_path: Path):
    target = tmp_path / "out" / "answer.md"
    target.parent.mkdir()
    result = run("ask", QUESTION, "--export", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "carbon fibre" in text and "turbine\\.pdf" in text  # Markdown-escaped: renders as turbine.pdf
    images = sorted(p for p in target.parent.iterdir() if p.suffix == ".png")
    assert images and all(p.name in text for p in images)
    for image in images:
        with Image.open(image) as picture:
            picture.verify()
    assert f"exported to {target}" in result.output


def test_export_to_html_writes_one_file_that_fetches_nothing(run, tmp_path: Path):
    target = tmp_path / "answer.html"
    result = run("ask", QUESTION, "--no-stream", "--export", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert "carbon fibre" in html and "data:image/png;base64," in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".png"] == []


def test_an_unknown_export_suffix_fails_before_the_question_is_asked(run, tmp_path: Path):
    result = run("ask", QUESTION, "--export", str(tmp_path / "answer.docx"))
    assert result.exit_code == 2 and ".md" in result.output and ".html" in result.output
    assert run.engine.calls == []
