"""Retrieval metrics: evidence matching, judging one question's ranking, summaries (pure functions).

Judging (see the README): evidence phrases and passages are compared after lower-casing, joining words
hyphenated across a line break, mapping ligatures and collapsing whitespace. A ranked chunk is an evidence hit
when it comes from the right document and contains the phrase. Hit within the budget: the ranked passages
(neighbouring chunks merged, no sentence twice) concatenated and cut at 1,500 words contain the phrase.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rag.eval.questions import Question
from rag.text import LIGATURES

BUDGET_WORDS = 1500
HIT_KS = (1, 3, 5, 10)

_LIGATURE_RE = re.compile("|".join(LIGATURES))
_HYPHEN_BREAK = re.compile(r"(\w)[-\u00ad\ufffe]\s*\n\s*(\w)")
_SOFT_MARKS = re.compile(r"[\u00ad\ufffe]\s*")
_SPACE = re.compile(r"\s+")


def normalize_for_match(text: str) -> str:
    """Lower-case, join words hyphenated across a line break, map ligatures, collapse whitespace."""
    text = _LIGATURE_RE.sub(lambda m: LIGATURES[m.group()], text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SOFT_MARKS.sub("", text)
    return _SPACE.sub(" ", text).strip().lower()


def contains_phrase(text: str, phrase: str) -> bool:
    """True when ``phrase`` occurs in ``text`` after both are normalised."""
    needle = normalize_for_match(phrase)
    return bool(needle) and needle in normalize_for_match(text)



# ------------------------------------------------------------------------------------------ judging one question
@dataclass(frozen=True)
class RankedChunk:
    """What the metrics need of one ranked chunk."""

    file: str
    pages: tuple[int, ...]
    text: str


@dataclass
class QuestionOutcome:
    """How retrieval did on one question."""

    id: str
    type: str
    answerable: bool
    first_hit: int | None = None  # 1-based rank of the first evidence hit within the top 10
    hit_budget: bool = False
    all_evidence_budget: bool = False  # every phrase of the question within the budget
    page_hit5: bool = False
    doc_hit5: bool = False  # a chunk of the right document among the top 5
    ndcg10: float = 0.0
    refused: bool | None = None  # None when no gate ran
    evidence_score: float | None = None  # the gate's probability that the question is answerable
    features: dict[str, float] = field(default_factory=dict)

    def hit_at(self, k: int) -> bool:
        return self.first_hit is not None and self.first_hit <= k

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.first_hit if self.first_hit else 0.0


def budget_text(passages: Iterable[str], words: int = BUDGET_WORDS) -> str:
    """The passages concatenated in order and cut at ``words`` words."""
    return "\n\n".join(budget_pieces(passages, words))


_WORD = re.compile(r"\S+")


def budget_pieces(passages: Iterable[str], words: int = BUDGET_WORDS) -> list[str]:
    """The part of each passage that fits in a ``words``-word budget, passage by passage, in order.

    Each piece is a prefix of its passage, line breaks included: matching joins words hyphenated across a
    line break, which needs the break.
    """
    pieces: list[str] = []
    left = words
    for passage in passages:
        if left <= 0:
            break
        ends = [match.end() for match in _WORD.finditer(passage)]
        taken = min(left, len(ends))
        pieces.append(passage[: ends[taken - 1]] if taken else "")
        left -= taken
    return pieces


def _same_file(a: str | None, b: str) -> bool:
    return bool(a) and Path(a).name == Path(b).name  # type: ignore[arg-type]


def judge(
    question: Question,
    ranked: Sequence[RankedChunk],
    context: Sequence[tuple[str, str]] = (),
    relevant_total: int | None = None,
) -> QuestionOutcome:
    """Judge one answerable question's ranking.

    ``ranked``: the chunks best first; ``context``: (file, passage text) of the assembled context in order
    (falls back to the ranked chunks); ``relevant_total``: how many chunks of the corpus contain an evidence
    phrase (for nDCG's ideal ranking; defaults to those found in the ranking).
    """
    outcome = QuestionOutcome(question.id, question.type, question.answerable)
    if not question.answerable:
        return outcome
    phrases = question.phrases
    main = normalize_for_match(question.evidence)
    needles = [normalize_for_match(p) for p in phrases]
    gains: list[float] = []
    for rank, chunk in enumerate(ranked[:10], start=1):
        right_doc = _same_file(question.doc, chunk.file)
        text = normalize_for_match(chunk.text) if right_doc else ""
        if right_doc and outcome.first_hit is None and main in text:
            outcome.first_hit = rank
        gains.append(1.0 if right_doc and any(n in text for n in needles) else 0.0)
        if rank <= 5 and right_doc:
            outcome.doc_hit5 = True
            outcome.page_hit5 = outcome.page_hit5 or bool(set(chunk.pages) & set(question.pages))
    found = int(sum(gains))
    ideal = max(relevant_total or 0, found)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(ideal, 10)))
    outcome.ndcg10 = dcg / idcg if idcg else 0.0
    pieces = list(context) or [(c.file, c.text) for c in ranked]
    windows = [
        normalize_for_match(piece)
        for (file, _), piece in zip(pieces, budget_pieces(t for _, t in pieces))
        if _same_file(question.doc, file)
    ]
    outcome.hit_budget = any(main in w for w in windows)
    outcome.all_evidence_budget = all(any(n in w for w in windows) for n in needles)
    return outcome


# ------------------------------------------------------------------------------------------ summaries
def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(outcomes: Sequence[QuestionOutcome]) -> dict[str, Any]:
    """Retrieval metrics over answerable questions, refusal rates, gate AUC; overall and by type."""

    def retrieval(group: Sequence[QuestionOutcome]) -> dict[str, Any]:
        answerable = [o for o in group if o.answerable]
        row: dict[str, Any] = {"questions": len(group), "answerable": len(answerable)}
        if answerable:
            for k in HIT_KS:
                row[f"hit@{k}"] = _mean([float(o.hit_at(k)) for o in answerable])
            row["hit@budget"] = _mean([float(o.hit_budget) for o in answerable])
            row["all_evidence@budget"] = _mean([float(o.all_evidence_budget) for o in answerable])
            row["page_hit@5"] = _mean([float(o.page_hit5) for o in answerable])
            row["doc_hit@5"] = _mean([float(o.doc_hit5) for o in answerable])
            row["mrr@10"] = _mean([o.reciprocal_rank for o in answerable])
            row["ndcg@10"] = _mean([o.ndcg10 for o in answerable])
        gated = [o for o in group if o.refused is not None]
        if gated:
            unanswerable = [o for o in gated if not o.answerable]
            answerable_gated = [o for o in gated if o.answerable]
            row["refused_unanswerable"] = _mean([float(bool(o.refused)) for o in unanswerable])
            row["refused_answerable"] = _mean([float(bool(o.refused)) for o in answerable_gated])
        return row

    summary: dict[str, Any] = {"overall": retrieval(outcomes), "by_type": {}}
    groups: dict[str, list[QuestionOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.type].append(outcome)
    for qtype in sorted(groups):
        summary["by_type"][qtype] = retrieval(groups[qtype])
    scored = [o for o in outcomes if o.evidence_score is not None]
    summary["gate_auc"] = roc_auc([o.evidence_score for o in scored], [o.answerable for o in scored])  # type: ignore[misc]
    return summary


METRIC_COLUMNS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "hit@budget",
    "page_hit@5",
    "mrr@10",
    "ndcg@10",
    "refused_unanswerable",
    "refused_answerable",
)


def table_rows(summary: Mapping[str, Any], columns: Sequence[str] = METRIC_COLUMNS) -> list[list[str]]:
    """Rows (group, n, metric...) for printing: overall first, then each type."""

    def fmt(value: Any) -> str:
        return "–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    rows = [["all", str(summary["overall"]["questions"])] + [fmt(summary["overall"].get(c)) for c in columns]]
    for qtype, row in summary["by_type"].items():
        rows.append([qtype, str(row["questions"])] + [fmt(row.get(c)) for c in columns])
    return rows


def relevant_count(question: Question, chunks_of: Callable[[str], Sequence[str]]) -> int:
    """How many chunks of the question's document contain one of its evidence phrases."""
    if not question.answerable:
        return 0
    needles = [normalize_for_match(p) for p in question.phrases]
    return sum(1 for text in chunks_of(question.doc or "") if any(n in normalize_for_match(text) for n in needles))


