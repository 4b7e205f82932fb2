"""Citations: parse the [n] markers of an answer, check them, and attribute uncited sentences.

Small models often cite nothing, or cite the wrong passage. So every answer sentence is checked against the
support table of :mod:`rag.answer.grounding`:

- a marker ``[n]`` stays when passage ``n`` supports its sentence (support >= ``cite``), and is dropped
  otherwise (also when ``n`` is not a passage number at all);
- a sentence left without a valid marker is attributed to the passage that supports it best, when that one
  reaches ``cite``;
- a sentence without content ("Yes.") keeps markers only to passages that support some other sentence.

The cited passages, in order of first citation, become the answer's sources; their markers are rewritten in
the answer text so that what users read matches the sources shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from rag.answer.context import Passage
from rag.answer.grounding import SupportConfig, SupportTable, content_tokens
from rag.answer.result import Citation
from rag.types import Hit

# [1]  [1, 2]  [1-3]  [1][2] (each bracket is a marker)
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:[,;]|[-\u2013])\s*\d{1,3})*)\s*\]")
_MARKER_WITH_SPACE = re.compile(r"\s*" + _MARKER.pattern)
_MARKERS_AHEAD = re.compile(r"(?:\s*" + _MARKER.pattern + r")+")
_TRAILING = re.compile(r"[\s.!?。！？\"'”’)）:：;；]*$")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "al", "etc", "fig", "figs", "eq", "eqs", "vs", "cf", "no", "sec", "approx", "mr", "dr", "ms", "p", "pp", "vol"})
_ENDS = ".!?"
_CJK_ENDS = "。！？"


def parse_markers(text: str) -> list[int]:
    """Every passage number cited in ``text``, in order, without repeats (``[1-3]`` is 1, 2, 3)."""
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[-\u2013]\s*", part)
            if len(bounds) == 2:
                lo, hi = int(bounds[0]), int(bounds[1])
                numbers = range(lo, hi + 1) if 0 < hi - lo < 20 else [lo, hi]
            else:
                numbers = [int(bounds[0])]
            found.extend(numbers)
    return list(dict.fromkeys(found))


def strip_markers(text: str) -> str:
    """``text`` without citation markers."""
    return _MARKER_WITH_SPACE.sub("", text)


@dataclass
class AnswerSentence:
    """One sentence of an answer: its span in the answer text and the passages it cites (1-based)."""

    text: str  # without markers, whitespace collapsed
    start: int
    end: int
    markers: list[int] = field(default_factory=list)


def _abbreviation_before(text: str, start: int, dot: int) -> bool:
    word = re.search(r"([A-Za-z.]+)$", text[start:dot])
    return bool(word) and word.group(1).lower().rstrip(".") in _ABBREVIATIONS


_LIST_NUMBER = re.compile(r"\s*\d{1,2}")  # "2." opening a numbered list item is not a sentence
_LIST_ITEM = re.compile(r"\s*(?:[-*\u2022]|\d{1,2}[.)])\s")


def _line_break_ends_sentence(text: str, start: int, i: int) -> bool:
    """A blank line, a list item on the next line, or a line ending in a colon ends a sentence; a plain line
    break (models wrap lines mid-sentence) does not."""
    rest = text[i + 1 :]
    if rest.startswith("\n") or not rest.strip():
        return True
    if _LIST_ITEM.match(rest):
        return True
    before = text[start:i].rstrip()
    return before.endswith((":", "\uff1a")) or not before


def _boundaries(text: str) -> list[tuple[int, int]]:
    """Contiguous spans covering ``text``, one per sentence; markers after the full stop stay with it."""
    spans: list[tuple[int, int]] = []
    start = i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        end = None
        if ch == "\n":
            if _line_break_ends_sentence(text, start, i):
                end = i + 1
        elif ch in _CJK_ENDS:
            end = i + 1
        elif ch in _ENDS:
            nxt = text[i + 1] if i + 1 < n else ""
            if (
                (not nxt or nxt.isspace() or nxt in "[\"')”’")
                and not (ch == "." and _abbreviation_before(text, start, i))
                and not (ch == "." and _LIST_NUMBER.fullmatch(text[start:i]))
            ):
                end = i + 1
        if end is None:
            i += 1
            continue
        while end < n and text[end] in "\"')”’":
            end += 1
        ahead = _MARKERS_AHEAD.match(text, end)
        if ahead:
            end = ahead.end()
        spans.append((start, end))
        start = i = end
    if start < n:
        spans.append((start, n))
    return spans


def split_sentences(answer: str) -> list[AnswerSentence]:
    """The sentences of an answer with their citation markers; empty and marker-only spans are merged away."""
    sentences: list[AnswerSentence] = []
    for start, end in _boundaries(answer):
        raw = answer[start:end]
        text = " ".join(strip_markers(raw).split())
        markers = parse_markers(raw)
        if not text.strip(" .!?。！？-•*"):
            if markers and sentences:  # markers on a line of their own belong to the sentence before
                sentences[-1].markers.extend(m for m in markers if m not in sentences[-1].markers)
                sentences[-1].end = end
            continue
        sentences.append(AnswerSentence(text, start, end, markers))
    return sentences


@dataclass
class Attribution:
    """Which passages (1-based) each sentence cites after checking, and what was dropped."""

    per_sentence: list[list[int]]
    dropped: list[int]  # passage numbers that were cited but support nothing they were cited for
    added: list[int]  # passage numbers attributed to sentences that did not cite them

    @property
    def cited(self) -> list[int]:
        """Every cited passage number in order of first citation."""
        return list(dict.fromkeys(n for numbers in self.per_sentence for n in numbers))


def attribute(
    sentences: Sequence[AnswerSentence],
    table: SupportTable,
    config: SupportConfig = SupportConfig(),
) -> Attribution:
    """Check the markers of every sentence and attribute the uncited ones (see the module docstring)."""
    n_passages = table.scores.shape[1]
    per_sentence: list[list[int]] = []
    dropped: list[int] = []
    added: list[int] = []
    pending: list[int] = []  # sentences without content: decided once the citable passages are known
    for s, sentence in enumerate(sentences):
        in_range = [n for n in sentence.markers if 1 <= n <= n_passages]
        dropped.extend(n for n in sentence.markers if n not in in_range)
        if not table.scored(s):
            per_sentence.append(in_range)
            pending.append(s)
            continue
        valid = [n for n in in_range if table.scores[s, n - 1] >= config.cite]
        dropped.extend(n for n in in_range if n not in valid)
        if not valid:
            best, support = table.best(s)
            if best is not None and support is not None and support >= config.cite:
                valid = [best + 1]
                added.append(best + 1)
        per_sentence.append(valid)
    citable = {n for s, numbers in enumerate(per_sentence) if s not in pending for n in numbers}
    for s in pending:
        kept = [n for n in per_sentence[s] if n in citable]
        dropped.extend(n for n in per_sentence[s] if n not in citable)
        per_sentence[s] = kept
    final = {n for numbers in per_sentence for n in numbers}
    return Attribution(
        per_sentence=per_sentence,
        dropped=sorted({n for n in dropped if n not in final}),
        added=sorted(set(added)),
    )


def _with_markers(raw: str, numbers: Sequence[int]) -> str:
    """A sentence's raw text with its markers replaced by ``numbers``, placed before the final punctuation."""
    lead = raw[: len(raw) - len(raw.lstrip())]
    tail_ws = raw[len(raw.rstrip()) :]
    body = strip_markers(raw.strip())
    if not numbers:
        return lead + body + tail_ws
    markers = "".join(f"[{n}]" for n in numbers)
    trailing = _TRAILING.search(body)
    cut = trailing.start() if trailing else len(body)
    core, punctuation = body[:cut], body[cut:]
    spacer = "" if core and not core[-1].isascii() else " "
    return f"{lead}{core}{spacer}{markers}{punctuation}{tail_ws}"


def rewrite_markers(answer: str, sentences: Sequence[AnswerSentence], per_sentence: Sequence[Sequence[int]]) -> str:
    """The answer text with every sentence's markers replaced by its checked citations."""
    out: list[str] = []
    cursor = 0
    for sentence, numbers in zip(sentences, per_sentence):
        gap = answer[cursor : sentence.start]
        out.append(strip_markers(gap) if _MARKER.search(gap) else gap)
        out.append(_with_markers(answer[sentence.start : sentence.end], numbers))
        cursor = sentence.end
    rest = answer[cursor:]
    out.append(strip_markers(rest) if _MARKER.search(rest) else rest)
    return "".join(out).strip()


SNIPPET_CHARS = 280


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip(" ,;:") + "\u2026"


def citation(n: int, passage: Passage, hits: Sequence[Hit], quote: str, claims: str) -> Citation:
    """Citation ``n`` of ``passage``: its pages (:func:`cited_pages`) and ``quote`` as the snippet."""
    return Citation(
        n=n,
        doc=passage.doc_id,
        title=passage.title or passage.file,
        pages=cited_pages(passage, hits, quote, claims),
        snippet=snippet(quote),
        file=passage.file,
    )


def cited_pages(passage: Passage, hits: Sequence[Hit], quote: str, claims: str) -> list[int]:
    """The pages a citation points to: those of the passage's chunk that holds the quoted sentence (the
    chunk spanning the fewest pages when several do), else of the chunk that shares most words with what the
    answer claims, else the whole passage's pages."""
    chunks = [h.chunk for h in hits if h.chunk_id in passage.chunk_ids]
    if not chunks:
        return passage.pages
    needle = " ".join(quote.split())
    holding = [c for c in chunks if needle and needle in " ".join(c.text.split())]
    if holding:
        best = min(holding, key=lambda c: (c.page_end - c.page_start, c.page_start))
        return best.pages
    wanted = content_tokens(claims) | content_tokens(quote)
    overlap = [(len(wanted & content_tokens(c.text)), -(c.page_end - c.page_start), c) for c in chunks]
    best_overlap, _, best = max(overlap, key=lambda item: (item[0], item[1]))
    return best.pages if best_overlap else passage.pages
