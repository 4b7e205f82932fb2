"""Running an evaluation: every question through a retriever (and the relevance gate), judged by
:mod:`rag.eval.metrics`; and fitting the gate on the outcomes (``rag eval --calibrate``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rag.answer.context import assemble_leading
from rag.eval.metrics import BUDGET_WORDS, QuestionOutcome, RankedChunk, judge, relevant_count, summarize
from rag.eval.questions import Question
from rag.gate.decide import Gate, evidence_of
from rag.gate.features import features
from rag.gate.fit import FitReport, calibrate
from rag.gate.model import Calibration, signature
from rag.index.catalog import Catalog
from rag.retrieve.retriever import Retriever
from rag.types import Mode

EVAL_DEPTH = 20  # chunks retrieved per question: more than a 1,500-word context needs


@dataclass
class EvalRun:
    """One evaluation of a workspace over questions in one retrieval mode."""

    mode: str
    outcomes: list[QuestionOutcome]
    summary: dict[str, Any]
    reranker: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reranker": self.reranker,
            "notes": self.notes,
            "summary": self.summary,
            "questions": [
                {
                    "id": o.id,
                    "type": o.type,
                    "answerable": o.answerable,
                    "first_hit": o.first_hit,
                    "hit_budget": o.hit_budget,
                    "all_evidence_budget": o.all_evidence_budget,
                    "page_hit5": o.page_hit5,
                    "ndcg10": round(o.ndcg10, 4),
                    "refused": o.refused,
                    "evidence_score": None if o.evidence_score is None else round(o.evidence_score, 4),
                    "features": {k: round(v, 4) for k, v in o.features.items()},
                }
                for o in self.outcomes
            ],
        }


def run_eval(
    retriever: Retriever,
    catalog: Catalog,
    questions: Sequence[Question],
    mode: Mode | str | None = None,
    *,
    gate: Gate | None = None,
    depth: int = EVAL_DEPTH,
) -> EvalRun:
    """Search every question with ``retriever`` (and ``gate``, when given), and judge the rankings."""
    mode = Mode.parse(mode) if mode is not None else retriever.config.mode
    by_file = {d.file_name: d for d in catalog.documents()}
    chunk_texts: dict[str, list[str]] = {}

    def chunks_of(file: str) -> list[str]:
        if file not in chunk_texts:
            record = by_file.get(Path(file).name)
            chunk_texts[file] = [c.text for c in catalog.chunks_of(record.doc_id)] if record else []
        return chunk_texts[file]

    outcomes: list[QuestionOutcome] = []
    notes: list[str] = []
    reranker = None
    for question in questions:
        result = retriever.search(question.question, top_k=depth, mode=mode)
        if gate is not None:
            gate.apply(result)
        reranker = reranker or result.reranker
        for note in result.notes:
            if note not in notes:
                notes.append(note)
        ranked = [RankedChunk(h.file, tuple(h.chunk.pages), h.chunk.text) for h in result.hits]
        context = [(p.file, p.text) for p in assemble_leading(result.hits, BUDGET_WORDS)]
        outcome = judge(question, ranked, context, relevant_count(question, chunks_of))
        outcome.refused = None if result.answerable is None else not result.answerable
        outcome.evidence_score = result.evidence_score
        outcome.features = features(evidence_of(result, retriever.term_stats))
        outcomes.append(outcome)
    return EvalRun(str(mode), outcomes, summarize(outcomes), reranker, notes)


def apply_calibration(run: EvalRun, calibration: Calibration, embedding_model: str | None = None) -> None:
    """Re-decide refusals of a finished run with another gate calibration (features are kept on outcomes)."""
    gate = Gate(calibration, embedding_model=embedding_model)
    _, model, _ = gate.pick(run.mode, bool(run.reranker))
    for outcome in run.outcomes:
        probability = model.probability(outcome.features)
        outcome.evidence_score = probability
        outcome.refused = probability < model.threshold
    run.summary = summarize(run.outcomes)


def calibrate_gate(
    retriever: Retriever,
    catalog: Catalog,
    questions: Sequence[Question],
    *,
    embedding_model: str = "",
    modes: Sequence[Mode] = tuple(Mode),
    source: str = "",
) -> tuple[Calibration, list[FitReport], dict[str, EvalRun]]:
    """Evaluate every mode without a gate, fit the gate's models on the questions' features, and apply them
    to the runs. Returns (calibration, fit reports, runs by mode name); the caller saves the calibration."""
    runs = {str(mode): run_eval(retriever, catalog, questions, mode) for mode in modes}
    samples = {
        signature(mode, bool(run.reranker)): ([o.features for o in run.outcomes], [o.answerable for o in run.outcomes])
        for mode, run in runs.items()
    }
    answerable = sum(1 for q in questions if q.answerable)
    meta = {
        "embedding_model": embedding_model,
        "reranker": next((r.reranker for r in runs.values() if r.reranker), None),
        "questions": source,
        "answerable": answerable,
        "unanswerable": len(questions) - answerable,
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # threshold on leave-one-document-out scores: an unanswerable question is its own group
    calibration, reports = calibrate(samples, meta, groups=[q.doc or q.id for q in questions])
    for run in runs.values():
        apply_calibration(run, calibration, embedding_model)
    return calibration, reports, runs
