"""What `rag ingest --watch` decides at each look: read a file once it has stopped changing, remove a document
once its file has been gone for a moment, and never touch documents outside the watched folders."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.watch import FileState, FolderSync, scan
from rag.types import DocumentRecord

SETTLE = 5.0
NOW = 1_000_000.0  # the wall clock at the start of each test


class Clocks:
    """A monotonic and a wall clock that move together, by hand."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> float:
        return NOW + self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


def _sync(folder: Path, clocks: Clocks) -> FolderSync:
    return FolderSync([folder], SETTLE, clock=clocks.monotonic, wall_clock=clocks.wall)


def _written(at_wall: float, size: int = 100) -> FileState:
    return FileState(size, int(at_wall * 1e9))


def _document(path: Path) -> DocumentRecord:
    return DocumentRecord("d" * 64, str(path), "s" * 64, "A title", 1, 1, "ready", NOW)


def test_a_file_written_long_ago_is_ready_at_the_first_look(tmp_path: Path) -> None:
    clocks = Clocks()
    path = tmp_path / "old.pdf"
    assert path in _sync(tmp_path, clocks).ready({path: _written(NOW - 3600)})


def test_a_file_just_written_waits_until_it_has_stayed_unchanged_for_the_settle_time(tmp_path: Path) -> None:
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    path, state = tmp_path / "new.pdf", _written(NOW)
    assert sync.ready({path: state}) == {}
    clocks.advance(SETTLE - 1)
    assert sync.ready({path: state}) == {}
    clocks.advance(1)
    assert sync.ready({path: state}) == {path: state}


def test_a_file_that_keeps_growing_is_not_read(tmp_path: Path) -> None:
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    path = tmp_path / "copying.pdf"
    for size in range(100, 1000, 100):
        assert sync.ready({path: _written(clocks.wall(), size)}) == {}
        clocks.advance(SETTLE / 2)
    assert sync.waiting == 1


def test_a_file_handed_to_the_library_is_not_read_again_until_it_changes(tmp_path: Path) -> None:
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    path, state = tmp_path / "a.pdf", _written(NOW - 3600)
    sync.handed(path, sync.ready({path: state})[path])
    clocks.advance(60)
    assert sync.ready({path: state}) == {}
    changed = _written(clocks.wall(), size=200)
    assert sync.ready({path: changed}) == {}
    clocks.advance(SETTLE)
    assert sync.ready({path: changed}) == {path: changed}


def test_a_file_that_was_not_handed_over_is_offered_again(tmp_path: Path) -> None:
    """A file the library could not take (a store was down) is retried at the next look."""
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    path, state = tmp_path / "a.pdf", _written(NOW - 3600)
    assert sync.ready({path: state}) == {path: state}
    clocks.advance(1)
    assert sync.ready({path: state}) == {path: state}


def test_a_document_whose_file_is_gone_is_removed_only_after_the_settle_time(tmp_path: Path) -> None:
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    document = _document(tmp_path / "deleted.pdf")
    assert sync.gone([document], {}) == []
    assert sync.waiting == 1
    clocks.advance(SETTLE)
    assert sync.gone([document], {}) == [document]


def test_a_document_whose_file_comes_back_is_kept(tmp_path: Path) -> None:
    clocks = Clocks()
    sync = _sync(tmp_path, clocks)
    path = tmp_path / "back.pdf"
    document = _document(path)
    sync.gone([document], {})
    clocks.advance(SETTLE)
    assert sync.gone([document], {path: _written(NOW)}) == []
    assert sync.waiting == 0


def test_a_document_outside_the_watched_folders_is_never_removed(tmp_path: Path) -> None:
    clocks = Clocks()
    watched = tmp_path / "watched"
    watched.mkdir()
    sync = _sync(watched, clocks)
    elsewhere = _document(tmp_path / "elsewhere" / "gone.pdf")
    sync.gone([elsewhere], {})
    clocks.advance(SETTLE * 10)
    assert sync.gone([elsewhere], {}) == []


def test_scan_finds_pdfs_in_subfolders_whatever_the_case_of_their_suffix(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ("a.pdf", "sub/B.PDF", "sub/deeper/c.Pdf", "notes.txt", "sub/image.png"):
        (tmp_path / name).write_bytes(b"%PDF-1.4 x")
    found = scan([tmp_path])
    assert sorted(p.name for p in found) == ["B.PDF", "a.pdf", "c.Pdf"]


def test_scan_reports_size_and_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"x" * 42)
    os.utime(path, ns=(1_500_000_000 * 10**9, 1_500_000_000 * 10**9))
    assert scan([tmp_path]) == {path.resolve(): FileState(42, 1_500_000_000 * 10**9)}
