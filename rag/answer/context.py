"""Context assembly: the ranked hits turned into passages a model reads, each sentence once.

Chunks of one document that overlap (consecutive chunks repeat a few sentences) or touch (one ends where the
next begins) are merged into one passage when both are selected. Chunk texts end with their exact slice of
the document text (``chunk.text.endswith(text[char_start:char_end])``; a piece of a split table begins with
its table's caption and header, repeated), so the merge is exact: the later chunk contributes only the
characters after the earlier one's end. Passages keep the rank of their best hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from rag.types import Hit

_GAP = 2  # characters between two chunks that still count as touching (the page separator is "\n\n")


@dataclass
class Passage:
    """One stretch of one document: one or more merged chunks."""

    doc_id: str
    text: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    chunk_ids: list[str]
    rank: int  # 1-based rank of the best hit in it
    score: float  # score of the best hit in it
    title: str = ""
    file: str = ""
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def pages(self) -> list[int]:
        return list(range(self.page_start, self.page_end + 1))

    @property
    def words(self) -> int:
        return len(self.text.split())


def _extend(passage: Passage, hit: Hit, last_index: int) -> bool:
    """Add a chunk that lies inside, overlaps or touches the passage's end; False when it does not."""
    chunk = hit.chunk
    if chunk.char_start < passage.char_start:
        return False
    if chunk.char_end <= passage.char_end:
        return True  # already inside
    touching = chunk.index == last_index + 1 or chunk.char_start <= passage.char_end + _GAP
    if chunk.char_start >= passage.char_end:
        if not touching:
            return False
        separator = "\n\n" if chunk.page_start > passage.page_end else " "
        passage.text = passage.text + separator + chunk.text
    else:
        passage.text = passage.text + chunk.text[len(chunk.text) - (chunk.char_end - passage.char_end) :]
    passage.char_end = chunk.char_end
    passage.page_end = max(passage.page_end, chunk.page_end)
    return True


def assemble(hits: Sequence[Hit]) -> list[Passage]:
    """Passages from ranked hits: overlapping or touching chunks of one document merged, ordered by the
    rank of their best hit."""
    by_doc: dict[str, list[tuple[int, Hit]]] = {}
    for rank, hit in enumerate(hits, start=1):
        by_doc.setdefault(hit.doc_id, []).append((rank, hit))
    passages: list[Passage] = []
    for doc_id, ranked in by_doc.items():
        ordered = sorted(ranked, key=lambda pair: (pair[1].chunk.char_start, pair[1].chunk.char_end))
        current: Passage | None = None
        last_index = -2
        for rank, hit in ordered:
            if current is not None and _extend(current, hit, last_index):
                current.chunk_ids.append(hit.chunk_id)
                last_index = max(last_index, hit.chunk.index)
                if rank < current.rank:
                    current.rank, current.score, current.scores = rank, hit.score, dict(hit.scores)
                continue
            chunk = hit.chunk
            current = Passage(
                doc_id=doc_id,
                text=chunk.text,
                page_start=chunk.page_start,
                page_end=chunk.page_end,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                chunk_ids=[chunk.chunk_id],
                rank=rank,
                score=hit.score,
                title=hit.title,
                file=hit.file,
                scores=dict(hit.scores),
            )
            last_index = chunk.index
            passages.append(current)
    passages.sort(key=lambda p: p.rank)
    return passages


def assemble_leading(hits: Sequence[Hit], words: int) -> list[Passage]:
    """Passages from the best-ranked hits only: hits join in rank order until their passages hold ``words``
    words. Assembling every hit instead lets a low-ranked chunk that touches a top passage ride along with
    it, ahead of better hits: over 50 hits, merged neighbours ranked 10th-40th filled a 1,500-word context
    before the 7th-ranked chunk was reached."""
    taken = 0
    for taken in range(1, len(hits) + 1):
        if sum(p.words for p in assemble(hits[:taken])) >= words:
            break
    return assemble(hits[:taken])


def within_budget(passages: Sequence[Passage], words: int) -> list[Passage]:
    """The leading passages that fit in ``words`` words (the first one always, cut if it alone is longer)."""
    kept: list[Passage] = []
    used = 0
    for passage in passages:
        n = passage.words
        if used + n > words:
            if not kept:
                cut = " ".join(passage.text.split()[:words])
                kept.append(Passage(**{**passage.__dict__, "text": cut}))
            break
        kept.append(passage)
        used += n
    return kept
