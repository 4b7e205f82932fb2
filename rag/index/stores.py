"""The three stores together, and the write and delete orders that keep them consistent.

Write: catalog ``pending`` -> keyword -> vectors -> catalog ``ready`` (replaced versions hidden in the same
transaction). Delete: catalog ``deleting`` -> keyword -> vectors -> catalog row removed. A crash at any point
leaves a catalog row that is not ``ready``; ``repair`` finishes the job, so nothing is ever half-visible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.index.catalog import PENDING, Catalog
from rag.index.keyword.base import KeywordIndex
from rag.index.labels import DocumentLabel
from rag.index.vectors import ChromaStore
from rag.types import Chunk, DocumentRecord, ReadingReport, TextLine

log = logging.getLogger(__name__)


@dataclass
class Stores:
    catalog: Catalog
    keyword: KeywordIndex
    vectors: ChromaStore

    def write_document(
        self,
        *,
        doc_id: str,
        path: str,
        sha256: str,
        title: str,
        pages: int,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        fingerprint: str,
        page_labels: dict[int, str] | None = None,
        replaces: Sequence[str] = (),
        reading: ReadingReport | None = None,
        page_lines: dict[int, Sequence[TextLine]] | None = None,
    ) -> None:
        """Write one document to every store and publish it; then drop the versions it replaces."""
        self.catalog.add_pending(doc_id, path, sha256, title, pages, chunks, fingerprint, page_labels, reading,
                                 page_lines)
        self.keyword.add(chunks, {doc_id: DocumentLabel(Path(path).name, title)})
        self.vectors.add(chunks, vectors)
        self.catalog.publish(doc_id, replaces=replaces)
        for old in replaces:
            if old != doc_id:
                self._erase(old)

    def relocate(self, doc_id: str, path: str) -> None:
        """The same file now lives at ``path``: the catalog follows, and the keyword entries take the new file
        name (part of every chunk's label terms). The vectors keep the name they were embedded with until the
        file's content changes (embedding again is what moving a file avoids)."""
        self.catalog.relocate(doc_id, path)
        self.reindex_keywords(doc_id)

    def reindex_keywords(self, doc_id: str, fingerprint: str | None = None) -> None:
        """Rebuild one document's keyword entries from the catalog's chunks (its label, or the analyzer, has
        changed; its chunks and vectors have not); then record ``fingerprint`` when given. Replacing a chunk's
        entry is atomic, so a crash in between only leaves the work to be done again."""
        record = self.catalog.get(doc_id)
        if record is None:
            return
        self.keyword.add(self.catalog.chunks_of(doc_id), {doc_id: DocumentLabel(Path(record.path).name, record.title)})
        if fingerprint is not None:
            self.catalog.set_fingerprint(doc_id, fingerprint)

    def remove_document(self, doc_id: str) -> None:
        """Hide a document at once, then remove it from every store."""
        self.catalog.mark_deleting(doc_id)
        self._erase(doc_id)

    def repair(self) -> list[DocumentRecord]:
        """Finish what an interrupted run left: erase every document that is not ``ready``."""
        unfinished = self.catalog.unfinished()
        for record in unfinished:
            log.warning("repairing %s document %s (%s)", record.status, record.doc_id, record.path)
            self._erase(record.doc_id)
        return [r for r in unfinished if r.status == PENDING]

    def _erase(self, doc_id: str) -> None:
        self.keyword.delete_document(doc_id)
        self.vectors.delete_document(doc_id)
        self.catalog.delete(doc_id)

    def close(self) -> None:
        self.keyword.close()
        self.vectors.close()
        self.catalog.close()
