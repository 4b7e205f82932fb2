"""The evidence behind one citation of an answer: the passage with its supporting sentence, and the cited page.

For a citation ``[n]`` this finds what a reader checks the answer against: the chunk of the cited document
that holds the supporting sentence (``app.web.helpers.shown_passage``), the cited page that holds that
sentence (else the first cited page), and a picture of that page with the sentence marked. The web chat
shows it under each answer; ``app.export`` writes it into exported answers.

Nothing here raises for a document that is gone: a document removed from the library, a file no longer on
disk or a page that cannot be rendered gives an :class:`Evidence` without an image and with a short
``note`` saying why. Rendering and page search are parameters, so the web chat can pass cached versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from app.page_images import PageImage, page_contains, render_page
from app.web.helpers import ShownPassage, claim_for_citation, format_pages, shown_passage
from rag.answer.result import Answer, Citation
from rag.errors import RagError
from rag.index.catalog import Catalog
from rag.types import TextLine

log = logging.getLogger(__name__)

REMOVED_NOTE = "This document has been removed from the library."


class RenderPage(Protocol):
    """Draws page ``page`` (1-based) of the PDF at ``path`` with ``highlight`` marked (found in the text layer,
    else in ``ocr_lines``: what OCR read on the page); raises RagError when it cannot."""

    def __call__(
        self, path: Path, page: int, /, *, highlight: str | None = None, ocr_lines: Sequence[TextLine] = ()
    ) -> PageImage: ...


class PageContains(Protocol):
    """True when ``text`` is found on page ``page`` of the PDF at ``path`` (its text layer, else ``ocr_lines``)."""

    def __call__(self, path: Path, page: int, text: str, /, *, ocr_lines: Sequence[TextLine] = ()) -> bool: ...


@dataclass(frozen=True)
class Evidence:
    """What supports citation ``[n]``: the document, the passage with its supporting sentence, the page shown."""

    n: int
    doc: str  # document id
    title: str  # the citation's title, else the document's, else the file name
    file_name: str
    pages: list[int]  # the cited pages
    passage: ShownPassage  # the passage text, the supporting sentence's span in it, the cited pages it covers
    page: int  # the page shown: the cited page that holds the sentence, else the first cited page
    image: PageImage | None = None  # that page with the sentence marked; None when it cannot be shown
    note: str = ""  # why there is no image (document removed, file gone, page unreadable)
    path: Path | None = None  # the PDF, when the library still has the document

    @property
    def sentence(self) -> str | None:
        """The supporting sentence (None when none was found)."""
        return self.passage.sentence

    @property
    def pages_label(self) -> str:
        """``p. 5``, ``pp. 5–6`` for a run, ``pp. 2, 7`` otherwise."""
        return format_pages(self.pages)

    @property
    def page_label(self) -> str:
        """``Page 5 of report.pdf``: the caption of the image."""
        return f"Page {self.page} of {self.file_name}"


def citation_evidence(
    catalog: Catalog,
    answer_text: str,
    citation: Citation,
    *,
    render: RenderPage = render_page,
    contains: PageContains = page_contains,
) -> Evidence:
    """The evidence of ``citation`` in an answer whose text is ``answer_text`` (its sentences citing ``[n]``
    pick the supporting sentence when the snippet is not found verbatim)."""
    record = catalog.get(citation.doc)
    file_name = record.file_name if record else (citation.file or citation.doc)
    title = citation.title or (record.title if record else "") or file_name
    chunks = catalog.chunks_of(citation.doc) if record else []
    shown = shown_passage(chunks, citation.pages, citation.snippet, claim_for_citation(answer_text, citation.n))
    pages = shown.pages or sorted(set(citation.pages)) or [1]
    path = Path(record.path) if record else None

    def evidence(page: int = pages[0], image: PageImage | None = None, note: str = "") -> Evidence:
        return Evidence(citation.n, citation.doc, title, file_name, list(citation.pages), shown, page, image, note, path)

    if path is None:
        return evidence(note=REMOVED_NOTE)
    if not path.is_file():
        return evidence(note=f"{file_name} is no longer on disk.")
    sentence = shown.sentence
    page = pages[0]
    try:
        if sentence and len(pages) > 1:
            page = next((p for p in pages if contains(path, p, sentence, ocr_lines=tuple(catalog.page_lines(citation.doc, p)))), page)
        image = render(path, page, highlight=sentence, ocr_lines=tuple(catalog.page_lines(citation.doc, page)))
    except (RagError, OSError) as exc:
        log.info("evidence: no picture of page %s of %s: %s", page, file_name, exc)
        return evidence(page, note=str(exc) if isinstance(exc, RagError) else f"{file_name} cannot be read.")
    return evidence(page, image)


def answer_evidence(
    answer: Answer,
    catalog: Catalog,
    *,
    render: RenderPage = render_page,
    contains: PageContains = page_contains,
) -> list[Evidence]:
    """The evidence of every citation of ``answer``, in citation order (none for a refused answer)."""
    if answer.refused:
        return []
    return [
        citation_evidence(catalog, answer.answer, c, render=render, contains=contains)
        for c in answer.citations
    ]
