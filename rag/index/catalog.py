"""The catalog (SQLite): which documents exist, which version, which chunks. The source of truth.

A document is written in three steps so that nothing is ever half-visible:
``pending`` (catalog rows written) -> keyword and vector stores written -> ``ready``. Removal marks the row
``deleting`` before the stores are cleaned. Any row that is not ``ready`` after a crash is found by
``unfinished()`` and repaired by the ingestion pipeline; searches only ever see ``ready`` documents.

Each document also keeps the report of how it was read (``reading``, JSON: pages OCR'd, garbled, empty,
scripts) and, for OCR'd pages, the lines OCR read with their boxes (``page_lines``: to mark a cited sentence
on a page without a text layer). Catalogs made before a column existed get it on open (``_migrate``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

from rag.types import Chunk, DocumentRecord, ReadingReport, TextLine

READY = "ready"
PENDING = "pending"
DELETING = "deleting"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    title       TEXT NOT NULL,
    pages       INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    status      TEXT NOT NULL,
    ingested_at REAL NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    page_labels TEXT NOT NULL DEFAULT '{}',
    reading     TEXT
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id   TEXT PRIMARY KEY,
    doc_id     TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    text       TEXT NOT NULL,
    page_start INTEGER NOT NULL,
    page_end   INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end   INTEGER NOT NULL,
    section    TEXT
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, idx);
CREATE TABLE IF NOT EXISTS page_lines (
    doc_id  TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    page    INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    text    TEXT NOT NULL,
    left_pt REAL NOT NULL,
    bottom  REAL NOT NULL,
    right_pt REAL NOT NULL,
    top     REAL NOT NULL,
    PRIMARY KEY (doc_id, page, idx)
);
"""


# Columns added after the first release: (name, declaration). Older catalogs get them when opened.
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reading", "TEXT"),  # the ReadingReport as JSON; NULL for documents ingested before it existed
)


def _reading(value: str | None) -> ReadingReport | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return ReadingReport.from_dict(data) if isinstance(data, dict) else None


def _record(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        doc_id=row["doc_id"],
        path=row["path"],
        sha256=row["sha256"],
        title=row["title"],
        pages=row["pages"],
        chunks=row["chunks"],
        status=row["status"],
        ingested_at=row["ingested_at"],
        fingerprint=row["fingerprint"],
        reading=_reading(row["reading"]),
    )


def _chunk(row: sqlite3.Row) -> Chunk:
    return Chunk(
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        index=row["idx"],
        text=row["text"],
        page_start=row["page_start"],
        page_end=row["page_end"],
        char_start=row["char_start"],
        char_end=row["char_end"],
        section=row["section"],
    )


class Catalog:
    """Documents and chunks in one SQLite file (WAL: one writer, many readers across processes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns a catalog made by an older version lacks (existing rows get NULL)."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in present:
                try:
                    self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} {declaration}")
                except sqlite3.OperationalError as exc:  # another process added it a moment ago
                    if "duplicate column" not in str(exc):
                        raise

    def close(self) -> None:
        self._db.close()

    # --- writing ----------------------------------------------------------------------------------
    def add_pending(
        self,
        doc_id: str,
        path: str,
        sha256: str,
        title: str,
        pages: int,
        chunks: Sequence[Chunk],
        fingerprint: str,
        page_labels: dict[int, str] | None = None,
        reading: ReadingReport | None = None,
        page_lines: dict[int, Sequence[TextLine]] | None = None,
    ) -> None:
        """Write a document and its chunks (and the OCR'd lines of its pages) as ``pending`` in one transaction
        (replacing any same-id rows)."""
        with self._transaction():
            self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._db.execute(
                "INSERT INTO documents (doc_id, path, sha256, title, pages, chunks, status, ingested_at, "
                "fingerprint, page_labels, reading) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    doc_id,
                    path,
                    sha256,
                    title,
                    pages,
                    len(chunks),
                    PENDING,
                    time.time(),
                    fingerprint,
                    json.dumps({str(k): v for k, v in (page_labels or {}).items()}),
                    json.dumps(reading.as_dict(), ensure_ascii=False) if reading is not None else None,
                ),
            )
            self._db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (c.chunk_id, c.doc_id, c.index, c.text, c.page_start, c.page_end, c.char_start, c.char_end, c.section)
                    for c in chunks
                ],
            )
            self._db.executemany(
                "INSERT INTO page_lines VALUES (?,?,?,?,?,?,?,?)",
                [
                    (doc_id, page, i, line.text, line.left, line.bottom, line.right, line.top)
                    for page, lines in (page_lines or {}).items()
                    for i, line in enumerate(lines)
                ],
            )

    def publish(self, doc_id: str, replaces: Iterable[str] = ()) -> None:
        """Make a pending document visible and, in the same transaction, hide the versions it replaces."""
        with self._transaction():
            self._db.execute("UPDATE documents SET status = ? WHERE doc_id = ?", (READY, doc_id))
            for old in replaces:
                if old != doc_id:
                    self._db.execute("UPDATE documents SET status = ? WHERE doc_id = ?", (DELETING, old))

    def relocate(self, doc_id: str, path: str) -> None:
        """The same file content now lives at another path (the file was moved or renamed)."""
        self._db.execute("UPDATE documents SET path = ? WHERE doc_id = ?", (path, doc_id))

    def set_fingerprint(self, doc_id: str, fingerprint: str) -> None:
        """What now produced the document's index entries (after its keyword entries were rebuilt)."""
        self._db.execute("UPDATE documents SET fingerprint = ? WHERE doc_id = ?", (fingerprint, doc_id))

    def mark_deleting(self, doc_id: str) -> None:
        self._db.execute("UPDATE documents SET status = ? WHERE doc_id = ?", (DELETING, doc_id))

    def delete(self, doc_id: str) -> None:
        """Remove a document and its chunks (call after the stores are cleaned)."""
        with self._transaction():
            self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    # --- reading ----------------------------------------------------------------------------------
    def get(self, doc_id: str) -> DocumentRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return _record(row) if row else None

    def by_path(self, path: str) -> list[DocumentRecord]:
        rows = self._db.execute("SELECT * FROM documents WHERE path = ?", (path,)).fetchall()
        return [_record(r) for r in rows]

    def documents(self, status: str | None = READY) -> list[DocumentRecord]:
        if status is None:
            rows = self._db.execute("SELECT * FROM documents ORDER BY path").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM documents WHERE status = ? ORDER BY path", (status,)).fetchall()
        return [_record(r) for r in rows]

    def unfinished(self) -> list[DocumentRecord]:
        """Documents left pending or half-deleted by an interrupted run."""
        rows = self._db.execute("SELECT * FROM documents WHERE status != ?", (READY,)).fetchall()
        return [_record(r) for r in rows]

    def ready_doc_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT doc_id FROM documents WHERE status = ?", (READY,))}

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id (only those that exist)."""
        found: dict[str, Chunk] = {}
        ids = list(chunk_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(f"SELECT * FROM chunks WHERE chunk_id IN ({marks})", part):
                found[row["chunk_id"]] = _chunk(row)
        return found

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._db.execute("SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,)).fetchall()
        return [_chunk(r) for r in rows]

    def chunk_at(self, doc_id: str, index: int) -> Chunk | None:
        row = self._db.execute("SELECT * FROM chunks WHERE doc_id = ? AND idx = ?", (doc_id, index)).fetchone()
        return _chunk(row) if row else None

    def page_labels(self, doc_id: str) -> dict[int, str]:
        row = self._db.execute("SELECT page_labels FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return {int(k): v for k, v in json.loads(row[0]).items()} if row else {}

    def page_lines(self, doc_id: str, page: int) -> list[TextLine]:
        """The lines OCR read on page ``page`` of a document, with their boxes (empty for text-layer pages)."""
        rows = self._db.execute(
            "SELECT text, left_pt, bottom, right_pt, top FROM page_lines WHERE doc_id = ? AND page = ? ORDER BY idx",
            (doc_id, page),
        ).fetchall()
        return [TextLine(*row) for row in rows]

    def count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # --- helpers ----------------------------------------------------------------------------------
    def _transaction(self) -> "_Tx":
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
