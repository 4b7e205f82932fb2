"""The catalog and the keyword index at 1,000 documents: every lookup still right, none of them a scan.

A synthetic library (1,000 documents of 5 chunks, real SQLite catalog and FTS5 index) is written once for
the module. No timing here (bench/catalog_scale.py prints the figures); instead the query plans of the
lookups the pipeline makes per file are checked to use an index, so their cost does not grow with the library
(a scan per file would make a folder's ingestion quadratic in its size).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.catalog import READY, Catalog
from rag.index.keyword.fts5 import Fts5Index
from rag.types import Chunk

DOCS = 1000
CHUNKS = 5
WORDS = ["granite", "harbour", "ledger", "turbine", "glacier", "orchard", "lantern", "meadow", "copper", "violin"]


def _doc_id(number: int) -> str:
    return f"{number:016x}"


def _path(number: int) -> str:
    return f"/library/{number % 7}/doc-{number:04d}.pdf"


def _chunks(number: int) -> list[Chunk]:
    doc_id = _doc_id(number)
    texts = [f"{WORDS[number % 10]} {WORDS[(number + i) % 10]} section {i} of document code{number}x" for i in range(CHUNKS)]
    return [Chunk(f"{doc_id}-{i}", doc_id, i, text, i + 1, i + 1, 0, len(text)) for i, text in enumerate(texts)]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("scale")
    catalog, keyword = Catalog(folder / "catalog.sqlite"), Fts5Index(folder / "keyword.sqlite")
    for number in range(DOCS):
        chunks = _chunks(number)
        catalog.add_pending(_doc_id(number), _path(number), _doc_id(number) * 4, f"Document {number}", CHUNKS, chunks, "v1")
        keyword.add(chunks)
        catalog.publish(_doc_id(number))
    yield catalog, keyword
    catalog.close()
    keyword.close()


def _plan(connection, sql: str, *params: object) -> str:  # noqa: ANN001
    return " | ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_listing_returns_every_document_once_in_path_order(library) -> None:
    catalog, keyword = library
    documents = catalog.documents()
    assert len(documents) == DOCS and len({d.doc_id for d in documents}) == DOCS
    assert [d.path for d in documents] == sorted(_path(n) for n in range(DOCS))
    assert catalog.ready_doc_ids() == keyword.doc_ids() == {_doc_id(n) for n in range(DOCS)}
    assert catalog.count_chunks() == keyword.count() == DOCS * CHUNKS
    assert catalog.unfinished() == []


def test_every_document_is_found_by_its_path_and_id(library) -> None:
    catalog, _ = library
    for number in (0, 1, 499, 777, DOCS - 1):
        [by_path] = catalog.by_path(_path(number))
        assert by_path.doc_id == _doc_id(number) and by_path.status == READY
        assert catalog.get(_doc_id(number)).path == _path(number)
        assert [c.text for c in catalog.chunks_of(_doc_id(number))] == [c.text for c in _chunks(number)]
    assert catalog.by_path("/library/missing.pdf") == [] and catalog.get("0" * 16 + "ff") is None


def test_a_keyword_search_finds_the_one_document_among_a_thousand(library) -> None:
    _, keyword = library
    hits = keyword.search("code777x", 10)
    assert {chunk_id.rsplit("-", 1)[0] for chunk_id, _ in hits} == {_doc_id(777)} and len(hits) == CHUNKS
    restricted = keyword.search("granite", 100, docs={_doc_id(10), _doc_id(20), _doc_id(11)})
    assert {chunk_id.rsplit("-", 1)[0] for chunk_id, _ in restricted} == {_doc_id(10), _doc_id(20)}


def test_the_lookups_made_per_file_use_an_index(library) -> None:
    catalog, keyword = library
    db = catalog._db
    per_file = {
        "by_path": _plan(db, "SELECT * FROM documents WHERE path = ?", _path(5)),
        "get": _plan(db, "SELECT * FROM documents WHERE doc_id = ?", _doc_id(5)),
        "chunks_of": _plan(db, "SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", _doc_id(5)),
        "chunk_at": _plan(db, "SELECT * FROM chunks WHERE doc_id = ? AND idx = ?", _doc_id(5), 1),
        "delete (with its chunks and OCR lines)": _plan(db, "DELETE FROM documents WHERE doc_id = ?", _doc_id(5)),
        "page_lines": _plan(db, "SELECT text FROM page_lines WHERE doc_id = ? AND page = ? ORDER BY idx", _doc_id(5), 1),
        "keyword rows of a document": _plan(keyword._conn, "SELECT row FROM chunk_meta WHERE doc_id IN (?)", _doc_id(5)),
        "keyword rows of chunks": _plan(keyword._conn, "SELECT row FROM chunk_meta WHERE chunk_id IN (?)", "x-1"),
    }
    scans = {name: plan for name, plan in per_file.items() if "SCAN" in plan and "USING" not in plan}
    assert not scans, f"full table scans per file: {scans}"
    indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "chunks_doc" in indexes  # page_lines is keyed by (doc_id, page, idx): its primary key serves


def test_replacing_and_removing_one_document_touches_only_it(library, tmp_path: Path) -> None:
    catalog, keyword = library
    number, new_id = 321, "f" * 16
    chunks = [Chunk(f"{new_id}-0", new_id, 0, "a rewritten page about code321x and marble", 1, 1, 0, 40)]
    catalog.add_pending(new_id, _path(number), new_id * 4, "Document 321, second edition", 1, chunks, "v1")
    keyword.add(chunks)
    catalog.publish(new_id, replaces=[_doc_id(number)])
    keyword.delete_document(_doc_id(number))
    catalog.delete(_doc_id(number))
    assert [d.doc_id for d in catalog.by_path(_path(number))] == [new_id]
    assert [cid for cid, _ in keyword.search("code321x", 10)] == [f"{new_id}-0"]
    assert len(catalog.documents()) == DOCS and catalog.count_chunks() == keyword.count() == (DOCS - 1) * CHUNKS + 1
