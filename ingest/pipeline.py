"""The ingestion pipeline: files -> pages -> chunks -> embeddings -> every store, idempotently.

- An unchanged file (same content, same chunking and embedding settings) is skipped.
- A changed file replaces exactly its old chunks in every store, and only once the new version is ready;
  a new version that cannot be read leaves the old one in place.
- A broken file gets a one-line reason and the batch goes on; a store that goes down stops the batch
  (every later file would fail the same way) and the next run repairs and resumes.
- PDFs are read a document or two ahead in a worker process (``ingest.readers``) while this process chunks,
  embeds and writes the one before; every decision above and every store write is made here, in file order,
  exactly as when reading in this process (``parse_workers=0``).
- Before the first file, every file is hashed and the pages of those that will be read are counted, so the
  progress events (``ingest.progress``) give pages done of a known total, pages/s and the time left.
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
from ingest.pdf_reader import count_pages, read_pdf
from ingest.progress import Clock, Progress, ProgressMeter
from ingest.readers import DocumentReader, InProcessReader, ReadOptions, ReadPdf, WorkerReader
from rag.analysis import ANALYZER_VERSION
from rag.errors import BackendUnavailable, DocumentError
from rag.index.embeddings import PassageEmbedder
from rag.index.labels import DocumentLabel, passage_to_embed
from rag.index.stores import Stores
from rag.types import DocumentRecord, ParsedDocument, ReadingReport, doc_id_for

log = logging.getLogger(__name__)

Status = Literal["added", "replaced", "reindexed", "unchanged", "duplicate", "moved", "failed", "not processed"]


@dataclass(frozen=True)
class IngestOptions:
    chunk_tokens: int = 256
    chunk_overlap: float = 0.15
    keep_tables: bool = False  # never cut a table that fits a chunk (ingest.chunking.chunk_document)
    max_pages: int = 5000
    max_file_mb: float = 200.0
    password: str | None = None
    ocr: OcrConfig = OcrConfig()
    parse_workers: int = 1  # 0: read PDFs in this process; 1 (or more: one is enough): in a worker process
    parse_ahead: int = 2  # documents read ahead of the one being embedded (each is held in memory until its turn)
    parse_niceness: int = 0  # the worker's priority below this process's (nice 10 measured slower: bench/parse_worker.py)


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
    """Progress for a user interface: ``kind`` is "start" (files and their pages known), "file" (a file
    begins), "ocr" (a page of the file is about to be read by OCR: ``page`` of ``pages_total``; OCR takes
    seconds a page) or "done". Every event carries ``progress``: the folder's pages done of the pages to
    read, pages/s and the time left (``ingest.progress``)."""

    kind: Literal["start", "file", "ocr", "done"]
    files_total: int = 0
    path: str = ""
    result: FileResult | None = None
    page: int = 0
    pages_total: int = 0
    progress: Progress | None = None


def fingerprint(options: IngestOptions, embedder_name: str, analyzer_version: int) -> str:
    """What produced a document's chunks and index entries (chunking, embedding model and what it reads: each
    chunk after its document's label, keyword analyzer, OCR mode): when it changes, the document is
    re-ingested (only its keyword entries are rebuilt when the analyzer alone changed). The OCR mode and
    keeping tables whole count only when they are not the default, so documents ingested before either
    existed are not all read again."""
    ocr = "" if options.ocr.mode == "auto" else f";ocr={options.ocr.mode}"
    tables = ";tables=kept" if options.keep_tables else ""
    return (f"v1;chunk={options.chunk_tokens};overlap={options.chunk_overlap};embed={embedder_name}+label;"
            f"analyzer={analyzer_version}{ocr}{tables}")


def keyword_only_change(old: str, new: str) -> bool:
    """Whether two fingerprints differ in the keyword analyzer alone: the chunks and their vectors still hold,
    only the keyword index's entries need rebuilding from the catalog's chunks (seconds, nothing re-embedded)."""
    def parts(fingerprint: str) -> dict[str, str]:
        return dict(part.partition("=")[::2] for part in fingerprint.split(";"))

    before, after = parts(old), parts(new)
    analyzer = "analyzer"
    return (before.get(analyzer) != after.get(analyzer) and analyzer in before
            and {k: v for k, v in before.items() if k != analyzer} == {k: v for k, v in after.items() if k != analyzer})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Plan:
    """What a file of the batch looks like before its turn: its content hash (when it could be read), whether
    it will be read (not unchanged, a duplicate or moved, as the catalog stands now) and its page count."""

    sha: str | None
    stat: tuple[int, int] | None  # (size, mtime_ns) when hashed
    read: bool
    pages: int


@dataclass(frozen=True)
class _Skip:
    """A file that needs no reading: unchanged, a duplicate of a document at another path, moved, or indexed by
    another keyword analyzer (its keyword entries are rebuilt)."""

    result: FileResult
    relocate: str | None = None  # doc_id to move to the file's path ("moved")
    reindex: str | None = None  # doc_id whose keyword entries to rebuild ("reindexed": only the analyzer changed)


@dataclass(frozen=True)
class _Read:
    """A file to read: its document id, the versions it replaces."""

    doc_id: str
    sha: str
    previous: list[DocumentRecord]
    twin: DocumentRecord | None


class IngestPipeline:
    """Files -> every store (see the module docstring). Documents are read ``options.parse_ahead`` ahead by
    a worker process (``options.parse_workers``; 0 reads them in this process) while this process chunks,
    embeds and writes the one before; every store write and every catalog decision stays in this process,
    in file order. ``read`` is the function that reads a PDF (module-level, so a worker can import it);
    ``clock`` times the progress (injected by tests)."""

    def __init__(
        self,
        stores: Stores,
        embedder: PassageEmbedder,
        options: IngestOptions,
        lock_path: Path,
        ocr_engine: OcrEngine | None = None,
        read: ReadPdf = read_pdf,
        clock: Clock = time.monotonic,
    ) -> None:
        self.stores = stores
        self.embedder = embedder
        self.options = options
        self.lock_path = lock_path
        self.ocr_engine = ocr_engine
        self.read = read
        self.clock = clock
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
            plans = self._plan(queue)
            meter = ProgressMeter(sum(p.pages for p in plans if p.read), files_total=len(queue), clock=self.clock)
            total = len(queue)
            emit(IngestEvent("start", files_total=total, progress=meter.snapshot()))
            with self._reader() as reader:
                for position, path in enumerate(queue):
                    self._read_ahead(reader, queue, plans, position)
                    meter.begin(path.name)
                    emit(IngestEvent("file", files_total=total, path=str(path), progress=meter.snapshot()))
                    try:
                        result = self._ingest_one(path, plans[position], report.times, reader, meter, total)
                    except BackendUnavailable as exc:
                        report.aborted = str(exc)
                        result = FileResult(str(path), "failed", reason=str(exc))
                        report.results.append(result)
                        meter.end(plans[position].pages if plans[position].read else 0, None)
                        emit(IngestEvent("done", files_total=total, path=str(path), result=result,
                                         progress=meter.snapshot()))
                        for rest in queue[position + 1 :]:
                            report.results.append(FileResult(str(rest), "not processed", reason="a store is down"))
                        break
                    report.results.append(result)
                    read = result.status in ("added", "replaced")
                    meter.end(plans[position].pages if plans[position].read else 0, result.pages if read else None)
                    emit(IngestEvent("done", files_total=total, path=str(path), result=result, progress=meter.snapshot()))
        return report

    def remove(self, doc_id: str) -> None:
        with IngestLock(self.lock_path):
            self.stores.remove_document(doc_id)

    # --- before reading ---------------------------------------------------------------------------
    def _plan(self, queue: Sequence[Path]) -> list[_Plan]:
        """Each file's hash, whether it will be read and its page count (a fast count: no page is parsed)."""
        plans = []
        seen: set[str] = set()
        for path in queue:
            try:
                info = path.stat()
                sha = file_sha256(path)
            except OSError:
                plans.append(_Plan(None, None, False, 0))  # its turn gives the reason
                continue
            stat = (info.st_size, info.st_mtime_ns)
            if sha in seen or isinstance(self._decide(str(path), sha), _Skip):
                plans.append(_Plan(sha, stat, False, 0))
                continue
            seen.add(sha)
            plans.append(_Plan(sha, stat, True, count_pages(path, self.options.password)))
        return plans

    def _decide(self, name: str, sha: str) -> _Skip | _Read:
        """Unchanged, a duplicate, moved (no reading), or to read; changes nothing."""
        catalog = self.stores.catalog
        doc_id = doc_id_for(sha)
        previous = catalog.by_path(name)
        for record in previous:
            if record.sha256 == sha and record.fingerprint == self._fingerprint:
                return _Skip(FileResult(name, "unchanged", record.doc_id, record.title, record.pages, record.chunks,
                                        reading=record.reading))
            if record.sha256 == sha and keyword_only_change(record.fingerprint, self._fingerprint):
                return _Skip(FileResult(name, "reindexed", record.doc_id, record.title, record.pages, record.chunks,
                                        "keyword index rebuilt for the new analyzer; nothing re-embedded",
                                        reading=record.reading), reindex=record.doc_id)
        twin = catalog.get(doc_id)
        if twin is not None and twin.path != name and twin.fingerprint == self._fingerprint:
            if Path(twin.path).exists():
                return _Skip(FileResult(name, "duplicate", twin.doc_id, twin.title, twin.pages, twin.chunks,
                                        f"same content as {twin.path}"))
            return _Skip(FileResult(name, "moved", twin.doc_id, twin.title, twin.pages, twin.chunks,
                                    f"moved from {twin.path}"), relocate=doc_id)
        return _Read(doc_id, sha, previous, twin)

    def _reader(self) -> DocumentReader:
        options = ReadOptions(
            password=self.options.password,
            max_pages=self.options.max_pages,
            max_file_mb=self.options.max_file_mb,
            ocr=self.options.ocr,
            ocr_engine=self.ocr_engine,
            read=self.read,
            niceness=self.options.parse_niceness,
        )
        return WorkerReader(options) if self.options.parse_workers > 0 else InProcessReader(options)

    def _read_ahead(self, reader: DocumentReader, queue: Sequence[Path], plans: Sequence[_Plan], position: int) -> None:
        """Ask for the file at ``position`` and the next ``parse_ahead`` files to read."""
        ahead = 0
        for index in range(position, len(queue)):
            if plans[index].read:
                reader.submit(queue[index])
                if index > position:
                    ahead += 1
                if ahead >= self.options.parse_ahead:
                    break

    # --- one file ---------------------------------------------------------------------------------
    def _ingest_one(
        self, path: Path, plan: _Plan, times: StageTimes, reader: DocumentReader, meter: ProgressMeter, total: int
    ) -> FileResult:
        name = str(path)
        try:
            if not path.is_file():
                raise DocumentError("file not found")
            info = path.stat()
            same = plan.sha is not None and plan.stat == (info.st_size, info.st_mtime_ns)
            sha = plan.sha if same and plan.sha is not None else file_sha256(path)
        except OSError as exc:
            reader.discard(path)
            return FileResult(name, "failed", reason=f"cannot read file: {exc.strerror or exc}")
        except DocumentError as exc:
            reader.discard(path)
            return FileResult(name, "failed", reason=str(exc))

        decision = self._decide(name, sha)
        if isinstance(decision, _Skip):
            reader.discard(path)
            if decision.relocate is not None:
                self.stores.relocate(decision.relocate, name)
            if decision.reindex is not None:
                self.stores.reindex_keywords(decision.reindex, self._fingerprint)
            return decision.result

        def on_ocr_page(page: int, pages_total: int) -> None:
            meter.ocr_page()
            self._emit(IngestEvent("ocr", files_total=total, path=name, page=page, pages_total=pages_total,
                                   progress=meter.snapshot()))

        started = time.perf_counter()
        outcome = reader.take(path, on_ocr_page)
        times.parse += time.perf_counter() - started
        document = outcome.document
        if document is None:
            return FileResult(name, "failed", reason=outcome.reason)
        if document.sha256 != sha:  # the file changed after it was hashed: what was read decides
            log.info("%s changed while it was being read; ingesting what was read", name)
            decision = self._decide(name, document.sha256)
            if isinstance(decision, _Skip):
                if decision.relocate is not None:
                    self.stores.catalog.relocate(decision.relocate, name)
                return decision.result
        return self._store(name, document, decision, times)

    def _store(self, name: str, document: ParsedDocument, decision: _Read, times: StageTimes) -> FileResult:
        started = time.perf_counter()
        chunks = chunk_document(
            document,
            self.embedder.count_tokens,
            chunk_tokens=self.options.chunk_tokens,
            overlap=self.options.chunk_overlap,
            keep_tables=self.options.keep_tables,
        )
        times.chunk += time.perf_counter() - started
        if not chunks:
            return FileResult(name, "failed", reason="no text to index", reading=document.reading)

        started = time.perf_counter()
        label = DocumentLabel(Path(name).name, document.title)
        vectors = self.embedder.embed_passages([passage_to_embed(label, c.text) for c in chunks])
        times.embed += time.perf_counter() - started

        started = time.perf_counter()
        doc_id, previous, twin = decision.doc_id, decision.previous, decision.twin
        replaces = [r.doc_id for r in previous]
        if twin is not None and twin.doc_id not in replaces:
            replaces.append(twin.doc_id)  # same content produced with other settings: rebuild it
        if doc_id in replaces:
            self.stores.remove_document(doc_id)  # same ids would collide: clear them first
        self.stores.write_document(
            doc_id=doc_id,
            path=name,
            sha256=decision.sha,
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
