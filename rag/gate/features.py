"""The relevance gate's features: what one question's retrieval says about whether it can be answered.

A single retrieval score separates answerable from unanswerable questions barely better than chance (near-miss
questions such as "Which GPUs trained Llama 2: H100?" score highest), so the gate combines several signals
in a small logistic model:

- lexical: how much of the question's IDF-weighted vocabulary the best passage, and the top passages
  together, contain; how rare the rarest question term missing from them is; how much of the question's
  weight lies on terms no document contains at all;
- key phrases (:mod:`rag.gate.phrases`): whether a name with its version, size or year ("Bluetooth 5",
  "Top 10 2021") stands together in a passage, not only as scattered tokens;
- (for a refusal's reason only, see :func:`answer_coverage`) the best share of the question's vocabulary that
  one window of two sentences holds together with an answer of the kind asked for (a figure for "how many",
  a name for "who"): measured leave-one-document-out, it added nothing to the decision, the key phrases did;
- keyword list: how far the best BM25 score stands out from the rest;
- dense list: the best cosine similarity and how far it stands out from the next ones;
- agreement: overlap of the keyword and dense top 10, and whether the top passage is in both lists;
- the best cross-encoder probability, when a reranker ran.

Terms of a question written in a script the top passages do not use (a Chinese question over English
pages, even in a library that also holds Chinese documents; the plain English words of a question over
Chinese pages) are left out of the lexical features (the dense model has to carry them), and
``foreign_share`` says how much of the question that was.

How the features become a decision: :mod:`rag.gate.model` and :mod:`rag.gate.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Sequence

from rag.analysis import analyze, cjk_share, contains_cjk, question_terms
from rag.gate.answer_type import expectation, holds
from rag.gate.phrases import WORD, looks_like_a_name, phrases_missing, words_of
from rag.index.keyword.stats import CJK_TOKEN, foreign_terms, idf
from rag.sentences import passage_sentences

TOP_PASSAGES = 3  # passages whose single best coverage counts
UNION_PASSAGES = 5  # passages whose union counts

LEXICAL = ("coverage_best", "coverage_union", "missing_rare", "missing_entity", "unknown_share", "foreign_share",
           "phrase_missing")
KEYWORD = ("keyword_gap",)
DENSE = ("dense_top", "dense_gap")
AGREEMENT = ("agreement", "top_in_both")
RERANK = ("rerank_top",)
ALL_FEATURES = LEXICAL + KEYWORD + DENSE + AGREEMENT + RERANK


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
    # label of each passage's document: its file name and title (the keyword index and the model read it with
    # every passage: "Apple ... FY2016" is answered by a page of APPLE_2016_10K.pdf that names neither)
    titles: Sequence[str] = ()

    @cached_property
    def passage_tokens(self) -> list[list[str]]:
        """Analyzer tokens, in order, of each of the first ``UNION_PASSAGES`` passages: analysed once per
        question, for the coverage features and the key phrases alike."""
        return [analyze(p) for p in self.passages[:UNION_PASSAGES]]

    @cached_property
    def title_tokens(self) -> list[list[str]]:
        """Analyzer tokens, in order, of those passages' document titles (each title once)."""
        return [analyze(t) for t in dict.fromkeys(self.titles[:UNION_PASSAGES]) if t]

    def passage_terms(self) -> list[set[str]]:
        """Analyzer tokens of each of the first passages, with its document's title."""
        return [set(tokens) | set(analyze(title)) for tokens, (_, title) in zip(self.passage_tokens, self.titled_passages())]

    def titled_passages(self) -> list[tuple[str, str]]:
        """(passage, its document's title) of the first ``UNION_PASSAGES`` passages."""
        titles = list(self.titles) + [""] * max(0, len(self.passages) - len(self.titles))
        return list(zip(self.passages[:UNION_PASSAGES], titles))


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
    terms = list(dict.fromkeys(question_terms(evidence.query)))
    n = max(evidence.doc_count, 1)
    df = evidence.doc_freq
    foreign = set(unreadable_terms(evidence, terms))
    lexical_terms = [t for t in terms if t not in foreign]
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
    out["phrase_missing"] = float(bool(phrases_missing(evidence.query, evidence.passage_tokens, evidence.title_tokens)))

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


def unreadable_terms(evidence: Evidence, terms: Sequence[str]) -> list[str]:
    """Question terms the passages cannot contain because they are written in another script: the CJK terms
    of a question when no top passage holds CJK text (a Chinese question over English pages; also when
    other documents of the library are Chinese), the plain English words of a question over Chinese pages
    (its names and numbers, "ESP32-WROOM-32", stay); else the CJK terms no document contains at all."""
    passages = list(evidence.passages[:UNION_PASSAGES])
    cjk_terms = [t for t in terms if CJK_TOKEN.match(t)]
    if cjk_terms and passages and not any(contains_cjk(p) for p in passages):
        return cjk_terms
    if not cjk_terms and passages and cjk_share(" ".join(passages)) > 0.5:
        names = {t for w, starts in words_of(evidence.query) if looks_like_a_name(w, starts) for t in question_terms(w)}
        return [t for t in terms if t not in names]
    return foreign_terms(terms, evidence.doc_freq)


def answer_coverage(evidence: Evidence) -> float:
    """The largest IDF-weighted share of the question's readable terms that one window of two consecutive
    sentences of a top passage holds (with its document's title) while it also holds an answer of the kind
    the question asks for (:func:`rag.gate.answer_type.holds`) and the question's own figures (its year,
    its version)."""
    terms = list(dict.fromkeys(question_terms(evidence.query)))
    unreadable = set(unreadable_terms(evidence, terms))
    n = max(evidence.doc_count, 1)
    weights = {t: idf(evidence.doc_freq.get(t, 0), n) for t in terms if t not in unreadable}
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    expected = expectation(evidence.query)
    numbers = {t for t in weights if any(ch.isdigit() for ch in t)}
    best = 0.0
    for passage, title in evidence.titled_passages():
        title_terms = set(analyze(title))
        sentences = passage_sentences(passage)
        for start in range(len(sentences)):
            window = " ".join(sentences[start : start + 2])
            if not holds(expected, window, evidence.query):
                continue
            present = set(analyze(window)) | title_terms
            if not numbers <= present:  # the question's own figures (its year, its version) belong there too
                continue
            best = max(best, sum(w for t, w in weights.items() if t in present) / total)
    return best


def _missing_entity(query: str, present: set[str], judged: set[str], df: Mapping[str, int], n: int) -> float:
    """IDF of the rarest name, code or number of the question (``looks_like_a_name``) that the top passages
    lack: the mark of a near miss ("How many H100 GPUs ...?" over a text about A100s)."""
    worst = 0.0
    for word, starts in words_of(query):
        tokens = [t for t in question_terms(word) if t in judged]
        if not tokens or not looks_like_a_name(word, starts):
            continue
        absent = [t for t in tokens if t not in present]
        if absent:
            worst = max(worst, max(idf(df.get(t, 0), n) for t in absent))
    return worst


def missing_terms(evidence: Evidence, limit: int = 3) -> list[str]:
    """The question's rarest words that the top passages do not contain (for the refusal reason)."""
    words = WORD.findall(evidence.query)
    passage_terms = set().union(*evidence.passage_terms())
    unreadable = set(unreadable_terms(evidence, list(dict.fromkeys(question_terms(evidence.query)))))
    n = max(evidence.doc_count, 1)
    found: dict[str, float] = {}
    for word in words:
        tokens = question_terms(word)
        if tokens and not any(t in passage_terms for t in tokens):
            if all(CJK_TOKEN.match(t) or t in unreadable for t in tokens):
                continue
            weight = max(idf(evidence.doc_freq.get(t, 0), n) for t in tokens)
            if weight >= 0.5 * idf(0, n):  # rare words only: "many" or "use" explain nothing
                found[word] = weight
    return [w for w, _ in sorted(found.items(), key=lambda item: -item[1])][:limit]


def key_words(evidence: Evidence, limit: int = 2) -> list[str]:
    """The question's rarest words as written (for a refusal reason: "no figure for 'memory', 'broker'")."""
    n = max(evidence.doc_count, 1)
    weights: dict[str, float] = {}
    for word in WORD.findall(evidence.query):
        tokens = [t for t in question_terms(word) if not CJK_TOKEN.match(t)]
        if tokens:
            weights[word] = max(idf(evidence.doc_freq.get(t, 0), n) for t in tokens)
    return [w for w, _ in sorted(weights.items(), key=lambda item: -item[1])][:limit]
