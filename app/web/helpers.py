"""Pure helpers of the web chat: safe upload names, size limits, escaping, sentence highlighting, labels.

Nothing here touches Streamlit, so every rule the page relies on is tested on its own. Text that comes
from documents or from the model is only ever shown through ``escape_markdown``: Streamlit then renders
it as plain characters, never as HTML, links, images, LaTeX or colour directives.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence

from ingest.pipeline import IngestEvent
from rag.analysis import analyze
from rag.errors import DocumentError

# --- uploads --------------------------------------------------------------------------------------
MAX_NAME_CHARS = 120
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ()\[\]+,&@'=~]+")
_RESERVED_WINDOWS = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


def safe_upload_name(name: str) -> str:
    """A file name that stays inside the uploads folder, whatever the browser sent.

    Only the last path component is kept (``/`` and ``\\`` both separate), control and odd characters
    become ``_``, leading dots go (no hidden files, no ``..``), the name is shortened to a sane length and
    always ends in ``.pdf``.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control, format, unassigned
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix.lower() != "pdf":
        stem = name
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip(" ._")
    if not stem or stem.lower() in _RESERVED_WINDOWS:
        stem = f"document_{stem}" if stem else "document"
    stem = stem[: MAX_NAME_CHARS - 4].rstrip(" ._")
    return f"{stem}.pdf"


def upload_destination(uploads_dir: Path, name: str) -> Path:
    """Where an uploaded file called ``name`` is stored: always directly inside ``uploads_dir``."""
    root = Path(uploads_dir).resolve()
    target = (root / safe_upload_name(name)).resolve()
    if target.parent != root:  # cannot happen with safe_upload_name; a second lock on the door
        raise DocumentError(f"refused upload name {name!r}")
    return target


def upload_size_error(name: str, size_bytes: int, max_mb: float) -> str | None:
    """The message shown when an upload is over the size limit (``max_upload_mb``), else None."""
    if size_bytes <= max_mb * 1024 * 1024:
        return None
    return (
        f"{name} is {format_size(size_bytes)}; the limit is {format_mb(max_mb)} MB "
        "(setting max_upload_mb, environment variable RAG_MAX_UPLOAD_MB)"
    )


def upload_limit_mb(max_mb: float) -> int:
    """The whole number of megabytes Streamlit's uploader enforces in the browser (at least 1)."""
    return max(1, math.ceil(max_mb))


def format_mb(value: float) -> str:
    return f"{value:g}"


def format_size(size_bytes: int) -> str:
    """``12.0 MB``, ``850 KB`` or ``12 bytes``."""
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / (1024 * 1024):.1f} MB"
    if size_bytes >= 1024:
        return f"{size_bytes / 1024:.0f} KB"
    return f"{size_bytes} bytes"


# --- escaping -------------------------------------------------------------------------------------
_MARKDOWN_SPECIALS = frozenset(string.punctuation)


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows escaping any of them), so no
    emphasis, link, image, HTML tag, entity, table, LaTeX (``$``) or Streamlit directive (``:red[...]``)
    can form. Escaping is per character, so pieces of a stream can be escaped one by one.
    """
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIALS else ch for ch in text)


def escape_stream(pieces: Iterable[str]) -> Iterator[str]:
    """Escape each streamed piece of model text (see ``escape_markdown``)."""
    for piece in pieces:
        if piece:
            yield escape_markdown(piece)


def tidy_passage(text: str) -> str:
    """A chunk's text for reading: PDF lines joined, paragraphs kept, spaces collapsed."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    joined = (" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)
    return "\n\n".join(re.sub(r"[ \t]+", " ", p) for p in joined if p)


# --- supporting sentence --------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[^a-z\s])|[。！？]|\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``, surrounding whitespace excluded.

    A sentence ends at ``.``, ``!`` or ``?`` (with closing quotes or brackets) before a space and a
    character that is not a lower-case letter (so "e.g. this" and "3.5" stay whole), at a CJK full stop,
    and at a paragraph break.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _add_span(text, start, match.end(), spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    segment = text[start:end]
    stripped = segment.strip()
    if not stripped:
        return
    lead = len(segment) - len(segment.lstrip())
    spans.append((start + lead, start + lead + len(stripped)))


def best_supporting_span(passage: str, claim: str) -> tuple[int, int] | None:
    """The span of the passage sentence that shares the most keyword tokens with ``claim``.

    Tokens are the stemmed keyword tokens retrieval uses (``rag.analysis.analyze``); ties go to the
    earlier sentence. None when no sentence shares a token with the claim.
    """
    wanted = set(analyze(claim))
    if not wanted:
        return None
    best: tuple[float, tuple[int, int]] | None = None
    for span in sentence_spans(passage):
        tokens = set(analyze(passage[span[0] : span[1]]))
        shared = len(tokens & wanted)
        if not shared:
            continue
        score = shared / math.sqrt(len(tokens))  # prefer focused sentences over long lists of terms
        if best is None or score > best[0]:
            best = (score, span)
    return best[1] if best else None


_CITE_MARK = re.compile(r"\s*\[\d+\]")
_MARKER_AFTER_STOP = re.compile(r"([.!?。！？])((?:\s*\[\d+\])+)")


def claim_for_citation(answer: str, n: int) -> str:
    """The answer sentences that cite ``[n]``; the whole answer (without markers) when none does."""
    answer = _MARKER_AFTER_STOP.sub(r"\2\1", answer)  # "fact. [1]" cites the sentence before it
    cited = [answer[a:b] for a, b in sentence_spans(answer) if f"[{n}]" in answer[a:b]]
    text = " ".join(cited) if cited else answer
    return " ".join(_CITE_MARK.sub("", text).split())


def highlighted_markdown(passage: str, span: tuple[int, int] | None) -> str:
    """Escaped markdown of ``passage`` with ``span`` highlighted (bold on a yellow background)."""
    if span is None:
        return escape_markdown(passage)
    start, end = span
    before, inside, after = passage[:start], passage[start:end], passage[end:]
    if not inside.strip():
        return escape_markdown(passage)
    # Each paragraph of the sentence is highlighted on its own: markdown directives do not span blank lines.
    parts = [f":yellow-background[**{escape_markdown(p)}**]" if p.strip() else p for p in re.split(r"(\n\s*\n)", inside)]
    return escape_markdown(before) + "".join(parts) + escape_markdown(after)


def locate_snippet(passage: str, snippet: str) -> tuple[int, int] | None:
    """The span of ``snippet`` in ``passage``, whitespace-insensitive; a trailing "…" (a cut snippet) is ignored."""
    words = snippet.strip().rstrip("\u2026").split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (match.start(), match.end()) if match else None


@dataclass(frozen=True)
class ShownPassage:
    """The passage shown under a source: its text, the supporting sentence's span in it, and its pages."""

    text: str
    span: tuple[int, int] | None
    pages: list[int]

    @property
    def sentence(self) -> str | None:
        return self.text[self.span[0] : self.span[1]] if self.span else None


def shown_passage(chunks: Sequence, pages: Sequence[int], snippet: str, claim: str = "") -> ShownPassage:  # noqa: ANN001
    """The chunk of a cited document that holds the supporting sentence, with that sentence's span.

    ``chunks`` are the document's chunks (``rag.types.Chunk``); those on the cited ``pages`` are tried first.
    The sentence is the citation's ``snippet`` found verbatim; failing that, the sentence sharing most
    words with the snippet (or with ``claim``, the answer's words). Without any chunk, the snippet alone.
    """
    wanted = set(pages)
    on_pages = [c for c in chunks if wanted & set(c.pages)] if wanted else list(chunks)
    candidates = on_pages or list(chunks)
    tidied = [(c, tidy_passage(c.text)) for c in candidates]
    for chunk, text in tidied:
        span = locate_snippet(text, snippet) if snippet else None
        if span:
            return ShownPassage(text, span, _pages_of(chunk, wanted))
    for chunk, text in tidied:
        span = best_supporting_span(text, snippet or claim)
        if span:
            return ShownPassage(text, span, _pages_of(chunk, wanted))
    text = " ".join(snippet.split())
    return ShownPassage(text, (0, len(text)) if text else None, sorted(wanted))


def _pages_of(chunk, wanted: set[int]) -> list[int]:  # noqa: ANN001
    pages = [p for p in chunk.pages if p in wanted] if wanted else []
    return pages or list(chunk.pages)


# --- labels ---------------------------------------------------------------------------------------
def document_label(title: str, file_name: str, limit: int = 48) -> str:
    """A document as a picker lists it: its title (cut at ``limit`` characters) and file name."""
    title = " ".join(title.split())
    if len(title) > limit:
        title = title[: limit - 1].rstrip() + "…"
    return f"{title} ({file_name})" if title and title != file_name else file_name


def format_pages(pages: Sequence[int]) -> str:
    """``p. 3``, ``pp. 3–5`` for a run, ``pp. 2, 7`` otherwise."""
    unique = sorted(set(int(p) for p in pages))
    if not unique:
        return ""
    if len(unique) == 1:
        return f"p. {unique[0]}"
    if unique == list(range(unique[0], unique[-1] + 1)):
        return f"pp. {unique[0]}–{unique[-1]}"
    return "pp. " + ", ".join(str(p) for p in unique)


def format_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def describe_timings(timings: dict[str, float]) -> str:
    """``Answered in 2.4 s (first words after 0.8 s)`` from an answer's timings; empty without a total."""
    total = float(timings.get("total") or 0.0)
    if total <= 0:
        return ""
    first = float(timings.get("first_token") or 0.0)
    if 0 < first < total * 0.9:
        return f"Answered in {total:.1f} s (first words after {first:.1f} s)"
    return f"Answered in {total:.1f} s"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def tables_note(reading, form: str = "{} · ") -> str:  # noqa: ANN001 - rag.types.ReadingReport | None
    """"3 tables · " (or ``form`` around "3 tables": ", {}" in an ingest line) when the reading report found
    tables; "" otherwise, also for documents ingested before reading reports existed."""
    return form.format(plural(reading.tables, "table")) if reading is not None and reading.tables else ""


Level = Literal["success", "info", "warning", "error"]


@dataclass(frozen=True)
class ResultLine:
    level: Level
    text: str  # plain text: escape before rendering as markdown


def describe_result(result) -> ResultLine:  # noqa: ANN001 - ingest.pipeline.FileResult
    """One line per ingested file, as the sidebar shows it."""
    name = Path(result.path).name
    if result.status in ("added", "replaced"):
        reading = result.reading
        attention = f" ({reading.summary()})" if reading is not None and reading.needs_attention else ""
        tables = tables_note(reading, ", {}")
        return ResultLine("success", f"{name}: {result.status}, {plural(result.pages, 'page')}{tables}, "
                          f"{plural(result.chunks, 'chunk')}{attention}")
    if result.status == "failed":
        return ResultLine("error", f"{name}: {result.reason or 'failed'}")
    if result.status == "not processed":
        return ResultLine("warning", f"{name}: not processed ({result.reason})")
    detail = f" ({result.reason})" if result.reason else ""
    return ResultLine("info", f"{name}: {result.status}{detail}")


def describe_backends(settings) -> list[tuple[str, str]]:  # noqa: ANN001 - rag.settings.Settings
    """(what, which) for the sidebar: the chat model, the embedder and the stores in use."""
    s = settings
    model = s.llm_model
    if s.llm_backend == "llamacpp":
        model = "SmolLM2-135M-Instruct (packaged)" if model.strip().lower() in ("auto", "smollm2") else Path(model).name
        engine = f"llama.cpp · {model}"
    elif s.llm_backend == "openai":
        engine = f"OpenAI-compatible server · {model} at {s.llm_url}"
    else:
        engine = f"transformers · {model}"
    keyword = (
        f"SQLite FTS5 · {s.keyword_path}"
        if s.keyword_backend == "sqlite"
        else f"Elasticsearch · {s.elasticsearch_url} (index {s.elasticsearch_index})"
    )
    vectors = (
        f"Chroma server · {s.chroma_url} (collection {s.chroma_collection})"
        if s.chroma_url
        else f"Chroma embedded · {s.chroma_path}"
    )
    return [
        ("Chat model", engine),
        ("Embeddings", s.embedding_model),
        ("Keyword index", keyword),
        ("Vectors", vectors),
    ]


def unsupported_sentences(grounding: object) -> list[str]:
    """The answer sentences the grounding check found no support for (a dict or an object with the field)."""
    if grounding is None:
        return []
    value = grounding.get("unsupported_sentences") if isinstance(grounding, dict) else getattr(grounding, "unsupported_sentences", None)
    return [str(s) for s in value or []]


def unsupported_note(answer: object) -> str:
    """The line under an answer that lists the model's unsupported sentences ("" when there are none); for an
    answer that quotes the passages instead, it says the model's answer is not shown."""
    sentences = unsupported_sentences(getattr(answer, "grounding", None))
    if not sentences:
        return ""
    label = (
        "The model's answer, not supported by the sources, is not shown: "
        if getattr(answer, "quoted", False)
        else "Not supported by the sources: "
    )
    return label + " \u00b7 ".join(f"\u201c{s}\u201d" for s in sentences)


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves to somewhere inside ``folder``."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


# --- ingestion progress -----------------------------------------------------------------------------
def ingest_progress_text(event: IngestEvent) -> str:
    """The upload progress bar's line: the file being read (and the page OCR is reading), then the pages
    done of all the files' pages, pages/s and the time left."""
    state = event.progress
    if state is None:
        return ""
    if event.kind == "start":
        head = f"{state.files_total} file{'s' if state.files_total != 1 else ''}"
    elif event.kind == "done":
        head = f"{state.files_done} of {state.files_total} done"
    else:
        head = f"Reading {Path(event.path).name} ({state.files_done + 1} of {state.files_total})"
        if event.kind == "ocr":
            head += f": OCR of page {event.page} of {event.pages_total}"
    return f"{head} · {state.describe()}"
