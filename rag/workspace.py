"""The Workspace: built from settings, it wires stores, embedder, retriever and engine.

The CLI and the web app both use it, so they never disagree about what a question returns. Heavy parts
(models, clients) are created on first use and kept.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

from rag.catalog import Catalog
from rag.embeddings import Embedder, EmbedderConfig
from rag.keyword.base import KeywordIndex, open_keyword_index
from rag.retrieval import Mode, RetrievalConfig, Retriever, SearchResult
from rag.settings import Settings
from rag.stores import Stores
from rag.types import DocumentRecord
from rag.vectors import ChromaStore, open_vector_store

log = logging.getLogger(__name__)


class Workspace:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        """``embedder`` lets a process share one loaded model between workspaces (tests, web sessions)."""
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    # --- parts, created on first use ---------------------------------------------------------------
    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.settings.catalog_path)

    @cached_property
    def keyword(self) -> KeywordIndex:
        return open_keyword_index(self.settings)

    @cached_property
    def vectors(self) -> ChromaStore:
        s = self.settings
        return open_vector_store(s.chroma_url, s.chroma_path, s.chroma_collection)

    @cached_property
    def stores(self) -> Stores:
        return Stores(self.catalog, self.keyword, self.vectors)

    @cached_property
    def embedder(self) -> Embedder:
        s = self.settings
        return Embedder(
            EmbedderConfig(
                model=s.embedding_model,
                backend=s.embedding_backend,
                batch_size=s.embedding_batch_size,
                query_prompt=s.embedding_query_prompt,
                passage_prompt=s.embedding_passage_prompt,
                threads=s.threads,
            )
        )

    @cached_property
    def retriever(self) -> Retriever:
        s = self.settings
        config = RetrievalConfig(
            mode=s.retrieval_mode,
            candidates=s.candidates,
            top_k=s.top_k,
            fusion=s.fusion,
            rrf_k=s.rrf_k,
            keyword_weight=s.keyword_weight,
        )
        return Retriever(self.catalog, self.keyword, self.vectors, self.embedder, config)

    # --- operations -------------------------------------------------------------------------------
    def ingest(self, files: Sequence[Path], password: str | None = None, on_event: Callable | None = None):  # noqa: ANN201
        return self._pipeline(password).run(files, on_event=on_event)

    def remove(self, doc_id: str) -> None:
        self._pipeline(None).remove(doc_id)

    def _pipeline(self, password: str | None):  # noqa: ANN202
        from ingest.pipeline import IngestOptions, IngestPipeline

        s = self.settings
        options = IngestOptions(
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            max_pages=s.max_pages,
            max_file_mb=s.max_file_mb,
            password=password,
        )
        return IngestPipeline(self.stores, self.embedder, options, s.lock_path)

    def search(self, query: str, top_k: int | None = None, mode: Mode | None = None) -> SearchResult:
        return self.retriever.search(query, top_k=top_k, mode=mode)

    def documents(self) -> list[DocumentRecord]:
        return self.catalog.documents()

    def find_document(self, reference: str) -> DocumentRecord | None:
        """A ready document by id, id prefix, file name or path."""
        documents = self.catalog.documents()
        for record in documents:
            if reference in (record.doc_id, record.path, record.file_name):
                return record
        prefixed = [r for r in documents if r.doc_id.startswith(reference)]
        if len(prefixed) == 1:
            return prefixed[0]
        resolved = str(Path(reference).expanduser().resolve())
        return next((r for r in documents if r.path == resolved), None)

    def close(self) -> None:
        for name in ("keyword", "vectors", "catalog"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
        self.__dict__.pop("stores", None)
        self.__dict__.pop("retriever", None)
