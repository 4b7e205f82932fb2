"""Pictures of PDF pages, rendered with pypdfium2, with the cited sentence marked (the web chat's sources and
exported answers).

The sentence is found in the page's text layer; on a page read by OCR (no usable text layer) it is found in the
lines OCR read, whose boxes the catalog keeps (``ocr_lines``).

pdfium is not thread-safe (not even across different documents), and Streamlit serves every browser tab
from its own thread, so all pdfium work of a process goes through ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from rag.errors import DocumentError
from rag.types import TextLine

log = logging.getLogger(__name__)

PDFIUM_LOCK = threading.RLock()
HIGHLIGHT_FILL = (255, 214, 0, 90)  # translucent yellow, like a marker pen
HIGHLIGHT_EDGE = (230, 150, 0, 200)


@dataclass(frozen=True)
class PageImage:
    """A rendered page: the whole page, and a close-up of the marked sentence when it was found."""

    page: bytes  # PNG of the whole page
    focus: bytes | None = None  # PNG of the band of the page around the marked sentence


def render_page_png(
    path: Path,
    page_number: int,
    width_px: int = 900,
    highlight: str | None = None,
    password: str | None = None,
    ocr_lines: Sequence[TextLine] = (),
) -> bytes:
    """PNG of page ``page_number`` (1-based) of the PDF at ``path``, ``width_px`` wide.

    When ``highlight`` is given and found on the page, it is marked with a translucent box per line.
    Raises ``DocumentError`` when the file or page cannot be read.
    """
    return render_page(path, page_number, width_px, highlight, password, ocr_lines=ocr_lines).page


def render_page(
    path: Path,
    page_number: int,
    width_px: int = 900,
    highlight: str | None = None,
    password: str | None = None,
    context: float = 0.08,
    ocr_lines: Sequence[TextLine] = (),
) -> PageImage:
    """The page as a PNG with ``highlight`` marked, and a close-up of the marked lines with ``context``
    (a share of the page height) above and below them; ``ocr_lines``: the lines OCR read on the page, where
    ``highlight`` is looked for when the text layer does not have it. Raises ``DocumentError`` when it cannot be
    read."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"{path.name} is no longer on disk")
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(str(path), password=password)
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"cannot open {path.name}: {exc}") from None
        try:
            if not 1 <= page_number <= len(document):
                raise DocumentError(f"{path.name} has no page {page_number}")
            page = document[page_number - 1]
            try:
                page_width, page_height = page.get_size()
                scale = max(0.1, width_px / max(page_width, 1.0))
                try:
                    bitmap = page.render(scale=scale)
                except pdfium.PdfiumError as exc:
                    raise DocumentError(f"cannot render page {page_number} of {path.name}: {exc}") from None
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
                rects, lines = _find_rects(page, highlight) if highlight else ([], [])
                if highlight and not rects and ocr_lines:
                    rects, lines = find_in_lines(ocr_lines, highlight)
            finally:
                page.close()
        finally:
            document.close()
    if not rects:
        return PageImage(_png(image))
    image = _mark(image, rects, scale, page_height)
    left, top, right, bottom = close_up_box(rects, lines, page_width, page_height, context)
    band = (int(left * scale), int(top * scale), int(right * scale), int(bottom * scale))
    return PageImage(_png(image), _png(image.crop(band)))


Rect = tuple[float, float, float, float]  # left, bottom, right, top in PDF units (origin bottom left)


def close_up_box(marked: list[Rect], lines: list[Rect], page_width: float, page_height: float, context: float) -> Rect:
    """(left, top, right, bottom) from the page's top left, in PDF units: the marked lines, ``context`` of the
    page height above and below, and as wide as the text lines of that band that share the marks' column
    (so lines are not cut, and the other column of a two-column page stays out)."""
    top = max(0.0, page_height - max(r[3] for r in marked) - context * page_height)
    bottom = min(page_height, page_height - min(r[1] for r in marked) + context * page_height)
    left, right = min(r[0] for r in marked), max(r[2] for r in marked)
    for l, b, r, t in lines:
        in_band = page_height - t < bottom and page_height - b > top
        same_column = l < right and r > left
        if in_band and same_column:
            left, right = min(left, l), max(right, r)
    pad = 0.02 * page_width
    return max(0.0, left - pad), top, min(page_width, right + pad), bottom


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def page_contains(
    path: Path, page_number: int, text: str, password: str | None = None, ocr_lines: Sequence[TextLine] = ()
) -> bool:
    """True when ``text`` (or a good part of it) is found on the page (its text layer, else ``ocr_lines``)."""
    if ocr_lines and find_in_lines(ocr_lines, text)[0]:
        return True
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(str(path), password=password)
        except pdfium.PdfiumError:
            return False
        try:
            if not 1 <= page_number <= len(document):
                return False
            page = document[page_number - 1]
            try:
                return bool(_find_rects(page, text)[0])
            finally:
                page.close()
        finally:
            document.close()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def find_in_lines(lines: Sequence[TextLine], sentence: str) -> tuple[list[Rect], list[Rect]]:
    """Boxes of the OCR'd lines that hold ``sentence`` (empty when it is not found), and every line's box.

    The words of the lines, in reading order, are searched for the sentence's first and last words (anchors of
    4, 3 and 2 words, as in the text layer); the lines from the start anchor to the end anchor are marked."""
    words: list[str] = []
    owner: list[int] = []  # the line each word comes from
    for index, line in enumerate(lines):
        for word in _words(line.text):
            words.append(word)
            owner.append(index)
    target = _words(sentence)
    if not target or not words:
        return [], []

    def find(phrase: list[str], after: int) -> int | None:
        for i in range(after, len(words) - len(phrase) + 1):
            if words[i : i + len(phrase)] == phrase:
                return i
        return None

    start = end = None
    for size in (4, 3, 2, 1):
        if size <= len(target) and (size > 1 or len(target) == 1):
            start = find(target[:size], 0)
            if start is not None:
                break
    if start is None:
        return [], []
    for size in (4, 3, 2, 1):
        if size <= len(target) and (size > 1 or len(target) == 1):
            found = find(target[-size:], start)
            if found is not None:
                end = found + size - 1
                break
    if end is None:
        end = min(len(words) - 1, start + len(target) - 1)
    marked_lines = sorted(set(owner[start : end + 1]))
    boxes = [(l.left, l.bottom, l.right, l.top) for l in lines]
    return [boxes[i] for i in marked_lines], boxes


def _find_rects(page: pdfium.PdfPage, sentence: str) -> tuple[list[Rect], list[Rect]]:
    """Rectangles covering ``sentence`` on ``page`` (empty when it is not found), and every text line's."""
    textpage = page.get_textpage()
    try:
        span = _locate(textpage, sentence)
        if span is None:
            return [], []
        start, count = span
        marked = [textpage.get_rect(i) for i in range(textpage.count_rects(start, count))]
        lines = [textpage.get_rect(i) for i in range(textpage.count_rects())]
        return marked, lines
    finally:
        textpage.close()


def _locate(textpage: pdfium.PdfTextPage, sentence: str) -> tuple[int, int] | None:
    """(first char index, char count) of the sentence on the page, found by short word anchors.

    The indexed text was cleaned (lines joined, hyphenation undone), so the sentence is rarely found
    verbatim: its start is found from its first words and its end from its last words.
    """
    words = [w for w in re.split(r"\s+", sentence.strip()) if w]
    if not words:
        return None
    start = _first_hit(textpage, _anchors(words, from_end=False), after=0)
    if start is None:
        return None
    first_index, _ = start
    end = _first_hit(textpage, _anchors(words, from_end=True), after=first_index)
    if end is not None:
        end_index, end_count = end
        last = end_index + end_count
    else:
        last = min(textpage.count_chars(), first_index + len(sentence))
    if last <= first_index:
        return None
    return first_index, last - first_index


def _anchors(words: list[str], from_end: bool) -> list[str]:
    """Phrases of 6, 4, 3 and 2 words from the start (or end) of the sentence, shifted by up to 2 words."""
    if len(words) == 1:
        return words
    phrases = []
    for size in (6, 4, 3, 2):
        for shift in range(3):
            if size + shift > len(words):
                break
            chunk = words[len(words) - size - shift : len(words) - shift] if from_end else words[shift : shift + size]
            phrases.append(" ".join(chunk))
    return list(dict.fromkeys(phrases))


def _first_hit(textpage: pdfium.PdfTextPage, phrases: list[str], after: int) -> tuple[int, int] | None:
    for phrase in phrases:
        searcher = textpage.search(phrase, match_case=False)
        try:
            while True:
                hit = searcher.get_next()
                if hit is None:
                    break
                if hit[0] >= after:
                    return hit
        finally:
            searcher.close()
    return None


def _mark(image: Image.Image, rects: list[Rect], scale: float, page_height: float) -> Image.Image:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pad = max(1.0, 1.5 * scale)
    for left, bottom, right, top in rects:
        box = (left * scale - pad, (page_height - top) * scale - pad, right * scale + pad, (page_height - bottom) * scale + pad)
        draw.rectangle(box, fill=HIGHLIGHT_FILL, outline=HIGHLIGHT_EDGE, width=1)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
