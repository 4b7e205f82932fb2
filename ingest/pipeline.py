"""The ingestion pipeline: files -> pages -> chunks -> embeddings -> every store, idempotently.

- An unchanged file (same content, same chunking and embedding settings) is skipped.
- A changed file replaces exactly its old chunks in every store, and only once the new version is ready;
  a new version that cannot be read leaves the old one in place.
- A broken file gets a one-line reason and the batch goes on; a store that goes down stops the batch
  (every later file would fail the same way) and the next run repairs and resumes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

from ingest.chunking import chunk_document
from ingest.lock import IngestLock
from ingest.ocr import OcrConfig, OcrEngine
from ingest.pdf_reader import read_pdf
from rag.analysis import ANALYZER_VERSION
from rag.errors import BackendUnavailable, DocumentError
from rag.index.embeddings import PassageEmbedder
from rag.index.stores import Stores
from rag.types import ReadingReport, doc_id_for

log = logging.getLogger(__name__)

Status = Literal["added", "replaced", "unchanged", "duplicate", "moved", "failed", "not processed"]


@dataclass(frozen=True)
class IngestOptions:
    chunk_tokens: int = 256
    chunk_overlap: float = 0.15
    max_pages: int = 5000
    max_file_mb: float = 200.0
    password: str | None = None
    ocr: OcrConfig = OcrConfig()


@dataclass(frozen=True)
class FileResult:
    path: str
    status: Status
    doc_id: str | None = None
    title: str = ""
    pages: int = 0
    chunks: int = 0
    reason: str = ""
    reading: ReadingReport | None = None  # how the document was read (None: not read by this run's code)


@dataclass
class StageTimes:
    parse: float = 0.0
    chunk: float = 0.0
    embed: float = 0.0
    index: float = 0.0

    @property
    def total(self) -> float:
        return self.parse + self.chunk + self.embed + self.index


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    aborted: str = ""  # set when a store went down and the batch stopped

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status in ("failed", "not processed")]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.aborted

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def pages(self) -> int:
        return sum(r.pages for r in self.results if r.status in ("added", "replaced"))

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "replaced"))

    @property
    def ocr_pages(self) -> int:
        return sum(r.reading.ocr_pages for r in self.results if r.reading and r.status in ("added", "replaced"))

    @property
    def tables(self) -> int:
        return sum(r.reading.tables for r in self.results if r.reading and r.status in ("added", "replaced"))


@dataclass(frozen=True)
class IngestEvent:
    """Progress for a user interface: ``kind`` is "start" (files known), "file" (a file begins), "ocr" (a page
    of the file is about to be read by OCR: ``page`` of ``pages_total``; OCR takes seconds a page) or "done"."""

    kind: Literal["start", "file", "ocr", "done"]
    files_total: int = 0
    path: str = ""
    result: FileResult | None = None
    page: int = 0
    pages_total: int = 0


def fingerprint(options: IngestOptions, embedder_name: str, analyzer_version: int) -> str:
    """What produced a document's chunks and index entries (chunking, embedding model, keyword analyzer, OCR
    mode): when it changes, the document is re-ingested. The OCR mode counts only when it is not the
    default, so documents ingested before OCR existed are not all read again for it."""
    ocr = "" if options.ocr.mode == "auto" else f";ocr={options.ocr.mode}"
    return (f"v1;chunk={options.chunk_tokens};overlap={options.chunk_overlap};embed={embedder_name};"
            f"analyzer={analyzer_version}{ocr}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class IngestPipeline:
    def __init__(
        self,
        stores: Stores,
        embedder: PassageEmbedder,
        options: IngestOptions,
        lock_path: Path,
        ocr_engine: OcrEngine | None = None,
    ) -> None:
        self.stores = stores
        self.embedder = embedder
        self.options = options
        self.lock_path = lock_path
        self.ocr_engine = ocr_engine
        self._fingerprint = fingerprint(options, embedder.name, ANALYZER_VERSION)
        self._emit: Callable[[IngestEvent], None] = lambda event: None

    def run(self, files: Sequence[Path], on_event: Callable[[IngestEvent], None] | None = None) -> IngestReport:
        """Ingest files under the ingestion lock (raises IngestLocked when another run holds it)."""
        emit = on_event or (lambda event: None)
        self._emit = emit
        report = IngestReport()
        with IngestLock(self.lock_path):
            queue = [Path(f).resolve() for f in files]
            for record in self.stores.repair():
                report.repaired.append(record.path)
                resumed = Path(record.path)
                if resumed.is_file() and resumed not in queue:
                    queue.append(resumed)
            emit(IngestEvent("start", files_total=len(queue)))
            for position, path in enumerate(queue):
                emit(IngestEvent("file", files_total=len(queue), path=str(path)))
                try:
                    result = self._ingest_one(path, report.times)
                except BackendUnavailable as exc:
                    report.aborted = str(exc)
                    result = FileResult(str(path), "failed", reason=str(exc))
                    report.results.append(result)
                    emit(IngestEvent("done", files_total=len(queue), path=str(path), result=result))
                    for rest in queue[position + 1 :]:
                        report.results.append(FileResult(str(rest), "not processed", reason="a store is down"))
                    break
                report.results.append(result)
                emit(IngestEvent("done", files_total=len(queue), path=str(path), result=result))
        return report

    def remove(self, doc_id: str) -> None:
        with IngestLock(self.lock_path):
            self.stores.remove_document(doc_id)

    def _ingest_one(self, path: Path, times: StageTimes) -> FileResult:
        catalog = self.stores.catalog
        name = str(path)
        try:
            if not path.is_file():
                raise DocumentError("file not found")
            sha = file_sha256(path)
        except OSError as exc:
            return FileResult(name, "failed", reason=f"cannot read file: {exc.strerror or exc}")
        except DocumentError as exc:
            return FileResult(name, "failed", reason=str(exc))

        doc_id = doc_id_for(sha)
        previous = catalog.by_path(name)
        for record in previous:
            if record.sha256 == sha and record.fingerprint == self._fingerprint:
                return FileResult(name, "unchanged", record.doc_id, record.title, record.pages, record.chunks,
                                  reading=record.reading)
        twin = catalog.get(doc_id)
        if twin is not None and twin.path != name and twin.fingerprint == self._fingerprint:
            if Path(twin.path).exists():
                return FileResult(
                    name, "duplicate", twin.doc_id, twin.title, twin.pages, twin.chunks, f"same content as {twin.path}"
                )
            catalog.relocate(doc_id, name)
            return FileResult(name, "moved", twin.doc_id, twin.title, twin.pages, twin.chunks, f"moved from {twin.path}")

        started = time.perf_counter()

        def on_ocr_page(page: int, pages_total: int) -> None:
            self._emit(IngestEvent("ocr", path=name, page=page, pages_total=pages_total))

        try:
            document = read_pdf(
                path,
                password=self.options.password,
                max_pages=self.options.max_pages,
                max_file_mb=self.options.max_file_mb,
                ocr=self.options.ocr,
                ocr_engine=self.ocr_engine,
                on_ocr_page=on_ocr_page,
            )
        except DocumentError as exc:
            times.parse += time.perf_counter() - started
            return FileResult(name, "failed", reason=str(exc))
        times.parse += time.perf_counter() - started

        started = time.perf_counter()
        chunks = chunk_document(
            document,
            self.embedder.count_tokens,
            chunk_tokens=self.options.chunk_tokens,
            overlap=self.options.chunk_overlap,
        )
        times.chunk += time.perf_counter() - started
        if not chunks:
            return FileResult(name, "failed", reason="no text to index", reading=document.reading)

        started = time.perf_counter()
        vectors = self.embedder.embed_passages([c.text for c in chunks])
        times.embed += time.perf_counter() - started

        started = time.perf_counter()
        replaces = [r.doc_id for r in previous]
        if twin is not None and twin.doc_id not in replaces:
            replaces.append(twin.doc_id)  # same content produced with other settings: rebuild it
        if doc_id in replaces:
            self.stores.remove_document(doc_id)  # same ids would collide: clear them first
        self.stores.write_document(
            doc_id=doc_id,
            path=name,
            sha256=sha,
            title=document.title,
            pages=len(document.pages),
            chunks=chunks,
            vectors=vectors,
            fingerprint=self._fingerprint,
            page_labels={p.number: p.label for p in document.pages if p.label},
            replaces=[r for r in replaces if r != doc_id],
            reading=document.reading,
            page_lines={p.number: p.lines for p in document.pages if p.lines},
        )
        times.index += time.perf_counter() - started
        status: Status = "replaced" if previous else "added"
        log.info("%s %s: %d pages, %d chunks", status, name, len(document.pages), len(chunks))
        return FileResult(name, status, doc_id, document.title, len(document.pages), len(chunks),
                          reading=document.reading)
