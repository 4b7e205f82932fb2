"""The Workspace: built from settings, it wires stores, embedder, retriever and engine.

The CLI and the web app both use it, so they never disagree about what a question returns. Heavy parts
(models, clients) are created on first use and kept.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from rag.catalog import Catalog
from rag.embeddings import Embedder, embedder_config, open_embedder
from rag.keyword.base import KeywordIndex, open_keyword_index
from rag.retrieval import Mode, RetrievalConfig, Retriever, SearchResult
from rag.settings import Settings
from rag.stores import Stores
from rag.types import DocumentRecord
from rag.vectors import ChromaStore, open_vector_store

if TYPE_CHECKING:
    from rag.gate import Calibration, Gate
    from rag.rerank import RerankerChoice
    from llm.protocol import ChatEngine
    from llm.config import EngineConfig
    from rag.answer import Answer, Answerer, AnswerStream
    from rag.conversation import Conversation

log = logging.getLogger(__name__)


class Workspace:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, engine: "ChatEngine | None" = None) -> None:
        """``embedder`` and ``engine`` let a process share loaded models between workspaces (tests, web sessions)."""
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if engine is not None:
            self.__dict__["engine"] = engine

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
        return open_embedder(embedder_config(self.settings))

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
            rerank_top=s.rerank_top,
        )
        choice = self.reranker_choice
        return Retriever(
            self.catalog,
            self.keyword,
            self.vectors,
            self.embedder,
            config,
            reranker=choice.reranker,
            gate=self.gate,
            term_stats=getattr(self.keyword, "term_stats", None),
            notes=[choice.note] if choice.note else [],
        )

    @cached_property
    def reranker_choice(self) -> "RerankerChoice":
        """The cross-encoder the ``reranker`` setting resolves to, or None and why reranking is off."""
        from rag.rerank import choose_reranker

        return choose_reranker(self.settings.reranker, self.settings.reranker_model)

    @cached_property
    def gate_calibration(self) -> "Calibration":
        """The relevance gate's calibration: RAG_GATE_CALIBRATION, else home/gate.json, else the shipped one."""
        from rag.errors import ConfigError
        from rag.gate import Calibration

        s = self.settings
        if s.gate_calibration is not None:
            if not Path(s.gate_calibration).is_file():
                raise ConfigError(f"{s.gate_calibration} does not exist; fix RAG_GATE_CALIBRATION or unset it")
            return Calibration.load(s.gate_calibration)
        if s.gate_path.is_file():
            return Calibration.load(s.gate_path)
        return Calibration.shipped()

    @cached_property
    def gate(self) -> "Gate | None":
        """The relevance gate (None when RAG_GATE=false)."""
        from rag.gate import Gate

        return Gate(self.gate_calibration, embedding_model=self.embedder.name) if self.settings.gate else None

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

    # --- answers (rag/answer.py) ------------------------------------------------------------------
    @cached_property
    def engine(self) -> "ChatEngine":
        """The chat engine the settings describe (loaded on first use; nothing is downloaded)."""
        from llm.factory import open_engine

        return open_engine(engine_config(self.settings))

    @cached_property
    def answerer(self) -> "Answerer":
        from rag.answer import AnswerConfig, Answerer

        return Answerer(self.search, lambda: self.engine, self.embedder, AnswerConfig.from_settings(self.settings))

    def ask(self, question: str, conversation: "Conversation | None" = None) -> "AnswerStream":
        """Answer a question from the documents: iterate the stream for the text, then read ``.answer``."""
        return self.answerer.ask(question, conversation)

    def ask_once(self, question: str, conversation: "Conversation | None" = None) -> "Answer":
        """The finished answer to a question (no streaming)."""
        return self.answerer.ask_once(question, conversation)

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
        self.__dict__.pop("gate", None)
        self.__dict__.pop("gate_calibration", None)
        self.__dict__.pop("answerer", None)  # the engine is kept: it may be shared, and holds no files


def engine_config(settings: Settings) -> "EngineConfig":
    """The chat engine the settings describe."""
    from llm.config import EngineConfig

    return EngineConfig(
        backend=settings.llm_backend,
        model=settings.llm_model,
        url=settings.llm_url,
        api_key=settings.llm_api_key,
        chat_format=settings.llm_chat_format,
        context_length=settings.llm_context,
        threads=settings.threads or None,
        decode_threads=settings.llm_decode_threads or None,
        fast_copy_dir=settings.models_path if settings.llm_fast_copy else None,
        state_dir=settings.models_path / "prompt-starts",
        timeout=settings.llm_timeout,
        seed=settings.seed,
    )
