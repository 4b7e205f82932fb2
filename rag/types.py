"""Typed data passed between the parts of the system."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Sequence

from rag.errors import ConfigError


class Mode(str, Enum):
    """Which retrievers run: both lists fused, BM25 alone, or embeddings alone."""

    HYBRID = "hybrid"
    KEYWORD = "keyword"
    DENSE = "dense"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__

    @property
    def uses_keyword(self) -> bool:
        return self is not Mode.DENSE

    @property
    def uses_dense(self) -> bool:
        return self is not Mode.KEYWORD

    @classmethod
    def parse(cls, value: "Mode | str") -> "Mode":
        """The mode named ``value``; a ConfigError naming the valid ones otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ConfigError(f"retrieval mode must be one of {valid}, not {value!r}") from None


@dataclass(frozen=True)
class Page:
    """One physical page of a PDF: ``number`` is 1-based, the page a PDF viewer jumps to."""

    number: int
    text: str
    label: str | None = None  # printed page label ("iv", "A-3") when the PDF defines one


@dataclass(frozen=True)
class ParsedDocument:
    """A PDF read into clean page texts."""

    path: Path
    sha256: str
    title: str
    pages: tuple[Page, ...]

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.sha256)


def doc_id_for(sha256: str) -> str:
    """Documents are identified by their content: the first 16 hex digits of the file's SHA-256."""
    return sha256[:16]


def chunk_id_for(doc_id: str, index: int) -> str:
    """Chunk ids come from content (document hash + index), so re-ingesting yields the same ids."""
    return f"{doc_id}-{index:05d}"


def doc_id_of(chunk_id: str) -> str:
    """The document a chunk id (:func:`chunk_id_for`) belongs to."""
    return chunk_id.rsplit("-", 1)[0]


@dataclass(frozen=True)
class Chunk:
    """A token-budgeted piece of one document, with the pages and characters it spans."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    page_start: int
    page_end: int
    char_start: int  # offsets into the document's joined page text (pages joined by "\n\n")
    char_end: int
    section: str | None = None

    @property
    def pages(self) -> list[int]:
        return list(range(self.page_start, self.page_end + 1))


@dataclass(frozen=True)
class DocumentRecord:
    """A document as the catalog knows it."""

    doc_id: str
    path: str
    sha256: str
    title: str
    pages: int
    chunks: int
    status: str  # "pending" while being written to the stores, "ready" when every store has it
    ingested_at: float
    fingerprint: str = ""  # chunking + embedding settings that produced the chunks

    @property
    def file_name(self) -> str:
        return Path(self.path).name


def documents_as_json(documents: Sequence[DocumentRecord] | None) -> list[dict[str, str]] | None:
    """A document filter as the JSON contracts echo it: ``[{"doc": id, "file": name}]``, None for no filter."""
    if documents is None:
        return None
    return [{"doc": d.doc_id, "file": d.file_name} for d in documents]


@dataclass
class Hit:
    """A chunk found by retrieval, with every stage's score kept."""

    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    title: str = ""
    file: str = ""

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id
