"""The catalog is the source of truth: what is ready is visible, everything else is repairable."""

from pathlib import Path

from rag.index.catalog import DELETING, PENDING, READY, Catalog
from rag.types import Chunk, chunk_id_for


def _chunks(doc_id: str, n: int = 3) -> list[Chunk]:
    return [
        Chunk(chunk_id_for(doc_id, i), doc_id, i, f"text {i}", i + 1, i + 1, i * 10, i * 10 + 6, None)
        for i in range(n)
    ]


def _add(catalog: Catalog, doc_id: str, path: str = "/docs/a.pdf") -> None:
    catalog.add_pending(doc_id, path, doc_id * 4, "Title", 3, _chunks(doc_id), "fp", {1: "i"})


def test_a_pending_document_is_not_ready(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "d1")
    assert catalog.ready_doc_ids() == set()
    assert [r.status for r in catalog.unfinished()] == [PENDING]


def test_publish_makes_a_document_ready(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "d1")
    catalog.publish("d1")
    assert catalog.ready_doc_ids() == {"d1"}
    assert catalog.get("d1").status == READY


def test_publish_hides_replaced_versions_in_the_same_step(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "old")
    catalog.publish("old")
    _add(catalog, "new")
    catalog.publish("new", replaces=["old"])
    assert catalog.ready_doc_ids() == {"new"}
    assert catalog.get("old").status == DELETING


def test_chunks_are_returned_by_id_and_in_document_order(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "d1")
    wanted = [chunk_id_for("d1", 2), chunk_id_for("d1", 0), "missing"]
    assert set(catalog.chunks(wanted)) == {chunk_id_for("d1", 2), chunk_id_for("d1", 0)}
    assert [c.index for c in catalog.chunks_of("d1")] == [0, 1, 2]


def test_deleting_a_document_deletes_its_chunks(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "d1")
    catalog.delete("d1")
    assert catalog.get("d1") is None
    assert catalog.count_chunks() == 0


def test_page_labels_survive_a_reopen(tmp_path: Path) -> None:
    Catalog(tmp_path / "c.db").add_pending("d1", "/a.pdf", "x" * 64, "T", 1, _chunks("d1", 1), "fp", {1: "iv"})
    assert Catalog(tmp_path / "c.db").page_labels("d1") == {1: "iv"}


def test_relocate_moves_a_document_to_its_new_path(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    _add(catalog, "d1", "/old/a.pdf")
    catalog.relocate("d1", "/new/a.pdf")
    assert [r.doc_id for r in catalog.by_path("/new/a.pdf")] == ["d1"]


# --- reading reports and the migration of older catalogs --------------------------------------------
OLD_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL, title TEXT NOT NULL,
    pages INTEGER NOT NULL, chunks INTEGER NOT NULL, status TEXT NOT NULL, ingested_at REAL NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '', page_labels TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, text TEXT NOT NULL, page_start INTEGER NOT NULL, page_end INTEGER NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, section TEXT
);
INSERT INTO documents VALUES ('old1', '/docs/old.pdf', 'x', 'Old', 2, 0, 'ready', 0.0, 'fp', '{}');
"""


def test_a_catalog_from_before_reading_reports_gets_the_column_and_keeps_its_documents(tmp_path: Path) -> None:
    import sqlite3

    from rag.types import ReadingReport

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    catalog = Catalog(path)
    [old] = catalog.documents()
    assert (old.doc_id, old.title, old.reading) == ("old1", "Old", None)  # unknown, not invented
    report = ReadingReport(pages=3, text_layer_pages=1, ocr_pages=2, scripts={"latin": 1.0}, ocr="auto")
    catalog.add_pending("new1", "/docs/scan.pdf", "y" * 64, "Scan", 3, _chunks("new1"), "fp", None, report)
    catalog.publish("new1")
    catalog.close()
    reopened = Catalog(path)  # a second open finds the column there: no error, nothing lost
    assert {d.doc_id: d.reading for d in reopened.documents()} == {"old1": None, "new1": report}
