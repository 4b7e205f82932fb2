"""Vector store: Chroma, embedded (PersistentClient under home) or a Chroma server (HttpClient).

Ids are chunk ids; the space is cosine; embeddings are always computed by our embedder, never by
Chroma's default embedding function (it would download a model).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Collection, Sequence
from urllib.parse import urlparse

import numpy as np

from rag.errors import BackendUnavailable, ConfigError, RagError
from rag.types import Chunk

log = logging.getLogger(__name__)

_BATCH = 1000  # Chroma caps a single add; stay well under it
_GET_PAGE = 5000  # chunks per get() when listing: one get() of every chunk fails past SQLite's 32,766 variables


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings  # heavy: loaded on first use, not when the module is imported

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class ChromaStore:
    """Chunk embeddings in one Chroma collection."""

    def __init__(self, client: Any, collection: str, where: str) -> None:
        self._client = client
        self._where = where
        self._collection_name = collection
        self.name = f"chroma ({where})"
        try:
            self._collection = client.get_or_create_collection(
                collection,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            raise self._unavailable(exc) from exc

    @classmethod
    def embedded(cls, path: Path, collection: str) -> "ChromaStore":
        import chromadb  # heavy: loaded on first use, not when the module is imported

        path.mkdir(parents=True, exist_ok=True)
        return cls(chromadb.PersistentClient(path=str(path), settings=_chroma_settings()), collection, str(path))

    @classmethod
    def server(cls, url: str, collection: str) -> "ChromaStore":
        import chromadb  # heavy: loaded on first use, not when the module is imported

        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise ConfigError(f"RAG_CHROMA_URL {url!r} is not a URL like http://127.0.0.1:8000")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=_chroma_settings()
            )
        except Exception as exc:
            raise BackendUnavailable("Chroma server", "RAG_CHROMA_URL", f"{url}: {exc}") from exc
        return cls(client, collection, url)

    def _unavailable(self, exc: Exception) -> RagError:
        """The clearest error for a failed Chroma call: a wrong vector size is a setting, not an outage."""
        if "expecting embedding with dimension" in str(exc):
            return ConfigError(
                f"the Chroma collection {self._collection_name!r} holds vectors of another embedding model "
                f"({exc}); set RAG_CHROMA_COLLECTION to a new name (and re-ingest) or restore RAG_EMBEDDING_MODEL"
            )
        setting = "RAG_CHROMA_URL" if "://" in self._where else "RAG_HOME"
        return BackendUnavailable("Chroma", setting, f"{self._where}: {type(exc).__name__}: {str(exc)[:160]}")

    # --- writing ----------------------------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        try:
            for start in range(0, len(chunks), _BATCH):
                part = chunks[start : start + _BATCH]
                self._collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[start : start + _BATCH].tolist(),
                    metadatas=[
                        {"doc_id": c.doc_id, "index": c.index, "page_start": c.page_start, "page_end": c.page_end}
                        for c in part
                    ],
                )
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def delete_document(self, doc_id: str) -> None:
        try:
            self._collection.delete(where={"doc_id": doc_id})
        except Exception as exc:
            raise self._unavailable(exc) from exc

    # --- reading ----------------------------------------------------------------------------------
    def search(self, vector: np.ndarray, limit: int, docs: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) best first (fewer than ``limit`` when the store holds fewer); with
        ``docs``, only chunks of those document ids (Chroma filters inside the search, then ranks)."""
        if docs is not None and not docs:
            return []
        where = {"doc_id": {"$in": sorted(docs)}} if docs is not None else None
        try:
            result = self._collection.query(  # no count() first: it costs 10 ms at 100,000 chunks
                query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
                n_results=limit,
                where=where,
                include=["distances"],
            )
        except Exception as exc:
            raise self._unavailable(exc) from exc
        ids = result["ids"][0]
        distances = result["distances"][0] if result.get("distances") else [1.0] * len(ids)
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances)]

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id (ids not in the store are left out)."""
        if not ids:
            return {}
        try:
            found = self._collection.get(ids=list(ids), include=["embeddings"])
        except Exception as exc:
            raise self._unavailable(exc) from exc
        vectors = found.get("embeddings")
        if vectors is None:
            return {}
        return {cid: np.asarray(v, dtype=np.float32) for cid, v in zip(found["ids"], vectors)}

    def doc_ids(self) -> set[str]:
        """The documents that have vectors, read a page of chunks at a time (a library of 1,000 filings holds
        some 35,000 chunks: asked for at once, Chroma's query runs out of SQL variables)."""
        found: set[str] = set()
        offset = 0
        while True:
            try:
                page = self._collection.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
            except Exception as exc:
                raise self._unavailable(exc) from exc
            metadatas = page["metadatas"] or []
            found.update(m["doc_id"] for m in metadatas if m)
            if len(page["ids"]) < _GET_PAGE:
                return found
            offset += _GET_PAGE

    def count(self) -> int:
        try:
            return int(self._collection.count())
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def check(self) -> str:
        try:
            heartbeat = self._client.heartbeat()
            version = self._client.get_version()
        except Exception as exc:
            raise self._unavailable(exc) from exc
        return f"Chroma {version} at {self._where}, collection {self._collection_name!r}, heartbeat {heartbeat}"

    def close(self) -> None:
        """Chroma clients hold no resources that need closing; kept for a uniform store interface."""


def open_vector_store(chroma_url: str | None, home_chroma: Path, collection: str) -> ChromaStore:
    if chroma_url:
        return ChromaStore.server(chroma_url, collection)
    return ChromaStore.embedded(home_chroma, collection)
