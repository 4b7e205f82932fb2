"""The embedded Chroma vector store: cosine search over chunk embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.index.vectors import ChromaStore
from rag.types import Chunk, chunk_id_for


def chunk(index: int) -> Chunk:
    return Chunk(chunk_id_for("doc", index), "doc", index, f"text {index}", 1, 1, 0, 6)


@pytest.fixture
def store(tmp_path: Path) -> ChromaStore:
    return ChromaStore.embedded(tmp_path / "chroma", "test-chunks")


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_searching_an_empty_store_returns_nothing(store: ChromaStore):
    assert store.search(unit(1, 0, 0), 50) == []


def test_a_limit_above_the_stored_count_returns_every_chunk_best_first(store: ChromaStore):
    store.add([chunk(0), chunk(1), chunk(2)], np.stack([unit(0, 1, 0), unit(1, 0, 0), unit(1, 1, 0)]))
    results = store.search(unit(1, 0, 0), 50)
    assert [chunk_id for chunk_id, _ in results] == [chunk_id_for("doc", i) for i in (1, 2, 0)]
    assert [round(score, 4) for _, score in results] == [1.0, round(float(np.sqrt(0.5)), 4), 0.0]


def test_a_deleted_document_is_no_longer_found(store: ChromaStore):
    store.add([chunk(0), chunk(1)], np.stack([unit(0, 1, 0), unit(1, 0, 0)]))
    store.delete_document("doc")
    assert store.search(unit(1, 0, 0), 50) == []


def test_listing_the_documents_reads_every_page_of_chunks(store: ChromaStore, monkeypatch: pytest.MonkeyPatch):
    # A library of 1,000 filings holds ~35,000 chunks, more than one get() can ask for (SQLite's 32,766
    # variables): the listing reads pages. Pages of 3 here stand in for pages of thousands.
    import rag.index.vectors

    monkeypatch.setattr(rag.index.vectors, "_GET_PAGE", 3)
    chunks = [Chunk(chunk_id_for(f"doc{d}", i), f"doc{d}", i, f"text {d} {i}", 1, 1, 0, 8) for d in range(4) for i in range(d + 1)]
    rng = np.random.default_rng(0)
    store.add(chunks, rng.standard_normal((len(chunks), 3)).astype(np.float32))
    assert store.doc_ids() == {"doc0", "doc1", "doc2", "doc3"}
    assert store.count() == 10
