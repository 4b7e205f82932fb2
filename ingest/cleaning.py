"""Pure clean-up of text extracted from PDF pages.

pdfium ends lines with ``"\\r\\n"`` and marks a hyphen at a line end (a word broken across two lines)
with U+FFFE, usually dropping the line break after it. This module turns such raw page text into clean
text, one PDF line per text line, with a blank line between detected paragraphs:

- line breaks become ``"\\n"``; ligatures (ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ) are spelled out; odd spaces become spaces,
  zero-width and control characters are dropped; text is NFC-composed (not NFKC, which would also turn
  full-width CJK punctuation into ASCII);
- words hyphenated across a line break are joined (U+FFFE, U+00AD, U+0002, or a plain ``-`` at a line
  end between lower-case letters), unless the document itself spells the word with a hyphen or both
  halves are words of their own ("task-specific"): such a hyphen stays at the line end, line break and
  all (``"task-\nspecific"``), as printed; see ``resolve_hyphenation`` and ``join_hyphenated``;
- runs of spaces collapse, lines are stripped, paragraph ends get a blank line;
- running headers, footers and page numbers that repeat across pages are dropped (``find_running_lines``).

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Sequence

from rag.text import LIGATURES

# Markers of a hyphen at a line end: pdfium's U+FFFE, the Unicode soft hyphen, and pdfium's older U+0002.
SOFT_HYPHENS = "\ufffe\u00ad\x02"

_SPACES = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_CONTROLS = "".join(chr(c) for c in range(0x20) if chr(c) not in "\n\x02") + "\x7f"

_REPLACEMENTS = {
    **LIGATURES,
    **{c: " " for c in _SPACES},
    **{c: "" for c in _ZERO_WIDTH},
    **{c: "" for c in _CONTROLS},
}
# One regex pass finds the few characters to replace (much faster than str.translate on long text).
_REPLACE_RE = re.compile("[" + re.escape("".join(_REPLACEMENTS)) + "]")

_LETTERS = r"[^\W\d_]"
_WORD_RE = re.compile(rf"{_LETTERS}+(?:-{_LETTERS}+)*")
# A hyphen at a line end: a soft-hyphen marker (the line break after it is optional: pdfium drops it),
# or a plain hyphen followed by a line break.
_MARKER_RE = re.compile(rf"([{SOFT_HYPHENS}])[ \t]*(\n?)[ \t]*|-[ \t]*\n[ \t]*")
_HEAD_RE = re.compile(rf"{_LETTERS}+$")
_TAIL_RE = re.compile(rf"{_LETTERS}+")
_FRAGMENTS_RE = re.compile(rf"{_LETTERS}*(?:[{SOFT_HYPHENS}][ \t]*\n?|-[ \t]*\n)[ \t]*{_LETTERS}*")

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_BEFORE_BREAK = f"[{_CJK}\uff0c\u3001\uff1b\uff1a\u300a\u300c\u300e\u201c\uff08]"  # not after 。！？
_CJK_AFTER_BREAK = f"[{_CJK}\u3000-\u303f\uff00-\uffef\u201c\u201d]"
_CJK_BREAK_RE = re.compile(f"(?<={_CJK_BEFORE_BREAK})[ \t]*\n[ \t]*(?={_CJK_AFTER_BREAK})")

_TERMINAL = ".!?:。！？"
_CLOSERS = "\"'”’)]）」』"
_PARA_END_RE = re.compile(rf"[{re.escape(_TERMINAL)}][{re.escape(_CLOSERS)}]*$")
_PARA_START_RE = re.compile(r"^[\"'“‘(\[（「•·\-–—*]?\s*(?:[A-Z0-9]|[^\x00-\u2fff])")

_PAGE_NUMBER_RE = re.compile(
    r"(?:page\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,4})?|[-–—]\s*\d{1,4}\s*[-–—]",
    re.IGNORECASE,
)
PAGE_NUMBER_KEY = "<page number>"


# --------------------------------------------------------------------------------------------- chars


def normalize_newlines(text: str) -> str:
    """``\\r\\n``, ``\\r`` and form feeds become ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")


def normalize_chars(text: str) -> str:
    """Spell out ligatures, turn odd spaces into spaces, drop zero-width and control characters, NFC.

    Soft-hyphen markers (U+FFFE, U+00AD, U+0002) and line breaks are kept for ``join_hyphenated``.
    """
    text = _REPLACE_RE.sub(lambda m: _REPLACEMENTS[m.group()], normalize_newlines(text))
    return unicodedata.normalize("NFC", text)


# ------------------------------------------------------------------------------------------- hyphens


def build_vocabulary(texts: Sequence[str]) -> Counter[str]:
    """Count the words of ``texts`` (already through ``normalize_chars``), lower-cased, hyphenated
    compounds kept whole. The fragments on either side of a line-end hyphen are not counted."""
    vocab: Counter[str] = Counter()
    for text in texts:
        vocab.update(_WORD_RE.findall(_FRAGMENTS_RE.sub(" ", text).lower()))
    return vocab


def resolve_hyphenation(
    head: str, tail: str, vocab: Counter[str] | None = None, in_compound: bool = False
) -> str:
    """The word for ``head`` + line-end hyphen + ``tail``: joined ("repre-sentation" -> "representation")
    or kept hyphenated ("task-specific").

    Decided by the document's own spelling: the hyphenated form when the document uses it more often than
    the joined form; the joined form when the document uses it; else hyphenated when ``head`` already
    follows a hyphen ("left-to-right"), ``tail`` starts with a capital, or both halves are words of 3+
    letters the document uses on their own; else joined.
    """
    vocab = vocab if vocab is not None else Counter()
    joined = (head + tail).lower()
    hyphenated = f"{head}-{tail}".lower()
    if vocab[hyphenated] > vocab[joined]:
        return f"{head}-{tail}"
    if vocab[joined]:
        return head + tail
    if in_compound or (tail[:1].isupper() and not head.isupper()):
        return f"{head}-{tail}"
    if len(head) > 2 and len(tail) > 2 and vocab[head.lower()] and vocab[tail.lower()]:
        return f"{head}-{tail}"
    return head + tail


def join_cjk_lines(text: str) -> str:
    """Remove a line break between two CJK characters: Chinese and Japanese wrap lines anywhere and
    put no space between words, so the break is not a word boundary. A break after 。！？ is kept."""
    return _CJK_BREAK_RE.sub("", text)


def join_hyphenated(text: str, vocab: Counter[str] | None = None) -> str:
    """Join words hyphenated across a line break; the line break, if any, moves after the joined word.

    Handles pdfium's U+FFFE (with or without a following line break), U+00AD, U+0002, and a plain ``-``
    at a line end between two lower-case letters. A plain hyphen before a capital is left alone.
    When ``resolve_hyphenation`` keeps the hyphen ("task-specific"), the text reads ``"task-\nspecific"``:
    a hyphen at a line end, as printed, so that a reader who joins line-end hyphens gets what the PDF's
    own text would give, and one who keeps them gets the compound. A soft-hyphen marker that is not
    between two letters ("GPT\ufffe3") stands for a printed hyphen: it becomes ``-``.
    """
    out: list[str] = []
    done = 0  # text[:done] is in ``out``
    for marker in _MARKER_RE.finditer(text):
        start, end = marker.span()
        if start < done:
            continue
        soft, soft_newline = marker.group(1), marker.group(2)
        head = _HEAD_RE.search(text, max(done, start - 80), start)
        tail = _TAIL_RE.match(text, end)
        if head is None or tail is None:
            if soft:
                out.append(text[done:start] + "-")
                done = end
            continue
        first, second = head.group(), tail.group()
        if not soft and not (first[-1].islower() and second[0].islower()):
            continue
        in_compound = head.start() > 0 and text[head.start() - 1] == "-"
        word = resolve_hyphenation(first, second, vocab, in_compound)
        out.append(text[done : head.start()])
        if word[len(first) : len(first) + 1] == "-":
            out.append(f"{first}-\n{second}")  # a real hyphen at a line end stays where it was printed
            done = tail.end()
        else:
            newline = soft_newline if soft else "\n"
            out.append(word + newline)
            done = tail.end()
            while newline and done < len(text) and text[done] in " \t":
                done += 1  # the rest of the line starts the next line
    out.append(text[done:])
    return "".join(out)


# ---------------------------------------------------------------------------------------- whitespace


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, strip every line, keep at most one blank line (a paragraph break)."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def mark_paragraph_breaks(text: str, short_ratio: float = 0.8) -> str:
    """Put a blank line after a line that ends a sentence and is clearly shorter than the page's typical
    line, when the next line starts like a new paragraph. Pages with fewer than 5 full lines are kept."""
    lines = text.split("\n")
    widths = [len(line) for line in lines if len(line) >= 20]
    if len(widths) < 5:
        return text
    typical = statistics.median(widths)
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line
            and nxt
            and len(line) < short_ratio * typical
            and _PARA_END_RE.search(line)
            and _PARA_START_RE.match(nxt)
        ):
            out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------- headers and footers


def line_key(line: str) -> str:
    """What a running line looks like on every page: lower-cased, digits as ``#``, spaces collapsed;
    a bare page number ("12", "iv", "Page 3 of 9", "- 7 -") is ``PAGE_NUMBER_KEY``."""
    s = " ".join(line.split()).lower()
    if _PAGE_NUMBER_RE.fullmatch(s):
        return PAGE_NUMBER_KEY
    return re.sub(r"\d+", "#", s)


def _edge_indices(lines: Sequence[str], edge: int) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:edge]) | set(filled[-edge:])) if edge > 0 else []


def find_running_lines(
    pages: Sequence[str], edge: int = 3, min_pages: int = 3, min_share: float = 0.3
) -> set[str]:
    """Keys (see ``line_key``) of lines that recur among the first or last ``edge`` lines of at least
    ``min_pages`` pages and at least ``min_share`` of all pages. Fewer pages than ``min_pages``: none."""
    if len(pages) < min_pages:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        lines = page.split("\n")
        counts.update({line_key(lines[i]) for i in _edge_indices(lines, edge)})
    needed = max(min_pages, math.ceil(min_share * len(pages)))
    return {key for key, n in counts.items() if n >= needed and key}


def remove_running_lines(pages: Sequence[str], keys: set[str], edge: int = 3) -> list[str]:
    """Drop, from the first and last ``edge`` lines of each page, the lines whose key is in ``keys``."""
    out = []
    for page in pages:
        lines = page.split("\n")
        drop = {i for i in _edge_indices(lines, edge) if line_key(lines[i]) in keys}
        out.append("\n".join(line for i, line in enumerate(lines) if i not in drop))
    return out


# ------------------------------------------------------------------------------------------ pipeline


def clean_page(raw: str, vocab: Counter[str] | None = None) -> str:
    """One page on its own (no header/footer removal, which needs the other pages)."""
    text = join_cjk_lines(join_hyphenated(normalize_chars(raw), vocab))
    return normalize_whitespace(mark_paragraph_breaks(normalize_whitespace(text)))


def clean_pages(raw_pages: Sequence[str], edge: int = 3) -> list[str]:
    """Clean the raw texts of all pages of one document, in page order.

    The document's own words decide how line-end hyphens resolve, and lines that repeat at the top or
    bottom of many pages (running headers, footers, page numbers) are dropped.
    """
    chars = [normalize_chars(p) for p in raw_pages]
    vocab = build_vocabulary(chars)
    pages = [normalize_whitespace(join_cjk_lines(join_hyphenated(p, vocab))) for p in chars]
    keys = find_running_lines(pages, edge=edge)
    if keys:
        kept = remove_running_lines(pages, keys, edge=edge)
        # Pages made only of lines that look alike (e.g. "Slide 3", "Slide 4") are content, not furniture.
        if any(page.strip() for page in kept):
            pages = kept
    return [normalize_whitespace(mark_paragraph_breaks(normalize_whitespace(p))) for p in pages]
