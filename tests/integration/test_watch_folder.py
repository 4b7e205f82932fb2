"""`rag ingest --watch`: the library follows a folder of real PDFs (real stores, the real embedder)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.lock import IngestLock
from ingest.watch import FolderSync, FolderWatcher, WatchedLibrary, WatchStep
from tests.fixtures.interrupted_ingest import start_stalling_ingest, three_pdfs, wait_for_marker
from tests.fixtures.pdfs import make_corrupt_pdf, make_pdf

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SETTLE = 5.0


class Clocks:
    """Monotonic and wall clocks that start at the real time and move by hand, so no test sleeps."""

    def __init__(self) -> None:
        self.start = time.time()
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> float:
        return self.start + self.elapsed

    def advance(self, seconds: float = SETTLE) -> None:
        self.elapsed += seconds


def _library(workspace) -> WatchedLibrary:  # noqa: ANN001
    return WatchedLibrary(
        ingest=workspace.ingest,
        remove=lambda document: workspace.remove(document.doc_id),
        documents=workspace.documents,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "watched"
    path.mkdir()
    return path


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def watcher(make_workspace, folder: Path, clocks: Clocks) -> FolderWatcher:
    sync = FolderSync([folder], SETTLE, clock=clocks.monotonic, wall_clock=clocks.wall)
    return FolderWatcher([folder], _library(make_workspace()), sync=sync)


def _statuses(step: WatchStep) -> dict[str, str]:
    return {Path(r.path).name: r.status for r in step.report.results} if step.report else {}


def _files(watcher: FolderWatcher) -> dict[str, str]:
    return {d.file_name: d.path for d in watcher.library.documents()}


def _old(path: Path) -> Path:
    """Make a file look written an hour ago (there before watching began)."""
    stamp = time.time() - 3600
    os.utime(path, (stamp, stamp))
    return path


def _pdf(path: Path, sentence: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_pdf(path, [sentence])


def test_the_first_look_ingests_what_the_folder_already_holds(watcher, folder: Path) -> None:
    _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    _old(_pdf(folder / "sub" / "b.pdf", "Glaciers carve U-shaped valleys and leave moraines behind."))
    assert _statuses(watcher.step()) == {"a.pdf": "added", "b.pdf": "added"}
    assert sorted(_files(watcher)) == ["a.pdf", "b.pdf"]


def test_a_pdf_being_copied_in_is_read_only_once_it_has_stopped_changing(watcher, folder: Path, clocks) -> None:
    source = _pdf(folder.parent / "source.pdf", "Coral atolls grow on the rims of sinking volcanic islands.")
    data = source.read_bytes()
    target = folder / "copying.pdf"
    target.write_bytes(data[: len(data) // 2])
    assert watcher.step().report is None, "a half-copied file was read"
    clocks.advance(1)
    target.write_bytes(data)
    assert watcher.step().report is None, "a file that changed a second ago was read"
    clocks.advance()
    assert _statuses(watcher.step()) == {"copying.pdf": "added"}


def test_a_file_already_read_is_not_read_again_until_it_changes(watcher, folder: Path, clocks) -> None:
    path = _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    watcher.step()
    clocks.advance()
    assert watcher.step().report is None
    _pdf(path, "Basalt columns are hexagonal because cooling lava cracks at 120 degree angles.")
    os.utime(path, (clocks.wall(), clocks.wall()))  # written just now, by the test's clock
    assert watcher.step().report is None
    clocks.advance()
    assert _statuses(watcher.step()) == {"a.pdf": "replaced"}


def test_a_deleted_pdf_is_removed_from_every_store(watcher, folder: Path, clocks) -> None:
    path = _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    _old(_pdf(folder / "b.pdf", "Glaciers carve U-shaped valleys and leave moraines behind."))
    watcher.step()
    path.unlink()
    assert watcher.step().removed == [], "removed before the file had been gone for the settle time"
    clocks.advance()
    assert [d.file_name for d in watcher.step().removed] == ["a.pdf"]
    assert list(_files(watcher)) == ["b.pdf"]


def test_a_removed_document_leaves_no_chunks_behind(make_workspace, folder: Path, clocks) -> None:
    workspace = make_workspace()
    sync = FolderSync([folder], SETTLE, clock=clocks.monotonic, wall_clock=clocks.wall)
    watcher = FolderWatcher([folder], _library(workspace), sync=sync)
    path = _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    watcher.step()
    path.unlink()
    watcher.step()
    clocks.advance()
    watcher.step()
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks() == 0


def test_a_moved_pdf_is_recognised_by_its_content_not_removed_and_read_again(watcher, folder: Path, clocks) -> None:
    path = _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    watcher.step()
    (doc_id,) = [d.doc_id for d in watcher.library.documents()]
    (folder / "archive").mkdir()
    moved = path.rename(folder / "archive" / "a.pdf")  # a rename keeps the file's modification time
    step = watcher.step()
    assert _statuses(step) == {"a.pdf": "moved"} and step.removed == []
    clocks.advance()
    assert watcher.step().removed == []
    (document,) = watcher.library.documents()
    assert (document.doc_id, document.path) == (doc_id, str(moved.resolve()))


def test_a_bad_file_gets_its_line_once_and_watching_goes_on(watcher, folder: Path, clocks) -> None:
    _old(make_corrupt_pdf(folder / "bad.pdf"))
    _old(_pdf(folder / "good.pdf", "Glaciers carve U-shaped valleys and leave moraines behind."))
    step = watcher.step()
    assert _statuses(step) == {"bad.pdf": "failed", "good.pdf": "added"}
    assert "corrupt" in next(r.reason for r in step.report.results if r.status == "failed")
    clocks.advance()
    assert watcher.step().report is None, "a bad file that has not changed was read again"


def test_another_ingestion_holding_the_lock_delays_the_watcher_without_losing_files(
    watcher, folder: Path, rag_home: Path, clocks
) -> None:
    _old(_pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    with IngestLock(rag_home / "ingest.lock"):
        step = watcher.step()
    assert "another ingestion is running" in step.problem
    clocks.advance(1)
    assert _statuses(watcher.step()) == {"a.pdf": "added"}


def test_a_sigkilled_ingestion_is_repaired_by_the_watchers_first_look(make_workspace, rag_home: Path, folder: Path) -> None:
    files = three_pdfs(folder / "pdfs")
    marker = folder.parent / "marker"
    worker = start_stalling_ingest(rag_home, marker, files)
    wait_for_marker(marker, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    for path in files:
        _old(path)

    workspace = make_workspace()
    step = FolderWatcher([folder], _library(workspace)).step()
    assert step.report.repaired == [str(files[1])]
    assert sorted(d.file_name for d in workspace.documents()) == ["one.pdf", "three.pdf", "two.pdf"]
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()


def test_file_events_wake_the_watcher(make_workspace, folder: Path) -> None:
    workspace = make_workspace()
    watcher = FolderWatcher([folder], _library(workspace), settle=0.3)
    steps: list[WatchStep] = []
    thread = threading.Thread(target=watcher.run, args=(steps.append,), daemon=True)
    thread.start()
    try:
        _wait_until(lambda: steps, "the first look")
        assert watcher.events, "no native file watcher started"
        _pdf(folder / "new.pdf", "Coral atolls grow on the rims of sinking volcanic islands.")
        # with events, the next safety scan is 30 s away: only an event can bring the file in sooner
        _wait_until(lambda: [d.file_name for d in workspace.documents()] == ["new.pdf"], "new.pdf ingested", 25)
    finally:
        watcher.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_polling_finds_files_without_events(make_workspace, folder: Path) -> None:
    workspace = make_workspace()
    watcher = FolderWatcher([folder], _library(workspace), settle=0.3, poll=0.5)
    thread = threading.Thread(target=watcher.run, args=(lambda step: None,), daemon=True)
    thread.start()
    try:
        _pdf(folder / "new.pdf", "Coral atolls grow on the rims of sinking volcanic islands.")
        _wait_until(lambda: [d.file_name for d in workspace.documents()] == ["new.pdf"], "new.pdf ingested", 25)
        assert not watcher.events
    finally:
        watcher.stop()
        thread.join(timeout=30)


def _wait_until(condition, what: str, seconds: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- the command, as a user runs it ----------------------------------------------------------------
def _start_cli(rag_home: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(rag_home), COLUMNS="200", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ingest", *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C as in a terminal, also when the tests run as a background job (which ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _read_until(process: subprocess.Popen, needle: str, seen: list[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not any(needle in line for line in seen):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError(f"never printed {needle!r}:\n{''.join(seen)}")
        line = process.stdout.readline()
        if line:
            seen.append(line)


def test_rag_ingest_watch_follows_the_folder_and_stops_cleanly_on_ctrl_c(rag_home: Path, folder: Path) -> None:
    _old(_pdf(folder / "first.pdf", "Basalt columns form when thick lava flows cool and contract slowly."))
    process = _start_cli(rag_home, "--watch", str(folder), "--settle", "0.5")
    seen: list[str] = []
    try:
        _read_until(process, "first.pdf: added", seen)
        _read_until(process, "watching", seen)
        source = _pdf(folder.parent / "second.pdf", "Glaciers carve U-shaped valleys and leave moraines behind.")
        shutil.copy(source, folder / "second.pdf")
        _read_until(process, "second.pdf: added", seen)
        (folder / "first.pdf").unlink()
        _read_until(process, "first.pdf: removed", seen)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert "stopped watching" in output
    assert "Traceback" not in output


def test_rag_ingest_watch_refuses_a_file_with_a_clear_line(rag_home: Path, folder: Path) -> None:
    pdf = _pdf(folder / "a.pdf", "Basalt columns form when thick lava flows cool and contract slowly.")
    process = _start_cli(rag_home, "--watch", str(pdf))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert f"--watch takes folders: {pdf} is not a folder" in output
