"""Exporting an answer with its evidence: Markdown with the cited pages as PNG files beside it, or one
self-contained HTML file (``rag ask --export``, and the web chat's download button).

Both hold the question, the answer with its ``[n]`` markers, what is unsupported or quoted, and for every
citation the document, the pages, the passage with the supporting sentence marked and a picture of the cited
page with that sentence marked (``app.evidence``).

Document and model text can hold anything, so every piece of it is escaped: in Markdown every ASCII
punctuation character is backslash-escaped (no link, image, HTML or emphasis can form); in HTML it is
entity-escaped, ``:`` and ``=`` included, so no URL or attribute can be spelled out. The HTML file fetches
nothing when opened: inline CSS, images as ``data:`` URIs, no script, and a Content-Security-Policy that
forbids loading anything else.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from app.evidence import Evidence, PageContains, RenderPage, answer_evidence
from app.page_images import page_contains, render_page
from app.web.helpers import escape_markdown, unsupported_sentences
from rag.answer.result import Answer
from rag.errors import RagError
from rag.index.catalog import Catalog

log = logging.getLogger(__name__)

PRODUCT = "groundrag"
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
Format = Literal["markdown", "html"]


class ExportError(RagError):
    """An answer cannot be exported: the file name has an unknown suffix, or the file cannot be written."""


def export_format(path: Path) -> Format:
    """``markdown`` or ``html`` from the file name's suffix (any case); ExportError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in HTML_SUFFIXES:
        return "html"
    accepted = ", ".join(MARKDOWN_SUFFIXES + HTML_SUFFIXES)
    raise ExportError(f"cannot export to {Path(path).name}: the file name must end in one of {accepted}")


def export_answer(
    answer: Answer,
    catalog: Catalog,
    path: Path,
    *,
    render: RenderPage = render_page,
    contains: PageContains = page_contains,
    exported_at: datetime | None = None,
) -> list[Path]:
    """Write ``answer`` with its evidence to ``path`` (``.md``/``.markdown`` or ``.html``/``.htm``) and return the
    files written: the HTML file alone, or the Markdown file first and then one PNG per cited page shown
    (``<stem>-<n>-p<page>.png`` beside it). Every file is written under a temporary name and renamed, so a
    failure leaves no half-written file. Raises ExportError for another suffix or when writing fails."""
    path = Path(path)
    kind = export_format(path)
    evidence = answer_evidence(answer, catalog, render=render, contains=contains)
    stamp = exported_at or datetime.now()
    written: list[Path] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "html":
            _write_atomically(path, html_document(answer, evidence, stamp).encode("utf-8"))
            return [path]
        names = image_names(path, evidence)
        for item in evidence:
            if item.n in names and item.image is not None:
                target = path.parent / names[item.n]
                _write_atomically(target, item.image.page)
                written.append(target)
        _write_atomically(path, markdown_document(answer, evidence, names, stamp).encode("utf-8"))
    except OSError as exc:
        for image in written:
            image.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    log.info("export: wrote %s and %d page images", path, len(written))
    return [path, *written]


def answer_html(
    answer: Answer,
    catalog: Catalog,
    *,
    render: RenderPage = render_page,
    contains: PageContains = page_contains,
    exported_at: datetime | None = None,
) -> bytes:
    """The self-contained HTML export of ``answer`` (UTF-8), as ``export_answer`` writes it to an ``.html`` file."""
    evidence = answer_evidence(answer, catalog, render=render, contains=contains)
    return html_document(answer, evidence, exported_at or datetime.now()).encode("utf-8")


def image_names(path: Path, evidence: Sequence[Evidence]) -> dict[int, str]:
    """The PNG file name of each citation that has a page image, by citation number: ``answer-1-p5.png``."""
    stem = Path(path).stem
    return {e.n: f"{stem}-{e.n}-p{e.page}.png" for e in evidence if e.image is not None}


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; an export is an ordinary file to share
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- what both formats say ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Notices:
    """The lines around the answer text, as plain text."""

    refused_reason: str  # "" unless refused
    quoted_reason: str  # "" unless the answer quotes the passages
    unsupported_label: str
    unsupported: list[str]
    searched: list[str]  # the file names the question was restricted to (empty: every document)


def _notices(answer: Answer) -> _Notices:
    unsupported = [] if answer.refused else unsupported_sentences(answer.grounding)
    label = (
        "The model's own answer, not supported by the sources and replaced by the quote above:"
        if answer.quoted
        else "Not supported by the sources:"
    )
    return _Notices(
        refused_reason=answer.reason if answer.refused else "",
        quoted_reason=(answer.reason or "the passages are quoted instead of the model's answer") if answer.quoted else "",
        unsupported_label=label,
        unsupported=unsupported,
        searched=[d.file_name for d in answer.docs] if answer.docs is not None else [],
    )


def _footer(stamp: datetime) -> str:
    return f"Exported on {stamp:%Y-%m-%d %H:%M} from {PRODUCT} — answers come only from your documents."


def _heading(item: Evidence) -> str:
    """``Title — report.pdf, p. 5`` (the file name once when it is the title)."""
    where = ", ".join(part for part in (item.file_name, item.pages_label) if part)
    title = _one_line(item.title)
    return f"{title} — {where}" if title and title != item.file_name else where


_UNSAFE_CHARS = re.compile("[\u202a-\u202e\u2066-\u2069\ufeff]")  # bidi overrides and isolates, BOM


def clean_text(text: str) -> str:
    """Text safe to write: control characters (but newlines) and bidi overrides removed, tabs as spaces,
    anything that is not valid Unicode (lone surrogates) replaced."""
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")
    return _UNSAFE_CHARS.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", clean_text(text)) if p.strip()]


def marked_paragraphs(text: str, span: tuple[int, int] | None) -> list[list[tuple[str, bool]]]:
    """The paragraphs of ``text`` as pieces ``(text, marked)``, the characters of ``span`` marked: a sentence
    that runs over a paragraph break is marked in each paragraph. Lines inside a paragraph are joined."""
    if span and text[span[0] : span[1]].strip():
        pieces = [(text[: span[0]], False), (text[span[0] : span[1]], True), (text[span[1] :], False)]
    else:
        pieces = [(text, False)]
    paragraphs: list[list[tuple[str, bool]]] = [[]]
    for piece, marked in pieces:
        for i, part in enumerate(re.split(r"\n\s*\n", clean_text(piece))):
            if i:
                paragraphs.append([])
            part = re.sub(r"\s+", " ", part)
            if part:
                paragraphs[-1].append((part, marked))
    kept = []
    for paragraph in paragraphs:
        if "".join(p for p, _ in paragraph).strip():  # no space before the first piece or after the last
            paragraph[0] = (paragraph[0][0].lstrip(), paragraph[0][1])
            paragraph[-1] = (paragraph[-1][0].rstrip(), paragraph[-1][1])
            kept.append([(p, m) for p, m in paragraph if p])
    return kept


# --- Markdown -------------------------------------------------------------------------------------
def md_text(text: str) -> str:
    """Document or model text as Markdown that renders literally (see ``escape_markdown``)."""
    return escape_markdown(clean_text(text))


def _is_edge(ch: str) -> bool:
    """Whitespace or punctuation in CommonMark's sense (Unicode P* and S* categories)."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZ"


def md_strong(text: str) -> str:
    """``text`` in bold, escaped. Punctuation at either end stays outside the ``**`` so that they always open
    and close (CommonMark ignores ``**`` between a full stop and a letter, as in ``。**第``)."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    if start == end:
        return md_text(text)
    return md_text(text[:start]) + "**" + md_text(text[start:end]) + "**" + md_text(text[end:])


def _md_block(text: str) -> list[str]:
    """Paragraphs of model text, its line breaks kept (two trailing spaces)."""
    out = []
    for paragraph in _paragraphs(text):
        lines = [md_text(line.strip()) for line in paragraph.splitlines() if line.strip()]
        out.append("  \n".join(lines))
    return out


def markdown_document(answer: Answer, evidence: Sequence[Evidence], images: dict[int, str], stamp: datetime) -> str:
    """The Markdown export: ``images`` names the PNG file of each citation's page (relative to the file)."""
    notices = _notices(answer)
    blocks = [f"# {md_text(_one_line(answer.question)) or 'Question'}"]
    blocks += _md_block(answer.answer)
    if notices.refused_reason:
        blocks.append(f"**Why:** {md_text(notices.refused_reason)}")
    if notices.quoted_reason:
        blocks.append(f"**Quoted from your documents:** {md_text(notices.quoted_reason)}")
    if notices.unsupported:
        items = "\n".join(f"- {md_text(_one_line(s))}" for s in notices.unsupported)
        blocks.append(f"**{md_text(notices.unsupported_label)}**\n\n{items}")
    if notices.searched:
        blocks.append(f"**Searched only:** {md_text(', '.join(notices.searched))}")
    for item in evidence:
        blocks.append(f"## \\[{item.n}\\] {md_text(_heading(item))}")
        quote_lines = []
        for paragraph in marked_paragraphs(item.passage.text, item.passage.span):
            quote_lines.append("> " + "".join(md_strong(p) if marked else md_text(p) for p, marked in paragraph))
        if quote_lines:
            blocks.append("\n>\n".join(quote_lines))
        if item.n in images:
            blocks.append(f"![{md_text(item.page_label)}]({quote(images[item.n])})")
        elif item.note:
            blocks.append(f"Page image not included: {md_text(item.note)}")
    blocks.append("---")
    blocks.append(md_text(_footer(stamp)))
    return "\n\n".join(blocks) + "\n"


# --- HTML -----------------------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #1f2328;
       background: #fff; margin: 0; }
main { max-width: 52rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.15rem; margin: 2.2rem 0 0.2rem; }
.answer { font-size: 1.05rem; }
.notice { background: #f6f8fa; border-left: 4px solid #8c959f; padding: 0.5rem 0.9rem; }
.notice.warning { border-left-color: #bf8700; background: #fff8c5; }
.meta { color: #59636e; margin: 0 0 0.6rem; }
blockquote { margin: 0 0 1rem; padding: 0.4rem 1rem; border-left: 4px solid #d0d7de; background: #f6f8fa; }
mark { background: #ffe066; font-weight: 600; padding: 0 0.1em; }
figure { margin: 0.5rem 0 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption, .note { color: #59636e; font-size: 0.9rem; }
details { margin-top: 0.4rem; }
footer { color: #59636e; font-size: 0.85rem; border-top: 1px solid #d0d7de; margin-top: 2.5rem; padding-top: 0.8rem; }
a { color: #0969da; }
"""


def html_text(text: str) -> str:
    """Document or model text as HTML character data or attribute value: entity-escaped, quotes included, and
    ``:`` and ``=`` too, so not even a URL or an attribute can be read out of it by anything scanning the file."""
    return html.escape(clean_text(text), quote=True).replace(":", "&#58;").replace("=", "&#61;")


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_answer(text: str, cited: set[int]) -> list[str]:
    """Paragraphs of the answer, its line breaks kept and each ``[n]`` of a citation linked to its source."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f'<a href="#source-{n}">[{n}]</a>' if n in cited else match.group(0)

    paragraphs = []
    for paragraph in _paragraphs(text):
        lines = [re.sub(r"\[(\d+)\]", link, html_text(line.strip())) for line in paragraph.splitlines() if line.strip()]
        paragraphs.append("<br>\n".join(lines))
    return paragraphs


def _html_figure(item: Evidence) -> list[str]:
    if item.image is None:
        return [f'<p class="note">{html_text(item.note)}</p>'] if item.note else []
    label = html_text(item.page_label)
    if item.image.focus is None:
        return [f'<figure><img src="{_png_uri(item.image.page)}" alt="{label}"><figcaption>{label}</figcaption></figure>']
    close_up = (
        f'<figure><img src="{_png_uri(item.image.focus)}" alt="{label}, the marked sentence">'
        f"<figcaption>{label}</figcaption></figure>"
    )
    whole = (
        f'<details><summary>Whole page</summary><figure><img src="{_png_uri(item.image.page)}" alt="{label}">'
        "</figure></details>"
    )
    return [close_up, whole]


def html_document(answer: Answer, evidence: Sequence[Evidence], stamp: datetime) -> str:
    """The self-contained HTML export."""
    notices = _notices(answer)
    question = html_text(_one_line(answer.question)) or "Question"
    language = re.sub(r"[^A-Za-z0-9-]", "", answer.language or "") or "en"
    body = [f"<h1>{question}</h1>"]
    cited = {item.n for item in evidence}
    body += [f'<p class="answer">{p}</p>' for p in _html_answer(answer.answer, cited)]
    if notices.refused_reason:
        body.append(f'<p class="notice"><strong>Why&#58;</strong> {html_text(notices.refused_reason)}</p>')
    if notices.quoted_reason:
        body.append(
            f'<p class="notice"><strong>Quoted from your documents&#58;</strong> {html_text(notices.quoted_reason)}</p>'
        )
    if notices.unsupported:
        items = "".join(f"<li>{html_text(_one_line(s))}</li>" for s in notices.unsupported)
        body.append(f'<div class="notice warning"><strong>{html_text(notices.unsupported_label)}</strong><ul>{items}</ul></div>')
    if notices.searched:
        body.append(f'<p class="meta">Searched only&#58; {html_text(", ".join(notices.searched))}</p>')
    for item in evidence:
        body.append(f'<section id="source-{item.n}">')
        title = html_text(_one_line(item.title)) or html_text(item.file_name)
        body.append(f"<h2>[{item.n}] {title}</h2>")
        body.append(f'<p class="meta">{html_text(", ".join(p for p in (item.file_name, item.pages_label) if p))}</p>')
        paragraphs = marked_paragraphs(item.passage.text, item.passage.span)
        if paragraphs:
            inner = "".join(
                "<p>" + "".join(f"<mark>{html_text(p)}</mark>" if marked else html_text(p) for p, marked in paragraph) + "</p>"
                for paragraph in paragraphs
            )
            body.append(f"<blockquote>{inner}</blockquote>")
        body += _html_figure(item)
        body.append("</section>")
    body.append(f"<footer>{html_text(_footer(stamp))}</footer>")
    content = "\n".join(body)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{PRODUCT}">\n'
        f"<title>{question}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{content}\n</main>\n</body>\n</html>\n"
    )
