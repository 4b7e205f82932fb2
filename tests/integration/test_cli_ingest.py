"""`rag ingest`, `rag docs` and `rag search` as a user runs them: one clear line per bad file, the batch goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import cli
from tests.fixtures.pdfs import (
    make_corrupt_pdf,
    make_empty_file,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_long_pdf,
    make_not_a_pdf,
    make_pdf,
    make_table_pdf,
)

GOOD = ["Tidal barrages generate electricity from the rise and fall of sea levels in estuaries."]


@pytest.fixture
def run(rag_home: Path, embedder, monkeypatch: pytest.MonkeyPatch):
    """Invoke the CLI in-process with RAG_HOME set, sharing the loaded embedding model."""
    from app.workspace import Workspace

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    monkeypatch.setattr(cli, "_workspace", lambda: Workspace(cli._settings(), embedder=embedder))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli.app, list(args), catch_exceptions=False)

    return invoke


def _line_for(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if name in line]
    assert lines, f"no line about {name} in:\n{output}"
    return lines[0]


def test_a_good_batch_exits_zero_and_prints_a_summary(run, tmp_path: Path) -> None:
    make_pdf(tmp_path / "good.pdf", GOOD)
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output


def test_running_it_again_reports_the_file_unchanged(run, tmp_path: Path) -> None:
    make_pdf(tmp_path / "good.pdf", GOOD)
    run("ingest", str(tmp_path))
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 0
    assert "1 unchanged" in result.output


@pytest.mark.parametrize(
    ("maker", "expected"),
    [
        (lambda p: make_corrupt_pdf(p), "corrupt"),
        (lambda p: make_encrypted_pdf(p), "--password"),
        (lambda p: make_empty_file(p), "empty"),
        (lambda p: make_not_a_pdf(p, "png"), "not a PDF"),
        (lambda p: make_image_only_pdf(p), "no extractable text (a scanned PDF?); OCR is off"),
    ],
    ids=["corrupt", "encrypted", "empty", "not-a-pdf", "image-only"],
)
def test_a_bad_file_gets_one_clear_line_and_the_batch_goes_on(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker, expected: str
) -> None:
    monkeypatch.setenv("RAG_OCR", "off")  # with OCR on, an image-only PDF is read (tests/integration/test_ocr.py)
    maker(tmp_path / "bad.pdf")
    make_pdf(tmp_path / "good.pdf", GOOD)
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 1
    assert expected.lower() in _line_for(result.output, "bad.pdf").lower()
    assert "added" in _line_for(result.output, "good.pdf")
    assert "1 added, 1 failed" in result.output


def test_an_encrypted_pdf_opens_with_the_password(run, tmp_path: Path) -> None:
    make_encrypted_pdf(tmp_path / "locked.pdf", user_password="hunter2")
    result = run("ingest", str(tmp_path / "locked.pdf"), "--password", "hunter2")
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output


def test_a_wrong_password_is_reported_as_such(run, tmp_path: Path) -> None:
    make_encrypted_pdf(tmp_path / "locked.pdf", user_password="hunter2")
    result = run("ingest", str(tmp_path / "locked.pdf"), "--password", "nope")
    assert result.exit_code == 1
    assert "password" in _line_for(result.output, "locked.pdf").lower()


@pytest.mark.slow
def test_a_thousand_page_pdf_is_ingested(run, tmp_path: Path) -> None:
    make_long_pdf(tmp_path / "long.pdf", pages=1000)
    result = run("ingest", str(tmp_path / "long.pdf"))
    assert result.exit_code == 0, result.output
    assert "1000 pages" in result.output


def test_a_path_that_matches_nothing_is_an_error(run, tmp_path: Path) -> None:
    result = run("ingest", str(tmp_path / "nothing-here"))
    assert result.exit_code == 1
    assert "nothing to ingest" in result.output


def test_docs_list_and_remove(run, tmp_path: Path) -> None:
    make_pdf(tmp_path / "good.pdf", GOOD, title="Tidal Power")
    run("ingest", str(tmp_path))
    listed = json.loads(run("docs", "list", "--json").output)
    assert [(d["file"], d["title"], d["pages"]) for d in listed] == [("good.pdf", "Tidal Power", 1)]
    removed = run("docs", "remove", "good.pdf")
    assert removed.exit_code == 0
    assert json.loads(run("docs", "list", "--json").output) == []


def test_removing_an_unknown_document_says_so(run) -> None:
    result = run("docs", "remove", "nope.pdf")
    assert result.exit_code == 1
    assert "no document matches" in result.output


def test_search_json_follows_the_contract(run, tmp_path: Path) -> None:
    make_pdf(tmp_path / "good.pdf", GOOD, title="Tidal Power")
    run("ingest", str(tmp_path))
    payload = json.loads(run("search", "tidal barrage electricity", "--json", "--top-k", "3").output)
    assert payload["query"] == "tidal barrage electricity"
    first = payload["results"][0]
    assert set(first) >= {"chunk_id", "doc", "file", "title", "pages", "text", "score", "scores"}
    assert (first["file"], first["title"], first["pages"]) == ("good.pdf", "Tidal Power", [1])
    assert isinstance(first["scores"], dict) and first["scores"]


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_search_modes_all_find_the_passage(run, tmp_path: Path, mode: str) -> None:
    make_pdf(tmp_path / "good.pdf", GOOD)
    run("ingest", str(tmp_path))
    payload = json.loads(run("search", "tidal barrages", "--mode", mode, "--json").output)
    assert payload["results"][0]["file"] == "good.pdf"


def test_search_rejects_an_unknown_mode(run) -> None:
    result = run("search", "x", "--mode", "fuzzy")
    assert result.exit_code == 2


def test_the_tables_found_are_counted_per_document_and_in_the_summary(run, tmp_path: Path) -> None:
    rows = [["Station", "Depth m", "Salinity", "Temp C"]] + [[f"st-{i}", f"{10 * i}", f"3{i}.5", f"1{i}.2"] for i in range(6)]
    make_table_pdf(tmp_path / "survey.pdf", rows)
    make_pdf(tmp_path / "good.pdf", GOOD)
    result = run("ingest", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "1 table," in _line_for(result.output, "survey.pdf") and "table" not in _line_for(result.output, "good.pdf")
    assert "2 added — 2 pages, 1 table," in result.output
    listed = {d["file"]: d["reading"]["tables"] for d in json.loads(run("docs", "list", "--json").output)}
    assert listed == {"survey.pdf": 1, "good.pdf": 0}
