"""Hybrid retrieval: keyword top-N and dense top-N, fused, hydrated from the catalog (ready documents only),
optionally reranked. The relevance gate (:mod:`rag.gate`) reads the result afterwards."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Literal, Protocol, Sequence

import numpy as np

from rag.analysis import analyze, cjk_share, contains_cjk
from rag.index.catalog import Catalog
from rag.index.keyword.base import KeywordIndex
from rag.index.keyword.stats import TermStats, foreign_share
from rag.retrieve.fusion import (
    keyword_weight_for,
    reciprocal_rank_fusion,
    standardized_fusion,
)
from rag.retrieve.rerank import CrossEncoderReranker
from rag.types import DocumentRecord, Hit, Mode, doc_id_of, documents_as_json

log = logging.getLogger(__name__)

GATE_PASSAGES = 5  # hits the relevance gate reads, whatever top_k is: a search ranks at least these


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> np.ndarray: ...


class VectorSearch(Protocol):
    def search(self, vector: np.ndarray, limit: int, docs: Collection[str] | None = None) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    mode: Mode = Mode.HYBRID
    candidates: int = 50
    top_k: int = 6
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = 60
    keyword_weight: float = 0.7
    rerank_top: int = 20


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    mode: str
    answerable: bool | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    evidence_score: float | None = None  # the gate's probability that the hits answer the query
    gate: dict[str, Any] = field(default_factory=dict)  # the gate's threshold, model and features
    reranker: str | None = None  # the cross-encoder that reordered the hits, if any
    candidates: "Candidates | None" = field(default=None, repr=False)  # raw lists before fusion
    # the ranking before it was cut to top_k (at least GATE_PASSAGES hits): what the relevance gate reads
    ranked: list[Hit] = field(default_factory=list, repr=False)
    docs: list[DocumentRecord] | None = None  # the documents the search was restricted to (None: all)

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON contract of `rag search --json`."""
        return {
            "query": self.query,
            "mode": str(self.mode),
            "answerable": self.answerable,
            "reason": self.reason,
            "notes": list(self.notes),
            "evidence_score": None if self.evidence_score is None else round(float(self.evidence_score), 6),
            "reranker": self.reranker,
            "gate": self.gate,
            "docs": documents_as_json(self.docs),
            "results": [
                {
                    "chunk_id": hit.chunk_id,
                    "doc": hit.doc_id,
                    "file": hit.file,
                    "title": hit.title,
                    "pages": hit.chunk.pages,
                    "text": hit.chunk.text,
                    "score": round(float(hit.score), 6),
                    "scores": {k: round(float(v), 6) for k, v in hit.scores.items()},
                }
                for hit in self.hits
            ],
        }


@dataclass(frozen=True)
class Candidates:
    """The raw lists retrieval produced before fusion (kept for the gate and for evaluation)."""

    keyword: list[tuple[str, float]]
    dense: list[tuple[str, float]]
    query_vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    looked_up: dict[str, float] = field(default_factory=dict, repr=False, compare=False)  # cosines beyond the dense list
    foreign_share: float = 0.0  # share of the query's weight on CJK words no chunk contains (BM25 is blind to them)
    unreadable_share: float = 0.0  # share of the query's letters an English-only embedder cannot read (CJK)


class Retriever:
    """Keyword and dense candidates -> fusion -> ready chunks -> optional rerank."""

    def __init__(
        self,
        catalog: Catalog,
        keyword: KeywordIndex,
        vectors: VectorSearch,
        embedder: QueryEmbedder,
        config: RetrievalConfig,
        *,
        reranker: CrossEncoderReranker | None = None,
        term_stats: TermStats | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.catalog = catalog
        self.keyword = keyword
        self.vectors = vectors
        self.embedder = embedder
        self.config = config
        self.reranker = reranker
        self.term_stats = term_stats
        self.notes = list(notes)

    def candidates(
        self, query: str, mode: Mode, timings: dict[str, float], docs: Collection[str] | None = None
    ) -> Candidates:
        """Both candidate lists; with ``docs``, each store ranks only the chunks of those document ids."""
        keyword: list[tuple[str, float]] = []
        dense: list[tuple[str, float]] = []
        if mode.uses_keyword:
            started = time.perf_counter()
            keyword = self.keyword.search(query, self.config.candidates, docs=docs)
            timings["keyword"] = time.perf_counter() - started
        if not mode.uses_dense:
            return Candidates(keyword, dense)
        started = time.perf_counter()
        vector = self.embedder.embed_query(query)
        timings["embed_query"] = time.perf_counter() - started
        started = time.perf_counter()
        dense = self.vectors.search(vector, self.config.candidates, docs=docs)
        timings["dense"] = time.perf_counter() - started
        if mode is Mode.HYBRID:
            shares = {"foreign_share": self._foreign_share(query), "unreadable_share": self._unreadable_share(query)}
            return Candidates(keyword, dense, vector, **shares)
        return Candidates(keyword, dense, vector)

    def _unreadable_share(self, query: str) -> float:
        """How much of a query an English-only embedding model cannot read: its CJK share of letters and
        digits. Such a model turns a Chinese question into noise, so the fusion leans on BM25, which still
        matches the question's Latin names and numbers and any Chinese words the documents contain (dev
        questions, MiniLM: crosslingual hit@budget 0.25 -> 0.50)."""
        if getattr(self.embedder, "multilingual", False):
            return 0.0
        return cjk_share(query)

    def _foreign_share(self, query: str) -> float:
        """How much of a query (by IDF) is CJK words that no chunk contains: a Chinese question over English
        documents. With a multilingual embedding model the keyword weight shrinks by that share, since BM25
        cannot match those words and the dense model is the only one that reads them (measured with
        multilingual-e5-small: crosslingual hit@budget 0.50 -> 0.75; an English-only model gains nothing)."""
        if self.term_stats is None or not contains_cjk(query) or not getattr(self.embedder, "multilingual", False):
            return 0.0
        terms = list(dict.fromkeys(analyze(query)))
        doc_count, doc_freq = self.term_stats(terms)
        return foreign_share(terms, doc_freq, doc_count)

    def fuse(self, candidates: Candidates, mode: Mode) -> list[tuple[str, float]]:
        if mode is Mode.KEYWORD:
            return list(candidates.keyword)
        if mode is Mode.DENSE:
            return list(candidates.dense)
        keyword_weight = keyword_weight_for(
            self.config.keyword_weight, bm25_blind=candidates.foreign_share, dense_blind=candidates.unreadable_share
        )
        weights = {"keyword": keyword_weight, "dense": 1.0 - keyword_weight}
        if self.config.fusion == "weighted":
            lists = {"keyword": candidates.keyword, "dense": self.complete_dense(candidates)}
            return standardized_fusion(lists, weights)
        lists = {"keyword": candidates.keyword, "dense": candidates.dense}
        return reciprocal_rank_fusion(lists, k=self.config.rrf_k, weights=weights)

    def complete_dense(self, candidates: Candidates) -> list[tuple[str, float]]:
        """The dense list extended with the cosine of every keyword candidate it lacks (from the stored
        vectors), so the weighted fusion compares both scores of every candidate instead of treating a
        chunk outside the dense top-N as dissimilar."""
        dense = dict(candidates.dense)
        missing = [item for item, _ in candidates.keyword if item not in dense]
        lookup = getattr(self.vectors, "embeddings", None)
        if missing and candidates.query_vector is not None and lookup is not None:
            query = np.asarray(candidates.query_vector, dtype=np.float32)
            for item, vector in lookup(missing).items():
                dense[item] = candidates.looked_up[item] = float(np.dot(vector, query))
        return sorted(dense.items(), key=lambda pair: (-pair[1], pair[0]))

    def search(
        self,
        query: str,
        top_k: int | None = None,
        mode: Mode | str | None = None,
        docs: Sequence[DocumentRecord] | None = None,
    ) -> SearchResult:
        """The best ``top_k`` hits for ``query``; ``result.ranked`` keeps at least ``GATE_PASSAGES`` of them.
        ``docs``: search only these documents (None: the whole library)."""
        mode = Mode.parse(mode) if mode is not None else self.config.mode
        limit = top_k or self.config.top_k
        timings: dict[str, float] = {}
        started = time.perf_counter()
        doc_ids = {d.doc_id for d in docs} if docs is not None else None
        candidates = self.candidates(query, mode, timings, doc_ids)
        fused = self.fuse(candidates, mode)
        depth = max(limit, GATE_PASSAGES, self.config.rerank_top if self.reranker is not None else 0)
        hits = self.hydrate(fused, candidates, depth)
        timings["retrieve"] = time.perf_counter() - started
        result = SearchResult(query=query, hits=hits, mode=mode, notes=list(self.notes), timings=timings,
                              candidates=candidates, docs=list(docs) if docs is not None else None)
        if self.reranker is not None and hits:
            begun = time.perf_counter()
            hits = self.reranker.rerank(query, hits, self.config.rerank_top)
            result.reranker = self.reranker.name
            timings["rerank"] = time.perf_counter() - begun
        result.ranked = hits
        result.hits = hits[:limit]
        timings["total"] = time.perf_counter() - started
        return result

    def hydrate(self, fused: list[tuple[str, float]], candidates: Candidates, limit: int) -> list[Hit]:
        """Chunks for the best ids, from ready documents only, with every stage's score."""
        keyword_scores = dict(candidates.keyword)
        dense_scores = {**candidates.looked_up, **dict(candidates.dense)}
        ready = self.catalog.ready_doc_ids()
        wanted = [item for item, _ in fused if doc_id_of(item) in ready][:limit]
        chunks = self.catalog.chunks(wanted)
        documents = {d.doc_id: d for d in self.catalog.documents()}
        hits: list[Hit] = []
        fused_scores = dict(fused)
        for item in wanted:
            chunk = chunks.get(item)
            if chunk is None:
                continue
            scores = {"fused": fused_scores[item]}
            if item in keyword_scores:
                scores["keyword"] = keyword_scores[item]
            if item in dense_scores:
                scores["dense"] = dense_scores[item]
            record = documents.get(chunk.doc_id)
            hits.append(
                Hit(
                    chunk=chunk,
                    score=fused_scores[item],
                    scores=scores,
                    title=record.title if record else "",
                    file=Path(record.path).name if record else "",
                )
            )
        return hits
