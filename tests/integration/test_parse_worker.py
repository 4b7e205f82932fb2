"""PDFs read in a worker process while the main process embeds: the same results, and a clean end every time.

A real worker process reads real PDFs; the stores are the real embedded ones. Ctrl-C stops the worker and
frees the lock; a bad file gets its usual line and the batch goes on; a worker that dies (a segmentation
fault, as a pdfium bug would cause) fails the file it was reading, and a new worker reads the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from app.workspace import ingest_options
from ingest.lock import IngestLock
from ingest.ocr import OcrConfig
from ingest.pipeline import IngestEvent, IngestPipeline
from ingest.readers import ReadOptions, WorkerReader
from tests.fixtures.pdfs import make_corrupt_pdf, make_encrypted_pdf, make_image_only_pdf, make_long_pdf, make_pdf
from tests.fixtures.worker_readers import FixedLinesEngine, read_pdf_or_crash

pytestmark = pytest.mark.timeout(300)  # a hang fails the test instead of the run

WORKER_NAME = "rag-pdf-reader"


def _pipeline(workspace, **changes):  # noqa: ANN001, ANN202
    options = replace(ingest_options(workspace.settings), parse_workers=1)
    return IngestPipeline(workspace.stores, workspace.embedder, options, workspace.settings.lock_path, **changes)


def _workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == WORKER_NAME]


def _consistent(workspace) -> bool:  # noqa: ANN001
    catalog, keyword, vectors = (
        workspace.catalog.ready_doc_ids(), workspace.keyword.doc_ids(), workspace.vectors.doc_ids()
    )
    return catalog == keyword == vectors and workspace.keyword.count() == workspace.catalog.count_chunks()


def _statuses(report) -> dict[str, str]:  # noqa: ANN001
    return {Path(r.path).name: r.status for r in report.results}


def test_a_worker_reads_what_the_main_process_would(make_workspace, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    files = [make_pdf(folder / f"{name}.pdf", [text]) for name, text in (
        ("one", "Basalt columns form when thick lava flows cool and contract slowly."),
        ("two", "Glaciers carve U-shaped valleys and leave moraines behind."),
        ("three", "Coral atolls grow on the rims of sinking volcanic islands."),
    )]
    in_worker = make_workspace(home=tmp_path / "worker")
    in_process = make_workspace(home=tmp_path / "process")
    _pipeline(in_worker).run(files)
    replace_options = replace(ingest_options(in_process.settings), parse_workers=0)
    IngestPipeline(in_process.stores, in_process.embedder, replace_options, in_process.settings.lock_path).run(files)
    chunks = lambda ws: sorted((c.chunk_id, c.text, c.page_start) for d in ws.documents() for c in ws.catalog.chunks_of(d.doc_id))  # noqa: E731
    assert chunks(in_worker) == chunks(in_process)
    assert not _workers(), "the worker outlived the run"


@pytest.fixture
def ctrl_c_as_in_a_terminal() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal, also when the tests run as a background job of a
    shell (which starts it with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_as_in_a_terminal")
def test_ctrl_c_stops_the_worker_and_frees_the_lock(make_workspace, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    files = [
        make_pdf(folder / "a.pdf", ["Tidal barrages generate electricity from the rise and fall of the sea."]),
        make_long_pdf(folder / "b.pdf", pages=400),
        make_long_pdf(folder / "c.pdf", pages=400, lines_per_page=5),
        make_long_pdf(folder / "d.pdf", pages=400, lines_per_page=6),
    ]
    workspace = make_workspace()
    seen_workers: list[int] = []

    def press_ctrl_c(event: IngestEvent) -> None:
        if event.kind == "file" and Path(event.path).name == "b.pdf":  # the worker is reading ahead now
            seen_workers.extend(p.pid for p in _workers())
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        _pipeline(workspace).run(files, on_event=press_ctrl_c)

    assert len(seen_workers) == 1
    assert not _workers(), "a worker process was left behind"
    with pytest.raises(ProcessLookupError):
        os.kill(seen_workers[0], 0)
    with IngestLock(workspace.settings.lock_path):  # released: another ingestion may start
        pass
    assert [d.file_name for d in workspace.documents()] == ["a.pdf"] and _consistent(workspace)
    again = workspace.ingest(files)
    assert _statuses(again) == {"a.pdf": "unchanged", "b.pdf": "added", "c.pdf": "added", "d.pdf": "added"}
    assert _consistent(workspace)


def test_a_bad_file_gets_its_line_and_the_batch_goes_on(make_workspace, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    files = [
        make_corrupt_pdf(folder / "a-corrupt.pdf"),
        make_pdf(folder / "b.pdf", ["Glaciers carve U-shaped valleys and leave moraines behind."]),
        make_encrypted_pdf(folder / "c-locked.pdf"),
        make_pdf(folder / "d.pdf", ["Coral atolls grow on the rims of sinking volcanic islands."]),
    ]
    workspace = make_workspace()
    report = _pipeline(workspace).run(files)
    reasons = {Path(r.path).name: (r.status, r.reason) for r in report.results}
    assert reasons == {
        "a-corrupt.pdf": ("failed", "corrupt or truncated PDF (cannot be parsed)"),
        "b.pdf": ("added", ""),
        "c-locked.pdf": ("failed", "encrypted: pass --password"),
        "d.pdf": ("added", ""),
    }
    assert _consistent(workspace) and not _workers()


def test_a_worker_that_dies_fails_its_file_and_a_new_one_reads_the_rest(make_workspace, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    files = [
        make_pdf(folder / "a.pdf", ["Tidal barrages generate electricity from the rise and fall of the sea."]),
        make_pdf(folder / "crash.pdf", ["This file makes the reader crash, as a pdfium bug would."]),
        make_pdf(folder / "c.pdf", ["Glaciers carve U-shaped valleys and leave moraines behind."]),
        make_pdf(folder / "d.pdf", ["Coral atolls grow on the rims of sinking volcanic islands."]),
    ]
    workspace = make_workspace()
    report = _pipeline(workspace, read=read_pdf_or_crash).run(files)
    assert _statuses(report) == {"a.pdf": "added", "crash.pdf": "failed", "c.pdf": "added", "d.pdf": "added"}
    failed = report.failed[0]
    assert failed.reason == "the PDF reader crashed on this file (SIGSEGV)"
    assert _consistent(workspace) and not _workers()
    assert {d.file_name for d in workspace.documents()} == {"a.pdf", "c.pdf", "d.pdf"}


def test_ocr_runs_in_the_worker_and_its_pages_reach_the_progress(make_workspace, tmp_path: Path) -> None:
    scan = make_image_only_pdf(tmp_path / "scan.pdf", pages=2)
    workspace = make_workspace()
    engine = FixedLinesEngine(["Scanned ledger of the harbour office", "Ships arrived in the spring of 1871"])
    events: list[IngestEvent] = []
    report = _pipeline(workspace, ocr_engine=engine).run([scan], on_event=events.append)
    assert report.results[0].status == "added" and report.ocr_pages == 2
    ocr = [e for e in events if e.kind == "ocr"]
    assert [(e.page, e.pages_total) for e in ocr] == [(1, 2), (2, 2)]
    assert [e.progress.ocr_pages for e in ocr] == [1, 2]
    assert workspace.search("harbour ledger", mode="keyword").hits[0].file == "scan.pdf"


def test_a_worker_reader_reads_ahead_in_order_and_drops_what_is_discarded(tmp_path: Path) -> None:
    files = [make_pdf(tmp_path / f"{i}.pdf", [f"Document number {i} talks about topic {i}."]) for i in range(4)]
    with WorkerReader(ReadOptions(ocr=OcrConfig(mode="off"))) as reader:
        for path in files:
            reader.submit(path)
        reader.discard(files[1])
        outcomes = [reader.take(p) for p in (files[0], files[2], files[3])]
        assert reader.workers_started == 1
    assert [o.document.pages[0].text.split()[2] for o in outcomes] == ["0", "2", "3"]
    assert not _workers()
