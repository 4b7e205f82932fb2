"""The interface every keyword backend implements.

Backends index the tokens of ``rag.index.labels.chunk_terms`` (the chunk's ``rag.analysis.analyze``
tokens and its document's label terms) and search those of ``analyze`` (never their own analysis) and rank them
with BM25 (k1=1.2, b=0.75), so the same query returns the same chunks whichever backend is configured.
"""

from __future__ import annotations

from typing import Collection, Mapping, Protocol, Sequence, runtime_checkable

from rag.index.labels import DocumentLabel
from rag.types import Chunk


@runtime_checkable
class KeywordIndex(Protocol):
    name: str

    def add(self, chunks: Sequence[Chunk], labels: Mapping[str, DocumentLabel] | None = None) -> None:
        """Index chunks (idempotent: re-adding a chunk id replaces it). ``labels`` maps doc_id to the
        document's label, whose terms are indexed with each of its chunks (``labels.chunk_terms``)."""

    def delete_document(self, doc_id: str) -> None:
        """Remove every chunk of one document (no error when there is none)."""

    def search(self, query: str, limit: int, docs: Collection[str] | None = None) -> list[tuple[str, float]]:
        """BM25 search: (chunk_id, score) best first; higher is better. Empty for a query with no tokens.

        ``docs``: only chunks of these document ids compete (a filter inside the index, so up to ``limit`` of
        them come back; the statistics stay the whole index's). None searches every document."""

    def term_stats(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(chunks indexed, {term: chunks containing it}) for analyzer tokens: the relevance gate's IDF."""

    def doc_ids(self) -> set[str]:
        """Documents that have at least one chunk in the index (used to find and repair partial writes)."""

    def count(self) -> int:
        """Number of chunks indexed."""

    def check(self) -> str:
        """Raise BackendUnavailable when unreachable; otherwise a one-line description (backend, version)."""

    def close(self) -> None: ...
