"""Hybrid retrieval: keyword top-N and dense top-N, fused, hydrated from the catalog (ready documents only)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from rag.catalog import Catalog
from rag.fusion import reciprocal_rank_fusion, weighted_fusion
from rag.keyword.base import KeywordIndex
from rag.types import Hit

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "keyword", "dense"]


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> np.ndarray: ...


class VectorSearch(Protocol):
    def search(self, vector: np.ndarray, limit: int) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    mode: Mode = "hybrid"
    candidates: int = 50
    top_k: int = 6
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = 60
    keyword_weight: float = 0.7


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    mode: str
    answerable: bool | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON contract of `rag search --json`."""
        return {
            "query": self.query,
            "mode": self.mode,
            "answerable": self.answerable,
            "reason": self.reason,
            "notes": list(self.notes),
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


class Retriever:
    def __init__(
        self,
        catalog: Catalog,
        keyword: KeywordIndex,
        vectors: VectorSearch,
        embedder: QueryEmbedder,
        config: RetrievalConfig,
    ) -> None:
        self.catalog = catalog
        self.keyword = keyword
        self.vectors = vectors
        self.embedder = embedder
        self.config = config

    def candidates(self, query: str, mode: Mode, timings: dict[str, float]) -> Candidates:
        keyword: list[tuple[str, float]] = []
        dense: list[tuple[str, float]] = []
        if mode in ("hybrid", "keyword"):
            started = time.perf_counter()
            keyword = self.keyword.search(query, self.config.candidates)
            timings["keyword"] = time.perf_counter() - started
        if mode in ("hybrid", "dense"):
            started = time.perf_counter()
            vector = self.embedder.embed_query(query)
            timings["embed_query"] = time.perf_counter() - started
            started = time.perf_counter()
            dense = self.vectors.search(vector, self.config.candidates)
            timings["dense"] = time.perf_counter() - started
        return Candidates(keyword, dense)

    def fuse(self, candidates: Candidates, mode: Mode) -> list[tuple[str, float]]:
        lists = {}
        if mode in ("hybrid", "keyword"):
            lists["keyword"] = candidates.keyword
        if mode in ("hybrid", "dense"):
            lists["dense"] = candidates.dense
        weights = {"keyword": self.config.keyword_weight, "dense": 1.0 - self.config.keyword_weight}
        if self.config.fusion == "weighted":
            return weighted_fusion(lists, weights)
        if mode != "hybrid":
            return [(item, score) for item, score in lists[mode]]
        return reciprocal_rank_fusion(lists, k=self.config.rrf_k, weights=weights)

    def search(self, query: str, top_k: int | None = None, mode: Mode | None = None) -> SearchResult:
        mode = mode or self.config.mode
        limit = top_k or self.config.top_k
        timings: dict[str, float] = {}
        started = time.perf_counter()
        candidates = self.candidates(query, mode, timings)
        fused = self.fuse(candidates, mode)
        hits = self.hydrate(fused, candidates, limit)
        timings["retrieve"] = time.perf_counter() - started
        return SearchResult(query=query, hits=hits, mode=mode, timings=timings)

    def hydrate(self, fused: list[tuple[str, float]], candidates: Candidates, limit: int) -> list[Hit]:
        """Chunks for the best ids, from ready documents only, with every stage's score."""
        keyword_scores = dict(candidates.keyword)
        dense_scores = dict(candidates.dense)
        ready = self.catalog.ready_doc_ids()
        wanted = [item for item, _ in fused if item.rsplit("-", 1)[0] in ready][:limit]
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
