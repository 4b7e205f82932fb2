"""Keep the library in step with folders (`rag ingest --watch`).

Each look scans the folders (a stat per PDF) and compares them with what the library was last handed:
- a new or changed PDF is ingested once it has stopped changing: its size and modification time were seen
  unchanged for ``settle`` seconds, or it was last written at least ``settle`` seconds ago (a file moved in
  whole, or there before watching began), so a half-copied file is never read;
- a document whose file under a watched folder is gone is removed from every store once it has been gone for
  ``settle`` seconds; new files are ingested first, so a moved file is recognised by its content (the pipeline
  relocates it) instead of being removed and embedded again.

Filesystem events (watchdog) only wake the loop early; the scan decides. Without events (``poll`` set, or no
native watcher available) the loop looks every ``poll`` seconds, so a missed event costs a delay, never a file.
"""

from __future__ import annotations

import logging
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ingest.pipeline import IngestReport
from rag.errors import RagError
from rag.types import DocumentRecord

log = logging.getLogger(__name__)

SAFETY_SCAN_SECONDS = 30.0  # with events: a look now and then all the same (an event can be missed)
RETRY_SECONDS = 10.0  # after a store was down or another ingestion held the lock


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int


def scan(folders: Sequence[Path]) -> dict[Path, FileState]:
    """Every PDF under the folders (recursively, any case of `.pdf`), resolved, with its size and mtime."""
    found: dict[Path, FileState] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.suffix.lower() != ".pdf":
                continue
            try:
                info = path.stat()
            except OSError:  # removed between listing and stat
                continue
            if stat.S_ISREG(info.st_mode):
                found[path.resolve()] = FileState(info.st_size, info.st_mtime_ns)
    return found


class FolderSync:
    """What the library must do to match the folders, decided each time it looks (no I/O here)."""

    def __init__(
        self,
        folders: Sequence[Path],
        settle: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.folders = [Path(f).resolve() for f in folders]
        self.settle = settle
        self._clock = clock
        self._wall_clock = wall_clock
        self._in_step: dict[Path, FileState] = {}  # the state the library was last handed
        self._changing: dict[Path, tuple[FileState, float]] = {}  # a state not handed yet, and since when
        self._missing_since: dict[str, float] = {}  # a document's path, and when its file was first missed

    def ready(self, on_disk: dict[Path, FileState]) -> dict[Path, FileState]:
        """The files to ingest now: new or changed, and no longer changing."""
        now = self._clock()
        ready: dict[Path, FileState] = {}
        for path, state in on_disk.items():
            if self._in_step.get(path) == state:
                self._changing.pop(path, None)
                continue
            seen = self._changing.get(path)
            if seen is None or seen[0] != state:
                seen = self._changing[path] = (state, now)
            unchanged_for_long = now - seen[1] >= self.settle
            written_long_ago = self._wall_clock() - state.mtime_ns / 1e9 >= self.settle
            if unchanged_for_long or written_long_ago:
                ready[path] = state
        for path in [p for p in self._changing if p not in on_disk]:
            del self._changing[path]
        for path in [p for p in self._in_step if p not in on_disk]:
            del self._in_step[path]
        return ready

    def handed(self, path: Path, state: FileState) -> None:
        """The library has this state of the file (ingested, unchanged, moved, or failed with its line)."""
        self._in_step[path] = state
        self._changing.pop(path, None)

    def gone(self, documents: Sequence[DocumentRecord], on_disk: dict[Path, FileState]) -> list[DocumentRecord]:
        """Documents under a watched folder whose file has been missing for ``settle`` seconds."""
        now = self._clock()
        due: list[DocumentRecord] = []
        missing: set[str] = set()
        for document in documents:
            path = Path(document.path)
            if not self._watched(path) or path in on_disk or path.exists():
                continue
            missing.add(document.path)
            since = self._missing_since.setdefault(document.path, now)
            if now - since >= self.settle:
                due.append(document)
        self._missing_since = {p: t for p, t in self._missing_since.items() if p in missing}
        return due

    @property
    def waiting(self) -> int:
        """Files still changing and documents whose file is missing but not yet for long enough."""
        return len(self._changing) + len(self._missing_since)

    def _watched(self, path: Path) -> bool:
        return any(path.is_relative_to(folder) for folder in self.folders)


@dataclass(frozen=True)
class WatchedLibrary:
    """What the watcher may do to the library (the workspace's ingestion, removal and document list)."""

    ingest: Callable[[list[Path]], IngestReport]
    remove: Callable[[DocumentRecord], None]
    documents: Callable[[], list[DocumentRecord]]


@dataclass
class WatchStep:
    """What one look did."""

    report: IngestReport | None = None
    removed: list[DocumentRecord] = field(default_factory=list)
    waiting: int = 0
    problem: str = ""  # a store that is down, another ingestion running: retried later


class FolderWatcher:
    """Looks at the folders whenever something changes (or every ``poll`` seconds) until stopped."""

    def __init__(
        self,
        folders: Sequence[Path],
        library: WatchedLibrary,
        settle: float = 2.0,
        poll: float | None = None,
        sync: FolderSync | None = None,
    ) -> None:
        self.folders = [Path(f).resolve() for f in folders]
        self.library = library
        self.poll = poll
        self.sync = sync or FolderSync(self.folders, settle)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.events = False  # True once a native watcher is running

    def step(self) -> WatchStep:
        """One look: ingest what is ready, then remove what is gone."""
        outcome = WatchStep()
        try:
            on_disk = scan(self.folders)
            ready = self.sync.ready(on_disk)
            if ready:
                outcome.report = self.library.ingest(sorted(ready))
                for result in outcome.report.results:
                    path = Path(result.path)
                    if path in ready and result.status != "not processed":
                        self.sync.handed(path, ready[path])
                if outcome.report.aborted:
                    outcome.problem = outcome.report.aborted
                    return outcome
            for document in self.sync.gone(self.library.documents(), on_disk):
                self.library.remove(document)
                outcome.removed.append(document)
        except RagError as exc:  # a store down, another ingestion holding the lock: the next look retries
            outcome.problem = str(exc)
        finally:
            outcome.waiting = self.sync.waiting
        return outcome

    def run(self, on_step: Callable[[WatchStep], None]) -> None:
        """Look, report, wait for a change; until ``stop()`` (or KeyboardInterrupt, which propagates)."""
        observer = self._start_observer()
        try:
            while not self._stop.is_set():
                outcome = self.step()
                on_step(outcome)
                self._wake.wait(self._pause(outcome))
                self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _pause(self, outcome: WatchStep) -> float:
        if outcome.problem:
            return RETRY_SECONDS
        if outcome.waiting:
            return max(0.2, min(self.sync.settle / 2, self.poll or self.sync.settle))
        return self.poll if self.poll is not None else SAFETY_SCAN_SECONDS

    def _start_observer(self):  # noqa: ANN202 - a watchdog Observer, or None when polling
        if self.poll is not None:
            return None
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency; polling still works without it
            log.warning("watchdog is not installed: looking every %.0f s instead", SAFETY_SCAN_SECONDS)
            return None
        wake = self._wake

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                paths = (str(event.src_path), str(getattr(event, "dest_path", "") or ""))
                if event.is_directory or any(p.lower().endswith(".pdf") for p in paths):
                    wake.set()

        observer = Observer()
        try:
            for folder in self.folders:
                observer.schedule(Wake(), str(folder), recursive=True)
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit: fall back to looking now and then
            log.warning("cannot watch for file events (%s): looking every %.0f s instead", exc, SAFETY_SCAN_SECONDS)
            return None
        self.events = True
        return observer
