"""The composition root: settings -> stores, embedder, retriever, relevance gate, chat engine, answer pipeline.

The CLI, the web chat and the benchmarks all build a :class:`Workspace`, so they never disagree about what a
question returns. Every mapping from settings to the configuration of a part is in this module, and nowhere
else. The heavy parts (models, store clients) are :class:`Parts`, built on first use and kept; workspaces
that differ only in per-workspace settings (a web session's sidebar choices) share one ``Parts``.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from ingest.ocr import OcrConfig, RapidOcrEngine
from ingest.pipeline import IngestEvent, IngestOptions, IngestPipeline, IngestReport
from llm.config import EngineConfig
from llm.factory import open_engine
from llm.protocol import ChatEngine
from rag.answer.conversation import Conversation
from rag.answer.grounding import SupportConfig
from rag.answer.pipeline import AnswerConfig, Answerer
from rag.answer.result import Answer, AnswerStream
from rag.errors import ConfigError
from rag.gate.decide import Gate
from rag.gate.model import Calibration
from rag.index.catalog import Catalog
from rag.index.embeddings import Embedder, EmbedderConfig, open_embedder
from rag.index.keyword.base import KeywordIndex
from rag.index.keyword.elastic import ElasticsearchIndex
from rag.index.keyword.fts5 import Fts5Index
from rag.index.selection import matching, select_documents
from rag.index.stores import Stores
from rag.index.vectors import ChromaStore, open_vector_store
from rag.retrieve.rerank import RerankerChoice, choose_reranker
from rag.retrieve.retriever import RetrievalConfig, Retriever, SearchResult
from rag.settings import Settings, load_settings
from rag.types import DocumentRecord, Mode

log = logging.getLogger(__name__)

# Settings a workspace may change while sharing another's Parts: none of them changes how a part is built.
PER_WORKSPACE = frozenset({"retrieval_mode", "top_k", "reranker", "temperature"})


# ------------------------------------------------------------------------------------------ settings -> configs
def embedder_config(settings: Settings) -> EmbedderConfig:
    return EmbedderConfig(
        model=settings.embedding_model,
        backend=settings.embedding_backend,
        precision=settings.embedding_precision,
        batch_size=settings.embedding_batch_size,
        query_prompt=settings.embedding_query_prompt,
        passage_prompt=settings.embedding_passage_prompt,
        threads=settings.threads,
    )


def engine_config(settings: Settings) -> EngineConfig:
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


def retrieval_config(settings: Settings) -> RetrievalConfig:
    return RetrievalConfig(
        mode=Mode.parse(settings.retrieval_mode),
        candidates=settings.candidates,
        top_k=settings.top_k,
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        keyword_weight=settings.keyword_weight,
        rerank_top=settings.rerank_top,
    )


def answer_config(settings: Settings, support: SupportConfig = SupportConfig()) -> AnswerConfig:
    return AnswerConfig(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_new_tokens=settings.max_new_tokens,
        seed=settings.seed,
        gate=settings.gate,
        min_support=settings.min_support,
        quote_unsupported=settings.quote_unsupported,
        history_turns=settings.history_turns,
        context_words=settings.answer_context_words,
        support=support,
    )


def ocr_config(settings: Settings) -> OcrConfig:
    return OcrConfig(mode=settings.ocr, threads=settings.threads)


def ingest_options(settings: Settings, password: str | None = None, parse_workers: int | None = None) -> IngestOptions:
    """Ingestion options from the settings; ``parse_workers`` overrides RAG_PARSE_WORKERS (the CLI flag)."""
    return IngestOptions(
        chunk_tokens=settings.chunk_tokens,
        keep_tables=settings.chunk_keep_tables,
        chunk_overlap=settings.chunk_overlap,
        max_pages=settings.max_pages,
        max_file_mb=settings.max_file_mb,
        password=password,
        ocr=ocr_config(settings),
        parse_workers=settings.parse_workers if parse_workers is None else parse_workers,
    )


def open_keyword_index(settings: Settings) -> KeywordIndex:
    """The keyword backend the settings pick."""
    if settings.keyword_backend == "elasticsearch":
        return ElasticsearchIndex(
            settings.elasticsearch_url,
            settings.elasticsearch_index,
            api_key=settings.elasticsearch_api_key,
            username=settings.elasticsearch_username,
            password=settings.elasticsearch_password,
            verify_certs=settings.elasticsearch_verify_certs,
            shards=settings.elasticsearch_shards,
            replicas=settings.elasticsearch_replicas,
        )
    return Fts5Index(settings.keyword_path)


def open_vectors(settings: Settings) -> ChromaStore:
    return open_vector_store(settings.chroma_url, settings.chroma_path, settings.chroma_collection)


def load_calibration(settings: Settings) -> Calibration:
    """The relevance gate's calibration: RAG_GATE_CALIBRATION, else home/gate.json, else the shipped one."""
    if settings.gate_calibration is not None:
        if not Path(settings.gate_calibration).is_file():
            raise ConfigError(f"{settings.gate_calibration} does not exist; fix RAG_GATE_CALIBRATION or unset it")
        return Calibration.load(settings.gate_calibration)
    if settings.gate_path.is_file():
        return Calibration.load(settings.gate_path)
    return Calibration.shipped()


# ------------------------------------------------------------------------------------------ the parts
class Parts:
    """The heavy parts of workspaces: models, store clients, the relevance gate. Each is built from
    ``settings`` on first use and kept; ``embedder`` and ``engine`` may be given already loaded (tests, a
    process that shares one model between configurations)."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, engine: ChatEngine | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._engine = engine
        self._catalog: Catalog | None = None
        self._keyword: KeywordIndex | None = None
        self._vectors: ChromaStore | None = None
        self._gate: Gate | None = None
        self._ocr: RapidOcrEngine | None = None
        self._rerankers: dict[str, RerankerChoice] = {}

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.settings.catalog_path)
        return self._catalog

    @property
    def keyword(self) -> KeywordIndex:
        if self._keyword is None:
            self._keyword = open_keyword_index(self.settings)
        return self._keyword

    @property
    def vectors(self) -> ChromaStore:
        if self._vectors is None:
            self._vectors = open_vectors(self.settings)
        return self._vectors

    @property
    def stores(self) -> Stores:
        return Stores(self.catalog, self.keyword, self.vectors)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = open_embedder(embedder_config(self.settings))
        return self._embedder

    @property
    def ocr_engine(self) -> RapidOcrEngine:
        """The OCR engine (its models load when a page first needs OCR, then stay loaded)."""
        if self._ocr is None:
            self._ocr = RapidOcrEngine(ocr_config(self.settings))
        return self._ocr

    @property
    def engine(self) -> ChatEngine:
        """The chat engine the settings describe (loaded on first use; nothing is downloaded)."""
        if self._engine is None:
            self._engine = open_engine(engine_config(self.settings))
        return self._engine

    @property
    def gate(self) -> Gate | None:
        """The relevance gate (None when RAG_GATE=false)."""
        if not self.settings.gate:
            return None
        if self._gate is None:
            term_stats = getattr(self.keyword, "term_stats", None)
            self._gate = Gate(load_calibration(self.settings), embedding_model=self.embedder.name, term_stats=term_stats)
        return self._gate

    def reranker(self, setting: str) -> RerankerChoice:
        """The cross-encoder the ``reranker`` setting ``setting`` resolves to (kept per value)."""
        if setting not in self._rerankers:
            self._rerankers[setting] = choose_reranker(setting, self.settings.reranker_model)
        return self._rerankers[setting]

    def close(self) -> None:
        """Close the store clients (they reopen on next use); the models are kept: they hold no files."""
        for part in (self._keyword, self._vectors, self._catalog):
            if part is not None:
                part.close()
        self._catalog = self._keyword = self._vectors = None
        self._gate = None


# ------------------------------------------------------------------------------------------ the workspace
class Workspace:
    """What every front end talks to: ingest, search (retrieval, then the gate), ask, list and remove."""

    def __init__(
        self,
        settings: Settings,
        *,
        parts: Parts | None = None,
        embedder: Embedder | None = None,
        engine: ChatEngine | None = None,
    ) -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        if parts is None:
            parts = Parts(settings, embedder=embedder, engine=engine)
            self._owns_parts = True
        else:
            if embedder is not None or engine is not None:
                raise ValueError("pass embedder and engine to the shared Parts, not to a workspace that borrows them")
            changed = sorted(k for k, v in settings.model_dump().items() if k not in PER_WORKSPACE
                             and parts.settings.model_dump().get(k) != v)
            if changed:
                raise ValueError(f"a workspace that shares parts cannot change {', '.join(changed)}")
            self._owns_parts = False
        self.settings = settings
        self.parts = parts

    def with_settings(self, **overrides: Any) -> "Workspace":
        """A workspace with some of the per-workspace settings (``PER_WORKSPACE``) changed that shares this
        one's parts; this workspace itself when nothing changes."""
        changed = {k: v for k, v in overrides.items() if getattr(self.settings, k) != v}
        if not changed:
            return self
        return Workspace(load_settings(**{**self.settings.model_dump(), **changed}), parts=self.parts)

    # --- parts ------------------------------------------------------------------------------------
    catalog = property(lambda self: self.parts.catalog)
    keyword = property(lambda self: self.parts.keyword)
    vectors = property(lambda self: self.parts.vectors)
    stores = property(lambda self: self.parts.stores)
    embedder = property(lambda self: self.parts.embedder)
    engine = property(lambda self: self.parts.engine)
    gate = property(lambda self: self.parts.gate)

    @property
    def reranker_choice(self) -> RerankerChoice:
        return self.parts.reranker(self.settings.reranker)

    @cached_property
    def retriever(self) -> Retriever:
        choice = self.reranker_choice
        return Retriever(
            self.catalog,
            self.keyword,
            self.vectors,
            self.embedder,
            retrieval_config(self.settings),
            reranker=choice.reranker,
            term_stats=getattr(self.keyword, "term_stats", None),
            notes=[choice.note] if choice.note else [],
        )

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(self.search, lambda: self.engine, self.embedder, answer_config(self.settings))

    # --- operations -------------------------------------------------------------------------------
    def ingest(
        self,
        files: Sequence[Path],
        password: str | None = None,
        on_event: Callable[[IngestEvent], None] | None = None,
        parse_workers: int | None = None,
    ) -> IngestReport:
        """Ingest ``files``; ``parse_workers`` (default: RAG_PARSE_WORKERS) 1 reads the PDFs in a worker process,
        0 in this one."""
        return self._pipeline(password, parse_workers).run(files, on_event=on_event)

    def remove(self, doc_id: str) -> None:
        self._pipeline(None).remove(doc_id)

    def _pipeline(self, password: str | None, parse_workers: int | None = None) -> IngestPipeline:
        return IngestPipeline(
            self.stores,
            self.embedder,
            ingest_options(self.settings, password, parse_workers),
            self.settings.lock_path,
            ocr_engine=self.parts.ocr_engine,
        )

    def search(
        self,
        query: str,
        top_k: int | None = None,
        mode: Mode | str | None = None,
        docs: Sequence[DocumentRecord] | None = None,
    ) -> SearchResult:
        """Retrieval in ``docs`` (None: every document), then the relevance gate's verdict on the result
        (when the gate is on)."""
        result = self.retriever.search(query, top_k=top_k, mode=mode, docs=docs)
        gate = self.gate
        if gate is not None:
            gate.apply(result)
        return result

    def ask(
        self, question: str, conversation: Conversation | None = None, docs: Sequence[DocumentRecord] | None = None
    ) -> AnswerStream:
        """Answer a question from ``docs`` (None: every document): iterate the stream for the text, then read
        ``.answer``."""
        return self.answerer.ask(question, conversation, docs)

    def ask_once(
        self, question: str, conversation: Conversation | None = None, docs: Sequence[DocumentRecord] | None = None
    ) -> Answer:
        """The finished answer to a question (no streaming)."""
        return self.answerer.ask_once(question, conversation, docs)

    def documents(self) -> list[DocumentRecord]:
        return self.catalog.documents()

    def find_document(self, reference: str) -> DocumentRecord | None:
        """The one ready document ``reference`` names (id, id prefix, file name, path); None when it names no
        document or several."""
        found = matching(reference, self.catalog.documents())
        return found[0] if len(found) == 1 else None

    def select_documents(self, references: Sequence[str]) -> list[DocumentRecord] | None:
        """The ready documents ``references`` name (ids, id prefixes, file names, paths, globs on file names),
        for ``docs=``: None when there are no references (the whole library). Raises :class:`UnknownDocument`
        with the closest names for a reference that names nothing."""
        if not references:
            return None
        return select_documents(references, self.catalog.documents())

    def close(self) -> None:
        """Drop this workspace's retriever and answerer, and close the store clients when the parts are its own
        (a workspace that borrows parts leaves them to their owner)."""
        self.__dict__.pop("retriever", None)
        self.__dict__.pop("answerer", None)
        if self._owns_parts:
            self.parts.close()
