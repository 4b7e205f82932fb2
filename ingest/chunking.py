"""Sentence-aware, token-budgeted chunks of a parsed document.

The document's text is its page texts joined by a blank line (``document_text``). Every chunk is an exact
slice of it: ``chunk.text == document_text(doc)[chunk.char_start:chunk.char_end]``; chunks start and end
on sentence boundaries, so they never begin or end with whitespace. Chunks may span pages.

How the text is cut:
- into sentences (``split_sentences``): after ``. ! ?`` followed by whitespace and a capital, digit or
  opening quote/bracket, unless the word before the full stop is a known abbreviation ("e.g.", "et al.",
  "Fig.") or an initial ("Albert Q. Jiang"); decimals never end a sentence; after ``。！？`` always; at
  blank lines (paragraphs, pages) and around heading lines (``is_heading``).
- sentences are packed greedily while the token count stays within ``chunk_tokens``. Token counts come
  from ``count_tokens``, a batch function (the embedding model's tokenizer). A sentence is cut only when
  it alone exceeds the budget: then at word boundaries (between characters for CJK text, inside a word
  only when one word alone is too long).
- consecutive chunks share about ``overlap`` of the budget: whole sentences from the end of the previous
  chunk (none when a chunk starts at a heading).
- a heading ends a chunk that is already half full; each chunk carries the heading in effect where its
  own (non-repeated) text starts.
- with ``keep_tables`` (off by default: measured, it did not help; see the README), tables
  (``ingest.tables.find_tables``: caption, header and rows) are never cut when they fit the budget. The
  document is first chunked as above; only the chunks that cut a table (no one chunk holds all of it) are
  planned again, over the same stretch of text, with the table as one unit packed with the prose around it
  like a sentence. Every other chunk stays exactly as it was, so finding a table changes only the chunks
  around it. A table over the budget is cut between rows into pieces, one chunk each, and every piece after
  the first begins with the table's caption and header, repeated, so a row is never read without its column
  names. Such a chunk's text is the repeated lines, a newline, then its slice of the document text:
  ``chunk.text`` always *ends with* ``document_text(doc)[chunk.char_start:chunk.char_end]``, and equals it
  for every other chunk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.tables import TableSpan, find_tables
from rag.types import Chunk, ParsedDocument, chunk_id_for

PAGE_SEPARATOR = "\n\n"

CountTokens = Callable[[Sequence[str]], list[int]]

ABBREVIATIONS = frozenset(
    """
    e.g i.e cf vs viz al fig figs eq eqs sec secs tab tabs ch app apps ref refs no nos vol vols pp
    approx resp dr mr mrs ms prof jr sr st inc ltd co corp dept est ca u.s u.k e.u a.k.a incl
    def thm lem prop cor alg ex nr art para
    """.split()
)

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CLOSERS = "\"'”’)]）」』】"
_CLOSERS_CLASS = re.escape(_CLOSERS)
_LATIN_END_RE = re.compile(
    rf"[.!?]+[{_CLOSERS_CLASS}]*(?=\s+[\"'“‘(\[]?[A-Z0-9\u00c0-\u00de{_CJK_CHARS}])"
)
_CJK_END_RE = re.compile(rf"[。！？]+[{_CLOSERS_CLASS}]*")
_BLOCK_SPLIT_RE = re.compile(r"\n[ \t]*\n\s*")
_TOKEN_RE = re.compile(rf"[{_CJK_CHARS}]|[^\s{_CJK_CHARS}]+")
_PREV_WORD_RE = re.compile(r"(\S+)$")
_LINE_RE = re.compile(r"[^\n]*\S[^\n]*")

_KNOWN_HEADINGS = frozenset(
    """
    abstract introduction conclusion conclusions references bibliography acknowledgments
    acknowledgements background discussion results experiments method methods methodology limitations
    summary appendix appendices contents preface foreword glossary overview evaluation
    摘要 引言 结论 参考文献 致谢 背景 方法 实验 讨论 附录 目录
    """.split()
) | {"related work", "executive summary", "table of contents", "broader impact", "future work"}
_NUMBER = r"(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[A-Z](?:\.\d{1,2}){1,3}\.?|[A-Z]\.|[IVX]{1,5}\.)"
_NUMBERED_RE = re.compile(
    rf"(?:(?:appendix|chapter|section|part)\s+)?{_NUMBER}\s+(?P<title>\S.*)|"
    r"(?:appendix|chapter|part)\s+[A-Z0-9]{1,3}[.:]?(?:\s+(?P<title2>\S.*))?",
    re.IGNORECASE,
)
_TOC_PAGE_RE = re.compile(r"(?:\.\s+|[a-z]{4})\d{1,4}$")
_INITIAL_RE = re.compile(r"\b[A-Z]\.\s")
_CJK_NUMBERED_RE = re.compile(r"(?:第[一二三四五六七八九十百\d]+[章节部分]|[一二三四五六七八九十]+、)\s*\S.{0,30}")


def document_text(doc: ParsedDocument) -> str:
    """The document's text: its page texts joined by ``PAGE_SEPARATOR`` (a blank line)."""
    return PAGE_SEPARATOR.join(page.text for page in doc.pages)


# ------------------------------------------------------------------------------------------ headings


def is_heading(line: str) -> bool:
    """Whether a line looks like a section heading: a known name ("Abstract", "References", "参考文献"),
    or a number and a short title ("3.2 Scaled Dot-Product Attention", "A.1 Details", "IV. Results",
    "第三章 方法"). Body lines, table rows and table-of-contents entries do not."""
    line = line.strip()
    if not line or len(line) > 100:
        return False
    bare = line.rstrip(":").strip().lower()
    if bare in _KNOWN_HEADINGS:
        return True
    if _CJK_NUMBERED_RE.fullmatch(line):
        return True
    match = _NUMBERED_RE.fullmatch(line)
    if not match:
        return False
    title = match.group("title") or match.group("title2") or ""
    if not title:
        return True  # "Appendix A"
    if title.lower().rstrip(":") in _KNOWN_HEADINGS:
        return True
    return _looks_like_title(title)


def _looks_like_title(title: str) -> bool:
    words = title.split()
    if not words or len(words) > 10 or len(title) > 80:
        return False
    if not (title[0].isupper() or "\u3400" <= title[0] <= "\u9fff"):
        return False
    if title[-1] in ".,;" or "..." in title or "…" in title or ". ." in title:
        return False
    if _TOC_PAGE_RE.search(title) or _INITIAL_RE.search(title):
        return False  # a table-of-contents entry ("Perimeters. 12"), a list of names ("A. Vaswani, N. Shazeer")
    if sum(ch.isalpha() for ch in title) < 2:
        return False
    if any(ch in title for ch in "=%|<>"):
        return False
    visible = [ch for ch in title if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) < 0.6 * len(visible):
        return False
    if any(word.isdigit() for word in words[1:-1]):
        return False
    long_words = [w for w in words if len(w) > 3 and w[0].isalpha()]
    if len(words) > 3 and long_words:
        capitalised = sum(1 for w in long_words if w[0].isupper())
        if capitalised < 0.6 * len(long_words):
            return False
    return True


def find_headings(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the heading lines of ``text``."""
    spans = []
    pos = 0
    for line in text.split("\n"):
        if is_heading(line):
            lead = len(line) - len(line.lstrip())
            spans.append((pos + lead, pos + len(line.rstrip())))
        pos += len(line) + 1
    return spans


# ----------------------------------------------------------------------------------------- sentences


def _ends_with_abbreviation(text: str, pos: int) -> bool:
    """Whether the full stop at ``text[pos]`` ends an abbreviation or an initial."""
    match = _PREV_WORD_RE.search(text, max(0, pos - 30), pos)
    if not match:
        return False
    word = match.group(1).lstrip("([{\"'“‘")
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "Albert Q. Jiang"
    return word.lower() in ABBREVIATIONS


def _sentence_ends(text: str, start: int, end: int) -> list[int]:
    ends = []
    for match in _LATIN_END_RE.finditer(text, start, end):
        if match.group().rstrip(_CLOSERS) == "." and _ends_with_abbreviation(text, match.start()):
            continue
        ends.append(match.end())
    ends.extend(match.end() for match in _CJK_END_RE.finditer(text, start, end))
    return sorted(set(ends))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text[start:end]``, trimmed of whitespace, in order.

    Blank lines and heading lines (``is_heading``) always separate sentences; a heading is a sentence
    of its own.
    """
    end = len(text) if end is None else end
    blocks: list[tuple[int, int]] = []
    pos = start
    for gap in _BLOCK_SPLIT_RE.finditer(text, start, end):
        blocks.append((pos, gap.start()))
        pos = gap.end()
    blocks.append((pos, end))

    spans: list[tuple[int, int]] = []
    for block_start, block_end in blocks:
        pieces: list[tuple[int, int]] = []
        cursor = block_start
        for h_start, h_end in find_headings(text[block_start:block_end]):
            h_start, h_end = h_start + block_start, h_end + block_start
            pieces.append((cursor, h_start))
            pieces.append((h_start, h_end))
            cursor = h_end
        pieces.append((cursor, block_end))
        for piece_start, piece_end in pieces:
            cut = piece_start
            for stop in _sentence_ends(text, piece_start, piece_end):
                span = _trimmed(text, cut, stop)
                if span:
                    spans.append(span)
                cut = stop
            span = _trimmed(text, cut, piece_end)
            if span:
                spans.append(span)
    return spans


# ------------------------------------------------------------------------------------------- chunking


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an oversize sentence, a table, a piece of a table) with its token count
    (repeated lines included). ``prefix``: lines repeated above it (a split table's caption and header);
    ``alone``: it is a chunk of its own, and no earlier text is repeated before it (a piece of a table over
    budget)."""

    start: int
    end: int
    tokens: int
    heading: bool = False
    prefix: str = ""
    alone: bool = False


def _split_oversize(
    text: str, start: int, end: int, budget: int, count_tokens: CountTokens, overhead: int
) -> list[tuple[int, int]]:
    """Cut the oversize sentence ``text[start:end]`` into pieces within ``budget`` tokens: whole lines
    where they fit (table rows, reference entries stay whole), else between words (CJK characters),
    inside a word only when that word alone is too long."""
    lines = [m.span() for m in _LINE_RE.finditer(text, start, end)]
    line_sizes = count_tokens([text[s:e] for s, e in lines])
    segments: list[tuple[int, int, int]] = []  # (start, end, tokens without overhead)
    for (s, e), n in zip(lines, line_sizes):
        if n <= budget:
            segments.append((s, e, max(0, n - overhead)))
            continue
        words = [m.span() for m in _TOKEN_RE.finditer(text, s, e)]
        sizes = count_tokens([text[ws:we] for ws, we in words])
        segments.extend((ws, we, max(0, wn - overhead)) for (ws, we), wn in zip(words, sizes))

    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(segments):
        total, j = overhead, i
        while j < len(segments) and total + segments[j][2] <= budget:
            total += segments[j][2]
            j += 1
        if j == i:  # one word alone is over budget
            pieces.extend(_split_chars(text, segments[i][0], segments[i][1], budget, count_tokens))
            i += 1
            continue
        pieces.append((segments[i][0], segments[j - 1][1]))
        i = j
    # Counts of parts add up to (almost exactly) the count of the whole; make sure anyway.
    checked: list[tuple[int, int]] = []
    for (s, e), n in zip(pieces, count_tokens([text[s:e] for s, e in pieces])):
        checked.extend([(s, e)] if n <= budget else _split_chars(text, s, e, budget, count_tokens))
    return checked


def _split_chars(
    text: str, start: int, end: int, budget: int, count_tokens: CountTokens
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces within budget, at the last word boundary that fits, else at
    the last character that fits (binary search; only for pathological input)."""

    def fits(cut: int) -> bool:
        return count_tokens([text[start:cut]])[0] <= budget

    pieces = []
    while start < end:
        if fits(end):
            pieces.append((start, end))
            break
        cuts = [m.end() for m in _TOKEN_RE.finditer(text, start, end) if m.end() < end]
        cut = _last_true(cuts, fits) or _last_true(list(range(start + 1, end)), fits) or start + 1
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    return pieces


def _last_true(cuts: list[int], fits: Callable[[int], bool]) -> int | None:
    """The largest cut (``cuts`` ascending) for which ``fits`` holds, assuming it holds up to a point."""
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(cuts[mid]):
            best, lo = cuts[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _outside_tables(text: str, spans: list[tuple[int, int]], tables: Sequence[TableSpan]) -> list[tuple[int, int]]:
    """The parts of the sentence spans that lie outside every table (a sentence a table cuts is cut)."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        cursor = s
        for table in tables:
            if table.end <= cursor or table.start >= e:
                continue
            if cursor < table.start and (piece := _trimmed(text, cursor, table.start)):
                out.append(piece)
            cursor = max(cursor, table.end)
        if cursor < e and (piece := _trimmed(text, cursor, e)):
            out.append(piece)
    return out


def _table_units(text: str, table: TableSpan, count_tokens: CountTokens, budget: int, overhead: int) -> list[_Unit]:
    """A table over budget, cut between rows into pieces within budget; every piece but the first repeats
    the caption and header (unless they take more than half the budget); a caption set below the table is
    repeated by its first line, above the header."""
    caption = text[slice(*table.caption_below)] if table.caption_below else ""
    lead = "\n".join(part for part in (caption, text[table.start : table.lead_end]) if part)
    lead_tokens, caption_tokens = (max(0, n - overhead) + 1 for n in count_tokens([lead, caption]))
    if lead_tokens > budget / 2 or not lead:
        lead, lead_tokens, caption, caption_tokens = "", 0, "", 0
    lines = ([(table.start, table.lead_end)] if table.has_lead else []) + list(table.rows)
    sizes = [max(0, n - overhead) for n in count_tokens([text[s:e] for s, e in lines])]
    units: list[_Unit] = []
    i = 0
    while i < len(lines):
        prefix, total = (lead, overhead + lead_tokens) if units else (caption, overhead + (caption_tokens if caption else 0))
        j = i
        while j < len(lines) and total + sizes[j] + (j > i) <= budget:
            total += sizes[j] + (j > i)
            j += 1
        if j == i:  # one line alone is over budget: cut it like an oversize sentence
            for ps, pe in _split_oversize(text, lines[i][0], lines[i][1], budget, count_tokens, overhead):
                units.append(_Unit(ps, pe, max(0, count_tokens([text[ps:pe]])[0] - overhead), alone=True))
            i += 1
            continue
        units.append(_Unit(lines[i][0], lines[j - 1][1], total - overhead, prefix=prefix, alone=True))
        i = j
    return units


def _units(
    text: str,
    count_tokens: CountTokens,
    budget: int,
    overhead: int,
    tables: Sequence[TableSpan] = (),
    bounds: tuple[int, int] | None = None,
) -> list[_Unit]:
    """The units of ``text[bounds[0]:bounds[1]]`` (all of it by default): its sentences, and each of
    ``tables`` (which lie within the bounds) as one unit, or cut between rows when over budget."""
    start, end = bounds or (0, len(text))
    spans = _outside_tables(text, split_sentences(text, start, end), tables)
    if not spans and not tables:
        return []
    headings = set(_heading_spans(text, spans))
    table_counts = count_tokens([text[t.start : t.end] for t in tables]) if tables else []
    units = []
    for table, n in zip(tables, table_counts):
        if n <= budget:
            units.append(_Unit(table.start, table.end, max(0, n - overhead)))
        else:
            units.extend(_table_units(text, table, count_tokens, budget, overhead))
    counts = count_tokens([text[s:e] for s, e in spans]) if spans else []
    for (s, e), n in zip(spans, counts):
        if n <= budget:
            units.append(_Unit(s, e, max(0, n - overhead), (s, e) in headings))
            continue
        pieces = _split_oversize(text, s, e, budget, count_tokens, overhead)
        piece_counts = count_tokens([text[ps:pe] for ps, pe in pieces])
        units.extend(_Unit(ps, pe, max(0, pn - overhead)) for (ps, pe), pn in zip(pieces, piece_counts))
    return sorted(units, key=lambda u: u.start)


def _heading_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(s, e) for s, e in spans if "\n" not in text[s:e] and is_heading(text[s:e])]


def _greedy_end(units: list[_Unit], a: int, budget: int, overhead: int) -> int:
    total = overhead + units[a].tokens
    b = a + 1
    while b < len(units) and not units[b - 1].alone:
        unit = units[b]
        if total + unit.tokens > budget or unit.alone:
            break
        if unit.heading and total >= budget / 2:
            break
        total += unit.tokens
        b += 1
    return b


def _overlap_start(units: list[_Unit], a: int, b: int, target: int, budget: int, overhead: int) -> int:
    """Where the chunk after ``units[a:b]`` starts: ``b`` minus the whole sentences repeated from the end
    of ``units[a:b]``, totalling closest to ``target`` tokens (at most twice it)."""
    if b >= len(units) or target <= 0 or units[b].heading or units[b].alone:
        return b
    room = budget - overhead - units[b].tokens
    best_k, best_gap = 0, target
    total = 0
    for k in range(1, b - a):  # keep at least one new unit per chunk: k < b - a
        total += units[b - k].tokens
        if total > min(room, 2 * target) or units[b - k].heading or units[b - k].alone:
            break
        gap = abs(total - target)
        if gap < best_gap:
            best_k, best_gap = k, gap
    return b - best_k


def _after_prefix(prefix: str, body: str) -> str:
    """A chunk's text: its repeated lines (a split table's caption and header), a newline, its own text."""
    return f"{prefix}\n{body}" if prefix else body


@dataclass(frozen=True)
class _Planned:
    """A chunk to make: ``text[start:end]`` after ``prefix`` (a split table's repeated caption and header),
    in the section in effect at ``anchor`` (where its own, non-repeated text starts)."""

    start: int
    end: int
    anchor: int
    prefix: str = ""

    def text_of(self, text: str) -> str:
        return _after_prefix(self.prefix, text[self.start : self.end])


def _pack(
    units: list[_Unit], text: str, count_tokens: CountTokens, budget: int, overhead: int, target: int
) -> list[_Planned]:
    """Pack ``units`` greedily into chunks within ``budget`` tokens, consecutive chunks sharing about
    ``target`` tokens of whole sentences."""

    def span(a: int, b: int) -> str:
        return _after_prefix(units[a].prefix, text[units[a].start : units[b - 1].end])

    # Plan greedily on summed sentence counts, then check the real count of the chunks near the budget in
    # one batch; from the first chunk over budget on (rare), check each chunk as it is made.
    ranges: list[tuple[int, int, int]] = []  # (first unit, first new unit, end)
    a, first_new = 0, 0
    while a < len(units):
        b = _greedy_end(units, a, budget, overhead)
        ranges.append((a, first_new, b))
        a, first_new = _overlap_start(units, a, b, target, budget, overhead), b
    # A tokenizer may count a few more tokens for joined sentences than for each on its own (at most
    # about one per sentence boundary): chunks whose summed estimate leaves that much room are safe.
    near = [
        i
        for i, (a, _, b) in enumerate(ranges)
        if overhead + sum(u.tokens for u in units[a:b]) > budget - (b - a) - 1
    ]
    counts = count_tokens([span(*ranges[i][::2]) for i in near]) if near else []
    over = next((i for i, n in zip(near, counts) if n > budget), None)
    if over is not None:
        ranges = ranges[:over]
        a, first_new = _restart(ranges, units, target, budget, overhead)
        while a < len(units):
            b = _greedy_end(units, a, budget, overhead)
            while b - a > 1 and count_tokens([span(a, b)])[0] > budget:
                b -= 1
            ranges.append((a, first_new, b))
            a, first_new = _overlap_start(units, a, b, target, budget, overhead), b
    return [
        _Planned(units[a].start, units[b - 1].end, units[min(max(first_new, a), b - 1)].start, units[a].prefix)
        for a, first_new, b in ranges
    ]


def _table_regions(plans: list[_Planned], tables: Sequence[TableSpan]) -> list[tuple[int, int]]:
    """Runs ``(first, last)`` of planned chunks that cut a table (no one chunk holds all of it): every
    chunk that overlaps such a table; runs that share a chunk are merged."""
    regions: list[tuple[int, int]] = []
    for table in tables:
        touching = [k for k, p in enumerate(plans) if p.start < table.end and p.end > table.start]
        if not touching or any(plans[k].start <= table.start and plans[k].end >= table.end for k in touching):
            continue
        first, last = touching[0], touching[-1]
        if regions and first <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(regions[-1][1], last))
        else:
            regions.append((first, last))
    return regions


def _with_tables(
    plans: list[_Planned],
    text: str,
    tables: Sequence[TableSpan],
    count_tokens: CountTokens,
    budget: int,
    overhead: int,
    target: int,
) -> list[_Planned]:
    """``plans`` with the chunks that cut a table planned again, over the same stretch of text, with the
    table as one unit (or cut between rows, repeating its header, when over budget). Chunks that cut no
    table stay exactly as they were."""
    out: list[_Planned] = []
    done = 0
    for first, last in _table_regions(plans, tables):
        out.extend(plans[done:first])
        bounds = (plans[first].start, plans[last].end)
        inside = [t for t in tables if bounds[0] <= t.start and t.end <= bounds[1]]
        units = _units(text, count_tokens, budget, overhead, inside, bounds)
        out.extend(_pack(units, text, count_tokens, budget, overhead, target))
        done = last + 1
    out.extend(plans[done:])
    return out


def chunk_document(
    doc: ParsedDocument,
    count_tokens: CountTokens,
    chunk_tokens: int = 256,
    overlap: float = 0.15,
    keep_tables: bool = False,
) -> list[Chunk]:
    """Cut ``doc`` into chunks of at most ``chunk_tokens`` tokens (as ``count_tokens`` counts them), about
    ``overlap`` of them repeated from the previous chunk; ``keep_tables``: never cut a table that fits, and
    repeat the header over the pieces of one that does not (off by default: see the module docstring)."""
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be at least 1")
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    text = document_text(doc)
    overhead = count_tokens([""])[0]  # tokens a tokenizer adds to every text ([CLS], [SEP], ...)
    units = _units(text, count_tokens, chunk_tokens, overhead)
    if not units:
        return []
    target = round(overlap * chunk_tokens)
    plans = _pack(units, text, count_tokens, chunk_tokens, overhead, target)
    tables = find_tables(text) if keep_tables else []
    if tables:
        plans = _with_tables(plans, text, tables, count_tokens, chunk_tokens, overhead, target)

    page_starts = _page_starts(doc)
    headings = [(u.start, text[u.start : u.end]) for u in units if u.heading]
    heading_starts = [start for start, _ in headings]
    chunks = []
    for index, plan in enumerate(plans):
        h = bisect.bisect_right(heading_starts, plan.anchor) - 1
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(doc.doc_id, index),
                doc_id=doc.doc_id,
                index=index,
                text=plan.text_of(text),
                page_start=doc.pages[bisect.bisect_right(page_starts, plan.start) - 1].number,
                page_end=doc.pages[bisect.bisect_right(page_starts, plan.end - 1) - 1].number,
                char_start=plan.start,
                char_end=plan.end,
                section=headings[h][1] if h >= 0 else None,
            )
        )
    return chunks


def _restart(
    ranges: list[tuple[int, int, int]], units: list[_Unit], target: int, budget: int, overhead: int
) -> tuple[int, int]:
    if not ranges:
        return 0, 0
    a, _, b = ranges[-1]
    return _overlap_start(units, a, b, target, budget, overhead), b


def _page_starts(doc: ParsedDocument) -> list[int]:
    starts, pos = [], 0
    for page in doc.pages:
        starts.append(pos)
        pos += len(page.text) + len(PAGE_SEPARATOR)
    return starts
