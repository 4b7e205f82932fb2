"""Retrieval quality must not drop: thresholds a small margin under what was measured.

Two question sets:
- the generated fixture corpus (tests/fixtures/corpus_factory.py): always runs;
- ../shared/eval/dev-questions.jsonl over ../shared/corpus: skipped where ../shared is absent. It ingests
  the 12 PDFs into a temporary folder (about a minute), or reuses the data folder named by
  RAG_TEST_SHARED_HOME when that already holds them.

Figures measured when the thresholds were set are in the comments (hybrid = weighted z-score fusion, reranker off,
the shipped gate calibration).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.workspace import Workspace
from rag.eval.questions import load_questions
from rag.eval.run import EvalRun, run_eval
from rag.settings import Settings

pytestmark = [pytest.mark.slow]


# ------------------------------------------------------------------------------------------ fixture corpus
@pytest.fixture(scope="module")
def fixture_runs(fixture_index: Path, fixture_corpus, embedder) -> dict[str, EvalRun]:
    workspace = Workspace(Settings(home=fixture_index, reranker="none"), embedder=embedder)
    try:
        questions = load_questions(fixture_corpus[1])
        return {mode: run_eval(workspace.retriever, workspace.catalog, questions, mode, gate=workspace.gate)
                for mode in ("hybrid", "keyword", "dense")}
    finally:
        workspace.close()


def test_fixture_corpus_has_every_kind_of_question(fixture_corpus):
    questions = load_questions(fixture_corpus[1])
    assert len(questions) >= 30
    assert {"paraphrase", "keyword", "numeric", "multi", "unanswerable"} <= {q.type for q in questions}


def test_fixture_hybrid_finds_the_evidence(fixture_runs):
    overall = fixture_runs["hybrid"].summary["overall"]
    assert overall["hit@budget"] >= FIXTURE["hit@budget"]
    assert overall["hit@1"] >= FIXTURE["hit@1"]
    assert overall["mrr@10"] >= FIXTURE["mrr@10"]
    assert overall["page_hit@5"] >= FIXTURE["page_hit@5"]


@pytest.mark.parametrize("qtype", ["paraphrase", "keyword", "numeric", "multi", "chinese"])
def test_fixture_hybrid_finds_the_evidence_for_each_kind_of_question(fixture_runs, qtype):
    by_type = fixture_runs["hybrid"].summary["by_type"]
    if qtype not in by_type:
        pytest.skip(f"no {qtype} questions (the Chinese guide needs a CJK font)")
    assert by_type[qtype]["hit@budget"] >= FIXTURE_BY_TYPE[qtype]


def test_fixture_gate_refuses_near_misses_and_answers_the_rest(fixture_runs):
    overall = fixture_runs["hybrid"].summary["overall"]
    assert overall["refused_unanswerable"] >= FIXTURE["refused_unanswerable"]
    assert overall["refused_answerable"] <= FIXTURE["refused_answerable"]
    assert fixture_runs["hybrid"].summary["gate_auc"] >= FIXTURE["gate_auc"]


def test_fixture_hybrid_is_at_least_as_good_as_either_single_mode(fixture_runs):
    hybrid = fixture_runs["hybrid"].summary["overall"]
    for mode in ("keyword", "dense"):
        single = fixture_runs[mode].summary["overall"]
        assert hybrid["hit@budget"] >= single["hit@budget"], mode
        assert hybrid["mrr@10"] >= single["mrr@10"] - 0.02, mode


# ------------------------------------------------------------------------------------------ ../shared dev questions
@pytest.fixture(scope="module")
def dev_runs(embedder, tmp_path_factory) -> dict[str, EvalRun]:
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if not (shared / "corpus").is_dir() or not (shared / "eval" / "dev-questions.jsonl").is_file():
        pytest.skip("../shared/corpus and ../shared/eval/dev-questions.jsonl are not present")
    home = Path(os.environ.get("RAG_TEST_SHARED_HOME") or tmp_path_factory.mktemp("shared-home"))
    # The shipped gate calibration, even when a reused folder holds one of its own.
    settings = Settings(home=home, reranker="none", gate_calibration=_shipped_path())
    workspace = Workspace(settings, embedder=embedder)
    try:
        report = workspace.ingest(sorted((shared / "corpus").glob("*.pdf")))
        assert report.ok, [r.reason for r in report.failed]
        questions = load_questions(shared / "eval" / "dev-questions.jsonl")
        return {mode: run_eval(workspace.retriever, workspace.catalog, questions, mode, gate=workspace.gate)
                for mode in ("hybrid", "keyword", "dense")}
    finally:
        workspace.close()


def _shipped_path() -> Path:
    import rag.gate.model

    return Path(rag.gate.model.__file__).parent / rag.gate.model.SHIPPED


@pytest.mark.shared
def test_dev_hybrid_reaches_the_evidence_goal(dev_runs):
    overall = dev_runs["hybrid"].summary["overall"]
    assert overall["hit@budget"] >= DEV["hit@budget"]
    assert overall["mrr@10"] >= DEV["mrr@10"]
    assert overall["ndcg@10"] >= DEV["ndcg@10"]


@pytest.mark.shared
def test_dev_hybrid_beats_keyword_only_and_dense_only(dev_runs):
    hybrid = dev_runs["hybrid"].summary["overall"]
    for mode in ("keyword", "dense"):
        single = dev_runs[mode].summary["overall"]
        assert hybrid["hit@budget"] > single["hit@budget"], mode
    assert hybrid["mrr@10"] > dev_runs["dense"].summary["overall"]["mrr@10"]
    # Against keyword-only: 0.609 vs 0.594 since Chinese questions lean on BM25 when the embedder reads only
    # English (before that a near tie, 0.592 vs 0.594).
    assert hybrid["mrr@10"] > dev_runs["keyword"].summary["overall"]["mrr@10"]


@pytest.mark.shared
def test_dev_gate_refuses_unanswerable_and_spares_answerable(dev_runs):
    overall = dev_runs["hybrid"].summary["overall"]
    assert overall["refused_unanswerable"] >= DEV["refused_unanswerable"]
    assert overall["refused_answerable"] <= DEV["refused_answerable"]
    assert dev_runs["hybrid"].summary["gate_auc"] >= DEV["gate_auc"]


# Thresholds: a small margin under the measured figures (in the comments: default settings, MiniLM,
# weighted z-score fusion with keyword weight 0.7, reranker off, the shipped gate calibration).
FIXTURE = {
    "hit@budget": 0.95,  # measured 1.00
    "hit@1": 0.70,  # 0.78
    "mrr@10": 0.80,  # 0.87
    "page_hit@5": 0.92,  # 0.97
    "refused_unanswerable": 0.50,  # 0.60: lower-case near misses ("retail price") have no lexical mark
    "refused_answerable": 0.25,  # 0.17: paraphrases and Chinese questions on a tiny vocabulary
    "gate_auc": 0.70,  # 0.76
}
FIXTURE_BY_TYPE = {"paraphrase": 0.85, "keyword": 0.85, "numeric": 0.88, "multi": 0.80, "chinese": 0.80}  # all 1.00
DEV = {
    "hit@budget": 0.84,  # 0.870 (keyword only 0.783, dense only 0.674)
    "mrr@10": 0.58,  # 0.609 (keyword only 0.594, dense only 0.343)
    "ndcg@10": 0.63,  # 0.659
    "refused_unanswerable": 0.80,  # 0.857 (6 of 7)
    "refused_answerable": 0.07,  # 0.022 (1 of 46)
    "gate_auc": 0.93,  # 0.975
}
