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
class TextLine:
    """A line of text OCR read on a page, with its box in PDF points (origin at the bottom left)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float


@dataclass(frozen=True)
class Page:
    """One physical page of a PDF: ``number`` is 1-based, the page a PDF viewer jumps to."""

    number: int
    text: str
    label: str | None = None  # printed page label ("iv", "A-3") when the PDF defines one
    lines: tuple[TextLine, ...] = ()  # OCR'd pages: the lines OCR read and where (to mark a cited sentence)


@dataclass(frozen=True)
class ReadingReport:
    """What reading a PDF found: how many pages had a text layer, were read by OCR, have no text at all (even
    after OCR), or had a text layer that looked garbled; how many tables its text holds; the writing systems
    of the text (``{"latin": 0.8, "cjk": 0.2}``: share of letters); one note per page that needs one (an OCR
    failure, say)."""

    pages: int
    text_layer_pages: int = 0
    ocr_pages: int = 0
    empty_pages: int = 0
    garbled_pages: int = 0
    tables: int = 0  # tables found in the page texts (ingest.tables.find_tables)
    scripts: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    ocr: str = "auto"  # the OCR setting it was read with

    # 1 blank page in 10 is a document's business (a separator page); more is a document worth a look
    EMPTY_SHARE_WORTH_A_LOOK = 0.1

    @property
    def problems(self) -> list[str]:
        """What is wrong with the text of this document, in words (empty when nothing is)."""
        found = []
        if self.empty_pages and self.empty_pages >= max(1.0, self.EMPTY_SHARE_WORTH_A_LOOK * self.pages):
            found.append(f"{self.empty_pages} of {self.pages} pages have no text"
                         + ("" if self.ocr == "off" else " even after OCR"))
        unread = self.garbled_pages if self.ocr == "off" else 0
        if unread:
            found.append(f"{unread} pages have a garbled text layer (OCR is off)")
        failures = [n for n in self.notes if "OCR failed" in n or "OCR unavailable" in n]
        if failures:
            found.append(f"OCR failed on {len(failures)} pages")
        return found

    @property
    def needs_attention(self) -> bool:
        """Worth a line in the ingest summary: pages were OCR'd or looked garbled, or the text has problems."""
        return bool(self.ocr_pages or self.garbled_pages or self.problems)

    def summary(self) -> str:
        """One line: "3 of 12 pages OCR'd; 2 pages looked garbled; ..." ("" when there is nothing to say)."""
        parts = []
        if self.ocr_pages:
            parts.append(f"{self.ocr_pages} of {self.pages} pages OCR'd")
        if self.garbled_pages:
            parts.append(f"{self.garbled_pages} page{'s' if self.garbled_pages != 1 else ''} looked garbled")
        parts.extend(p for p in self.problems if "garbled" not in p)
        return "; ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "pages": self.pages,
            "text_layer_pages": self.text_layer_pages,
            "ocr_pages": self.ocr_pages,
            "empty_pages": self.empty_pages,
            "garbled_pages": self.garbled_pages,
            "tables": self.tables,
            "scripts": dict(self.scripts),
            "notes": list(self.notes),
            "ocr": self.ocr,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "ReadingReport":
        def number(key: str) -> int:
            value = data.get(key, 0)
            return int(value) if isinstance(value, (int, float)) else 0

        scripts = data.get("scripts") or {}
        notes = data.get("notes") or []
        return cls(
            pages=number("pages"),
            text_layer_pages=number("text_layer_pages"),
            ocr_pages=number("ocr_pages"),
            empty_pages=number("empty_pages"),
            garbled_pages=number("garbled_pages"),
            tables=number("tables"),
            scripts={str(k): float(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {},
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            ocr=str(data.get("ocr", "auto")),
        )


@dataclass(frozen=True)
class ParsedDocument:
    """A PDF read into clean page texts, with the report of how it was read."""

    path: Path
    sha256: str
    title: str
    pages: tuple[Page, ...]
    reading: ReadingReport | None = None

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
    reading: ReadingReport | None = None  # None for documents ingested before reading reports existed

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
