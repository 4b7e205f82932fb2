"""A killed ingestion is repaired by the next run; two ingestions at once can't corrupt anything."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.fixtures.interrupted_ingest import start_stalling_ingest, three_pdfs, wait_for_marker


@pytest.mark.slow
def test_a_sigkilled_ingestion_is_found_and_repaired_by_the_next_run(make_workspace, rag_home: Path, tmp_path: Path) -> None:
    files = three_pdfs(tmp_path / "pdfs")
    marker = tmp_path / "marker"
    worker = start_stalling_ingest(rag_home, marker, files)
    wait_for_marker(marker, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    workspace = make_workspace()
    assert len(workspace.catalog.unfinished()) == 1, "the second document was left pending"
    assert [d.file_name for d in workspace.documents()] == ["one.pdf"]
    assert all(hit.file == "one.pdf" for hit in workspace.search("glaciers moraines").hits)

    report = workspace.ingest(files)
    assert report.repaired == [str(files[1])]
    assert {Path(r.path).name: r.status for r in report.results} == {
        "one.pdf": "unchanged", "two.pdf": "added", "three.pdf": "added"
    }
    catalog, keyword, vectors = (
        workspace.catalog.ready_doc_ids(), workspace.keyword.doc_ids(), workspace.vectors.doc_ids()
    )
    assert len(catalog) == 3 and catalog == keyword == vectors
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()


@pytest.mark.slow
def test_a_second_ingestion_waits_its_turn_with_a_clear_message(make_workspace, rag_home: Path, tmp_path: Path) -> None:
    from rag.errors import IngestLocked

    files = three_pdfs(tmp_path / "pdfs")
    marker = tmp_path / "marker"
    worker = start_stalling_ingest(rag_home, marker, files)
    try:
        wait_for_marker(marker, worker)
        with pytest.raises(IngestLocked, match=f"another ingestion is running \\(pid {worker.pid}\\)"):
            make_workspace().ingest(files)
    finally:
        worker.kill()
        worker.wait(timeout=30)
