"""Reading PDFs for the pipeline, in this process or, a document or two ahead, in a worker process.

The pipeline asks for documents in its own order: ``submit(path)`` says a document will be wanted (a worker
starts reading it while the main process embeds the one before), ``take(path)`` returns it once read, and
``discard(path)`` drops one after all (a file found to be a duplicate). Both readers give the same
``ReadOutcome``: the ``ParsedDocument``, or the one-line reason a ``DocumentError`` gave.

``InProcessReader`` reads in ``take`` (what ``parse_workers=0`` picks). ``WorkerReader`` reads in one
worker process started with the "spawn" method (pdfium is not thread-safe, and a forked copy of a process
that runs torch threads is not safe either), on first need, so a run with nothing to read starts none:

- it may run ``niceness`` below the main process (``IngestOptions.parse_niceness``, default 0: a niced
  worker kept the main process waiting longer, measured with bench/parse_worker.py);

- the OCR engine lives in the worker: it is sent over unloaded and loads there on the first page that needs
  it; the pages OCR reads are reported back as they begin, for progress;
- the worker's log records are handed to the main process's loggers;
- Ctrl-C belongs to the main process (the worker ignores SIGINT): the KeyboardInterrupt unwinds the
  pipeline, and ``close`` stops the worker (terminate, then kill) before the ingestion lock is released;
- a worker that dies (pdfium crashing on a file) fails the file it was reading with a clear line; a new
  worker reads the rest. On Linux the worker also dies with the main process, even a SIGKILLed one.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Protocol

from ingest.ocr import OcrConfig, OcrEngine
from ingest.pdf_reader import OnOcrPage, read_pdf
from rag.errors import DocumentError
from rag.types import ParsedDocument

log = logging.getLogger(__name__)

ReadPdf = Callable[..., ParsedDocument]  # read_pdf's signature; another (module-level) function in tests
POLL_SECONDS = 0.2  # how often a waiting main process checks that the worker is alive
STOP_SECONDS = 5.0  # a worker told to stop gets this long before it is terminated


@dataclass(frozen=True)
class ReadOptions:
    """How every document of a run is read (the same for all of them; sent to a worker once)."""

    password: str | None = None
    max_pages: int = 5000
    max_file_mb: float = 200.0
    ocr: OcrConfig = OcrConfig()
    ocr_engine: OcrEngine | None = None  # None: read_pdf's default engine for ``ocr``
    read: ReadPdf = read_pdf
    niceness: int = 0  # a worker's priority below the main process's (os.nice): it then reads in the gaps


@dataclass(frozen=True)
class ReadOutcome:
    """A document read, or why it could not be (``reason``, one line); ``seconds`` the reader spent on it."""

    document: ParsedDocument | None
    reason: str = ""
    seconds: float = 0.0


def read_one(path: Path, options: ReadOptions, engine: OcrEngine | None, on_ocr_page: OnOcrPage | None) -> ReadOutcome:
    """Read one document; a ``DocumentError`` becomes the outcome's reason (any other error propagates)."""
    started = time.perf_counter()
    try:
        document = options.read(
            path,
            password=options.password,
            max_pages=options.max_pages,
            max_file_mb=options.max_file_mb,
            ocr=options.ocr,
            ocr_engine=engine,
            on_ocr_page=on_ocr_page,
        )
    except DocumentError as exc:
        return ReadOutcome(None, str(exc), time.perf_counter() - started)
    return ReadOutcome(document, "", time.perf_counter() - started)


class DocumentReader(Protocol):
    def submit(self, path: Path) -> None:
        """``path`` will be taken (start reading it when there is a worker)."""

    def discard(self, path: Path) -> None:
        """``path`` will not be taken after all."""

    def take(self, path: Path, on_ocr_page: OnOcrPage | None = None) -> ReadOutcome:
        """``path`` read (waiting for it when a worker is reading it)."""

    def close(self, interrupted: bool = False) -> None:
        """Stop reading (at once when ``interrupted``)."""


class InProcessReader:
    """Reads each document when it is taken, in this process."""

    def __init__(self, options: ReadOptions) -> None:
        self.options = options

    def submit(self, path: Path) -> None:
        pass

    def discard(self, path: Path) -> None:
        pass

    def take(self, path: Path, on_ocr_page: OnOcrPage | None = None) -> ReadOutcome:
        return read_one(path, self.options, self.options.ocr_engine, on_ocr_page)

    def close(self, interrupted: bool = False) -> None:
        pass

    def __enter__(self) -> "InProcessReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(interrupted=exc_type is not None)


# ------------------------------------------------------------------------------------------ the worker
# Messages, worker -> main: ("started", id), ("ocr", id, page, pages), ("done", id, ReadOutcome),
# ("bug", id, traceback text), ("log", record dict). Main -> worker: (id, path), or None to stop.


class _PipeLogHandler(logging.Handler):
    """Sends the worker's log records to the main process."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self._conn.send(("log", {"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                                     "msg": message, "pathname": record.pathname, "lineno": record.lineno,
                                     "funcName": record.funcName}))
        except Exception:  # noqa: BLE001 - a log line must never stop the reading
            pass


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this process when its parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def serve(conn: Connection, options: ReadOptions, log_level: int) -> None:
    """The worker's loop: read each requested document and send back what happened, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's: it stops this worker
    _die_with_parent()
    if options.niceness > 0:
        try:
            os.nice(options.niceness)
        except OSError:
            pass
    root = logging.getLogger()
    root.handlers[:] = [_PipeLogHandler(conn)]
    root.setLevel(log_level)
    engine = options.ocr_engine  # unpickled unloaded: its models load on the first page that needs them
    if engine is None and options.ocr.mode != "off":
        from ingest.ocr import RapidOcrEngine

        engine = RapidOcrEngine(options.ocr)  # one engine for every document, not one per document
    try:
        conn.send(("ready",))
    except OSError:
        return
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the main process is gone
            return
        if request is None:
            return
        request_id, path = request

        def on_ocr_page(page: int, pages: int, request_id: int = request_id) -> None:
            conn.send(("ocr", request_id, page, pages))

        try:
            conn.send(("started", request_id))
            try:
                outcome = read_one(Path(path), options, engine, on_ocr_page)
            except Exception:  # a bug: the main process shows the traceback
                conn.send(("bug", request_id, traceback.format_exc()))
                continue
            conn.send(("done", request_id, outcome))
        except (BrokenPipeError, EOFError, OSError):  # the main process is gone
            return


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class ReaderBug(RuntimeError):
    """The reader raised something other than a DocumentError in the worker: a bug (with its traceback)."""


@dataclass
class _Request:
    id: int
    path: Path
    discarded: bool = False


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    running: int | None = None  # the request it said it started and has not finished
    ready: bool = False  # it started up (a worker that dies before cannot start: reading falls back in-process)


@dataclass
class WorkerReader:
    """Reads documents in a worker process, in the order they were submitted (see the module docstring)."""

    options: ReadOptions
    _next_id: int = field(init=False, default=0)
    _pending: "deque[_Request]" = field(init=False, default_factory=deque)  # sent, not yet answered, in order
    _by_path: dict[Path, _Request] = field(init=False, default_factory=dict)
    _done: dict[int, ReadOutcome] = field(init=False, default_factory=dict)
    _worker: _Worker | None = field(init=False, default=None)
    _fallback: InProcessReader | None = field(init=False, default=None)  # when no worker can start
    workers_started: int = field(init=False, default=0)

    # --- the pipeline's side ------------------------------------------------------------------------
    def submit(self, path: Path) -> None:
        if path in self._by_path or self._fallback is not None:
            return
        request = _Request(self._next_id, path)
        self._next_id += 1
        self._by_path[path] = request
        self._pending.append(request)
        self._send(request)

    def discard(self, path: Path) -> None:
        request = self._by_path.pop(path, None)
        if request is not None:
            request.discarded = True
            self._done.pop(request.id, None)

    def take(self, path: Path, on_ocr_page: OnOcrPage | None = None) -> ReadOutcome:
        self.submit(path)
        request = self._by_path.pop(path, None)
        while request is not None and request.id not in self._done and self._fallback is None:
            self._receive(request.id, on_ocr_page)
        if request is not None and request.id in self._done:
            return self._done.pop(request.id)
        assert self._fallback is not None
        return self._fallback.take(path, on_ocr_page)

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id (None before the first document or after ``close``)."""
        return self._worker.process.pid if self._worker is not None else None

    def close(self, interrupted: bool = False) -> None:
        """Stop the worker: told to stop when it is idle, terminated when interrupted or still reading."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if not interrupted and not self._pending:  # idle: it stops by itself
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        self._pending.clear()

    def __enter__(self) -> "WorkerReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close(interrupted=exc_type is not None)

    # --- the worker's side --------------------------------------------------------------------------
    def _start(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=serve, args=(theirs, self.options, logging.getLogger().getEffectiveLevel()),
            name="rag-pdf-reader", daemon=True,
        )
        process.start()
        theirs.close()
        self.workers_started += 1
        log.debug("PDF reader worker started (pid %s)", process.pid)
        return _Worker(process, ours)

    def _send(self, request: _Request) -> None:
        if self._worker is None:
            self._worker = self._start()
        try:
            self._worker.conn.send((request.id, str(request.path)))
        except OSError:  # it died: _receive finds out and sends again to a new one
            pass

    def _receive(self, waiting_for: int, on_ocr_page: OnOcrPage | None) -> None:
        """Handle one message from the worker (or find it dead)."""
        worker = self._worker
        if worker is None:  # cannot happen: take() submits first, and a dead worker is replaced at once
            raise RuntimeError("no PDF reader worker to wait for")
        try:
            if not worker.conn.poll(POLL_SECONDS):
                if not worker.process.is_alive():
                    self._died(worker)
                return
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker)
            return
        kind, payload = message[0], message[1:]
        if kind == "ready":
            worker.ready = True
        elif kind == "log":
            record = logging.makeLogRecord(payload[0])
            logging.getLogger(record.name).handle(record)
        elif kind == "started":
            worker.running = payload[0]
        elif kind == "ocr":
            request_id, page, pages = payload
            if request_id == waiting_for and on_ocr_page is not None:
                on_ocr_page(page, pages)
        elif kind == "done":
            request_id, outcome = payload
            self._finish(request_id, outcome)
            worker.running = None
        elif kind == "bug":
            request_id, text = payload
            self._finish(request_id, None)
            worker.running = None
            raise ReaderBug(f"reading failed with an unexpected error in the worker process:\n{text}")

    def _finish(self, request_id: int, outcome: ReadOutcome | None) -> None:
        while self._pending and self._pending[0].id != request_id:  # cannot happen: answers come in order
            self._pending.popleft()
        if self._pending:
            request = self._pending.popleft()
            if not request.discarded and outcome is not None:
                self._done[request_id] = outcome

    def _died(self, worker: _Worker) -> None:
        """The worker is gone: the document it was reading fails; the others go to a new worker."""
        worker.process.join(STOP_SECONDS)
        how = _signal_name(worker.process.exitcode)
        worker.conn.close()
        self._worker = None
        if not worker.ready:  # it could not even start (spawn re-imports an unguarded __main__, say): no retries
            log.warning("the PDF reader worker could not start (%s); reading PDFs in this process instead", how)
            self._fallback = InProcessReader(self.options)
            self._pending.clear()
            return
        culprit = worker.running if worker.running is not None else (self._pending[0].id if self._pending else None)
        if culprit is not None:
            path = next((r.path for r in self._pending if r.id == culprit), None)
            log.warning("the PDF reader worker died (%s) reading %s; a new one reads the rest", how, path)
            self._finish(culprit, ReadOutcome(None, f"the PDF reader crashed on this file ({how})"))
        self._pending = deque(r for r in self._pending if not r.discarded)
        for request in self._pending:  # what is still wanted goes to a new worker, in the same order
            self._send(request)
