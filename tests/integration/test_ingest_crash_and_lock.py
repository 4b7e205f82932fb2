"""A killed ingestion is repaired by the next run; two ingestions at once can't corrupt anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fixtures.pdfs import make_pdf

ROOT = Path(__file__).resolve().parents[2]

# A real ingestion process that stops for good in the middle of writing its second document:
# the catalog rows and keyword index are written, the vectors are not. The test then SIGKILLs it.
_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag.settings import load_settings
    from app.workspace import Workspace

    home, marker, *files = sys.argv[1:]
    workspace = Workspace(load_settings(home=home))
    real_add = workspace.vectors.add
    calls = []

    def add(chunks, vectors):
        calls.append(1)
        if len(calls) == 2:
            Path(marker).write_text("in the middle")
            time.sleep(600)
        real_add(chunks, vectors)

    workspace.vectors.add = add
    workspace.ingest([Path(f) for f in files])
    """
)


def _files(folder: Path) -> list[Path]:
    folder.mkdir()
    return [
        make_pdf(folder / "one.pdf", ["Basalt columns form when thick lava flows cool and contract slowly."]),
        make_pdf(folder / "two.pdf", ["Glaciers carve U-shaped valleys and leave moraines behind."]),
        make_pdf(folder / "three.pdf", ["Coral atolls grow on the rims of sinking volcanic islands."]),
    ]


def _start_worker(home: Path, marker: Path, files: list[Path]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(home), str(marker), *map(str, files)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(marker: Path, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"worker exited early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("worker never reached the middle of the batch")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_sigkilled_ingestion_is_found_and_repaired_by_the_next_run(make_workspace, rag_home: Path, tmp_path: Path) -> None:
    files = _files(tmp_path / "pdfs")
    marker = tmp_path / "marker"
    worker = _start_worker(rag_home, marker, files)
    _wait_for(marker, worker)
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

    files = _files(tmp_path / "pdfs")
    marker = tmp_path / "marker"
    worker = _start_worker(rag_home, marker, files)
    try:
        _wait_for(marker, worker)
        with pytest.raises(IngestLocked, match=f"another ingestion is running \\(pid {worker.pid}\\)"):
            make_workspace().ingest(files)
    finally:
        worker.kill()
        worker.wait(timeout=30)
