"""Read a PDF file into clean page texts (``rag.types.ParsedDocument``) with pypdfium2.

Pages are numbered physically (1-based index in the file, the page a viewer jumps to); a printed page
label ("iv", "A-3") is kept beside the number when the PDF defines labels. Two-column pages written across
the columns are read column by column (``ingest.layout``); text is cleaned by ``ingest.cleaning``.

Pages without a usable text layer (a scan, or a text layer that ``ingest.text_quality`` finds garbled) are
rendered and read by OCR (``ingest.ocr``) when OCR is on; pages with a good text layer never are (unless
``mode="force"``). OCR'd text goes through the same cleaning as the text layer. An OCR failure on one page
is a logged warning and a note in the document's ``ReadingReport``; the rest of the document goes on.

Every input that cannot be read raises ``DocumentError`` with a one-line reason a user can act on.
Every pdfium object is closed, on errors too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.cleaning import clean_page, clean_pages
from ingest.layout import Box, reading_regions
from ingest.ocr import OcrConfig, OcrEngine, OcrLine, RapidOcrEngine, lines_to_text, to_page_lines
from ingest.tables import find_tables
from ingest.text_quality import assess_text, script_counts, script_shares
from rag.errors import DocumentError, ModelUnavailable
from rag.types import Page, ParsedDocument, ReadingReport, TextLine

log = logging.getLogger(__name__)

_PDF_MAGIC = b"%PDF-"
_SNIFF_BYTES = 1024  # the PDF header may follow some junk within the first 1024 bytes
_TITLE_LINES = 40  # look for the title among the first lines of page 1
_JUNK_TITLE_RE = re.compile(
    r"^(untitled|none|null|title|document\d*|microsoft (word|powerpoint)\b.*|.*\.(docx?|pdf|tex|dvi|ps|indd|qxd))$",
    re.IGNORECASE,
)


NO_TEXT_OCR_OFF = "no extractable text (a scanned PDF?); OCR is off: set RAG_OCR=auto to read scanned pages"
MAX_NOTES = 20  # per document: a 500-page scan whose every page fails gets 20 notes and a count, not 500

OnOcrPage = Callable[[int, int], None]  # (page number, pages in the document), before a page is OCR'd


def read_pdf(
    path: Path,
    password: str | None = None,
    max_pages: int = 5000,
    max_file_mb: float = 200,
    ocr: OcrConfig | None = None,
    ocr_engine: OcrEngine | None = None,
    on_ocr_page: OnOcrPage | None = None,
) -> ParsedDocument:
    """Read ``path`` into a ``ParsedDocument``; raise ``DocumentError`` when it cannot be ingested.

    ``password`` opens encrypted PDFs. ``max_pages`` and ``max_file_mb`` reject documents too big to
    ingest. ``ocr`` says which pages OCR reads (None: OCR is off), with ``ocr_engine`` (default: RapidOCR
    with ``ocr``'s settings, loaded when a page first needs it); ``on_ocr_page`` hears of each page before it
    is OCR'd. A document none of whose pages yields text is rejected.
    """
    path = Path(path)
    config = ocr or OcrConfig(mode="off")
    data = _read_file(path, max_file_mb)
    sha256 = hashlib.sha256(data).hexdigest()
    reader = _PageReader(config, ocr_engine, on_ocr_page, path.name)
    raw_pages, labels, meta_title, first_page_title = _extract(data, password, max_pages, reader)
    texts = clean_pages(raw_pages)
    reading = reader.report(texts)
    if not any(any(ch.isalnum() for ch in text) for text in texts):
        raise DocumentError(_no_text_reason(reading))
    title = meta_title or first_page_title or _first_line(texts) or path.stem
    pages = tuple(
        Page(number=i + 1, text=text, label=label or None, lines=read.lines if read.source == "ocr" else ())
        for i, (text, label, read) in enumerate(zip(texts, labels, reader.pages))
    )
    log.debug("read %s: %d pages, title %r, %s", path, len(pages), title, reading.summary() or "text layer only")
    return ParsedDocument(path=path, sha256=sha256, title=title, pages=pages, reading=reading)


def count_pages(path: Path, password: str | None = None) -> int:
    """The number of pages of the PDF at ``path`` (milliseconds: pdfium reads only the cross-reference table);
    0 when it cannot be opened (``read_pdf`` then gives the reason)."""
    try:
        pdf = pdfium.PdfDocument(str(path), password=password)
    except (pdfium.PdfiumError, OSError, ValueError):
        return 0
    try:
        return len(pdf)
    finally:
        pdf.close()


def _no_text_reason(reading: ReadingReport) -> str:
    if reading.ocr == "off":
        return NO_TEXT_OCR_OFF
    unavailable = next((n for n in reading.notes if "OCR unavailable" in n), None)
    if unavailable:
        return f"no extractable text, and {unavailable.split('OCR unavailable: ', 1)[-1]}"
    failed = sum(1 for n in reading.notes if "OCR failed" in n)
    if failed:
        return f"no extractable text: OCR failed on {failed} of {reading.pages} pages ({reading.notes[0]})"
    return f"no extractable text, even with OCR ({reading.ocr_pages} of {reading.pages} pages OCR'd)"


# ------------------------------------------------------------------------------------------ pages


Source = Literal["text", "ocr", "none"]


@dataclass(frozen=True)
class PageRead:
    """How one page was read: its raw text, where it came from, what its text layer was like."""

    text: str
    source: Source
    text_layer: bool  # the page has a text layer (letters or digits), garbled or not
    garbled: bool
    note: str = ""
    lines: tuple[TextLine, ...] = ()  # what OCR read, with boxes (OCR'd pages only)


class _PageReader:
    """Reads each page from its text layer or by OCR, as ``config.mode`` says, and keeps what it saw."""

    def __init__(self, config: OcrConfig, engine: OcrEngine | None, on_ocr_page: OnOcrPage | None, name: str) -> None:
        self.config = config
        self._engine = engine
        self._on_ocr_page = on_ocr_page or (lambda number, total: None)
        self._name = name
        self._unavailable: str | None = None
        self.pages: list[PageRead] = []

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            self._engine = RapidOcrEngine(self.config)
        return self._engine

    def read(self, page: pdfium.PdfPage, number: int, total: int, layer: str) -> str:
        quality = assess_text(layer)
        has_layer = quality.has_text or quality.garbled  # garbage is a text layer too, just not a usable one
        mode = self.config.mode
        wanted = mode == "force" or (
            mode == "auto" and not quality.usable and (quality.garbled or _has_graphics(page))
        )
        if not wanted:  # a usable text layer, a page without graphics, or OCR off (garbage kept as before)
            return self._keep(PageRead(layer, "text" if quality.has_text else "none", has_layer, quality.garbled))
        lines, note = self._ocr(page, number, total)
        ocr_text = lines_to_text(lines, Box(*page.get_bbox()))
        ocr_chars = sum(ch.isalnum() for ch in ocr_text)
        if ocr_chars and (mode == "force" or quality.garbled or ocr_chars > quality.meaningful):
            boxes = tuple(TextLine(l.text, l.box.left, l.box.bottom, l.box.right, l.box.top) for l in lines)
            return self._keep(PageRead(ocr_text, "ocr", has_layer, quality.garbled, note, boxes))
        if quality.garbled:  # garbage is no text: it would only pollute the index
            return self._keep(PageRead("", "none", True, True, note))
        return self._keep(PageRead(layer, "text" if quality.has_text else "none", has_layer, False, note))

    def _keep(self, read: PageRead) -> str:
        self.pages.append(read)
        return read.text

    def _ocr(self, page: pdfium.PdfPage, number: int, total: int) -> tuple[list[OcrLine], str]:
        """The lines OCR reads on the page and a note ("" when all went well)."""
        if self._unavailable is not None:
            return [], ""
        self._on_ocr_page(number, total)
        try:
            lines = ocr_page_lines(page, self.engine, self.config)
        except ModelUnavailable as exc:
            self._unavailable = str(exc)
            log.warning("%s: OCR unavailable: %s", self._name, exc)
            return [], f"p. {number}: OCR unavailable: {exc}"
        except Exception as exc:  # one page's failure (a huge image, an engine error) must not stop the document
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            log.warning("%s p. %d: OCR failed: %s", self._name, number, reason)
            return [], f"p. {number}: OCR failed: {reason}"
        return lines, ""

    def report(self, texts: list[str]) -> ReadingReport:
        """The reading report, given the pages' final (cleaned) texts."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(script_counts(text))
        notes = [p.note for p in self.pages if p.note]
        if len(notes) > MAX_NOTES:
            notes = notes[:MAX_NOTES] + [f"... and {len(notes) - MAX_NOTES} more"]
        return ReadingReport(
            pages=len(self.pages),
            text_layer_pages=sum(p.text_layer for p in self.pages),
            ocr_pages=sum(p.source == "ocr" for p in self.pages),
            empty_pages=sum(not any(ch.isalnum() for ch in t) for t in texts),
            garbled_pages=sum(p.garbled for p in self.pages),
            tables=sum(len(find_tables(text)) for text in texts),
            scripts=script_shares(dict(counts)),
            notes=tuple(notes),
            ocr=self.config.mode,
        )


def _has_graphics(page: pdfium.PdfPage) -> bool:
    """The page draws something besides text (an image, paths, a form): worth OCR when it has no text."""
    return any(obj.type != pdfium_c.FPDF_PAGEOBJ_TEXT for obj in page.get_objects())


def render_page(page: pdfium.PdfPage, dpi: int) -> np.ndarray:
    """A picture of the page at ``dpi``: an H x W x 3 uint8 array in BGR order (as OpenCV expects)."""
    bitmap = page.render(scale=dpi / 72, fill_color=(255, 255, 255, 255), may_draw_forms=True)
    try:
        image = bitmap.to_numpy()
        return np.ascontiguousarray(image[:, :, :3]) if image.ndim == 3 else np.dstack([image] * 3)
    finally:
        bitmap.close()


def ocr_page_lines(page: pdfium.PdfPage, engine: OcrEngine, config: OcrConfig) -> list[OcrLine]:
    """The lines OCR reads on ``page``, boxes in PDF points."""
    image = render_page(page, config.dpi)
    return to_page_lines(engine.read(image), Box(*page.get_bbox()), config.dpi / 72, config.min_score)


# ------------------------------------------------------------------------------------------ checks


def _read_file(path: Path, max_file_mb: float) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DocumentError("file not found") from None
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise DocumentError("is a directory, not a PDF file")
    if size == 0:
        raise DocumentError("empty file (0 bytes)")
    if size > max_file_mb * 1024 * 1024:
        raise DocumentError(f"file too large: {size / 1024 / 1024:.1f} MB (limit {max_file_mb:g} MB)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file ({exc.strerror or exc})") from None
    if _PDF_MAGIC not in data[:_SNIFF_BYTES]:
        raise DocumentError(f"not a PDF (looks like {describe_content(data[:_SNIFF_BYTES])})")
    return data


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a RIFF file (WebP image or WAV audio)"),
    (b"PK\x03\x04", "a ZIP archive, e.g. a .docx/.xlsx/.epub"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file (.doc/.xls/.ppt)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"%!PS", "a PostScript file"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "an executable program"),
)


def describe_content(head: bytes) -> str:
    """What the first bytes of a file look like, for "not a PDF (looks like ...)"."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    text = _utf8_prefix(head)
    if text is None:  # text in a legacy 8-bit encoding has no control bytes
        if any(byte < 32 and byte not in b"\t\r\n\f" for byte in head):
            return "binary data"
        text = head.decode("latin-1")
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if stripped.startswith("<?xml") or stripped.startswith("<svg"):
        return "an XML file"
    if stripped.startswith(("{", "[")):
        return "JSON or plain text"
    if all(ch.isprintable() or ch in "\t\r\n\f" for ch in text):
        return "plain text"
    return "binary data"


def _utf8_prefix(head: bytes) -> str | None:
    """``head`` as UTF-8, allowing a character cut off at the end; ``None`` when it is not UTF-8."""
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


# ---------------------------------------------------------------------------------------- extraction


def _open(data: bytes, password: str | None) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            if password is None:
                raise DocumentError("encrypted: pass --password") from None
            raise DocumentError("encrypted: wrong password") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise DocumentError("encrypted with an unsupported security handler") from None
        if code in (pdfium_c.FPDF_ERR_FORMAT, pdfium_c.FPDF_ERR_FILE):
            raise DocumentError("corrupt or truncated PDF (cannot be parsed)") from None
        raise DocumentError("corrupt or empty PDF (no pages)") from None


def _extract(
    data: bytes, password: str | None, max_pages: int, reader: _PageReader
) -> tuple[list[str], list[str], str | None, str | None]:
    """Raw page texts (text layer or OCR, as ``reader`` decides), page labels, metadata title, first-page title."""
    pdf = _open(data, password)
    try:
        count = len(pdf)
        if count > max_pages:
            raise DocumentError(f"too many pages: {count} (limit {max_pages})")
        raw_pages: list[str] = []
        labels: list[str] = []
        first_page_title = None
        for index in range(count):
            text, title = _read_page(pdf, index, want_title=index == 0, reader=reader, total=count)
            raw_pages.append(text)
            labels.append(pdf.get_page_label(index))
            if index == 0:
                first_page_title = title
        return raw_pages, labels, _metadata_title(pdf), first_page_title
    finally:
        pdf.close()


def _read_page(
    pdf: pdfium.PdfDocument, index: int, want_title: bool, reader: _PageReader, total: int
) -> tuple[str, str | None]:
    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        raise DocumentError(f"corrupt PDF: page {index + 1} cannot be read") from None
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
            regions = reading_regions(_text_boxes(textpage), Box(*page.get_bbox()))
            if regions:
                parts = [textpage.get_text_bounded(r.left, r.bottom, r.right, r.top) for r in regions]
                text = "\r\n".join(part for part in parts if part.strip())
            title = _prominent_lines(textpage) if want_title else None
        finally:
            textpage.close()
        chosen = reader.read(page, index + 1, total, text)
        if reader.pages[-1].source != "text" or reader.pages[-1].garbled:
            title = None  # the text layer's title line is not what was read
    except pdfium.PdfiumError:
        raise DocumentError(f"corrupt PDF: the text of page {index + 1} cannot be read") from None
    finally:
        page.close()
    return chosen, title


def _text_boxes(textpage: pdfium.PdfTextPage) -> list[Box]:
    return [Box(*textpage.get_rect(i)) for i in range(textpage.count_rects())]


# ------------------------------------------------------------------------------------------- titles


def _metadata_title(pdf: pdfium.PdfDocument) -> str | None:
    try:
        title = " ".join(pdf.get_metadata_value("Title").split())
    except (pdfium.PdfiumError, KeyError, ValueError):
        return None
    if len(title) < 3 or _JUNK_TITLE_RE.match(title):
        return None
    return title


def _prominent_lines(textpage: pdfium.PdfTextPage) -> str | None:
    """The tallest line among the first lines of the page (the title), with the lines right after it
    in the same size (a title over two or three lines); ``None`` when no line is taller than the rest."""
    raw = textpage.get_text_range()
    lines: list[tuple[str, float]] = []
    offset = 0
    for line in raw.split("\r\n")[:_TITLE_LINES]:
        height = _line_height(textpage, line, offset)
        lines.append((line, height))
        offset += len(line) + 2
    candidates = [
        (i, h) for i, (line, h) in enumerate(lines) if sum(ch.isalpha() for ch in line) >= 3 and h > 0
    ]
    if not candidates:
        return None
    tallest = max(h for _, h in candidates)
    if tallest < 1.15 * statistics.median(h for _, h in candidates):
        return None  # nothing stands out: no title line
    best, height = next((i, h) for i, h in candidates if h >= 0.95 * tallest)
    parts = [lines[best][0]]
    for line, h in lines[best + 1 : best + 3]:
        if sum(ch.isalpha() for ch in line) < 2 or abs(h - height) > 0.05 * height:
            break
        parts.append(line)
    title = " ".join(" ".join(clean_page(part).split()) for part in parts).strip()
    return title[:300] or None


def _line_height(textpage: pdfium.PdfTextPage, line: str, offset: int) -> float:
    """Height of the loose box (font ascent to descent) of up to three letters of the line."""
    heights = []
    for i, ch in enumerate(line):
        if ch.isalpha():
            left, bottom, right, top = textpage.get_charbox(offset + i, loose=True)
            heights.append(top - bottom)
            if len(heights) == 3:
                break
    return max(heights, default=0.0)


def _first_line(texts: list[str], limit: int = 120) -> str | None:
    for text in texts:
        for line in text.split("\n"):
            if sum(ch.isalpha() for ch in line) >= 3:
                line = line.strip()
                return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"
    return None
