"""Retrieval quality must not drop: thresholds a small margin under what was measured.

Three question sets:
- the generated fixture corpus (tests/fixtures/corpus_factory.py): always runs;
- ../shared/eval/dev-questions.jsonl over ../shared/corpus: skipped where ../shared is absent. It ingests
  the 12 PDFs into a temporary folder (about a minute), or reuses the data folder named by
  RAG_TEST_SHARED_HOME when that already holds them;
- ../shared/eval/dev2-questions.jsonl over ../shared/corpus2 (Chinese documents, tables, manuals, a scan):
  likewise, with RAG_TEST_SHARED2_HOME.

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
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _shared_runs(embedder, home: Path, corpus: str, questions: str, may_fail: frozenset[str] = frozenset()
                 ) -> dict[str, EvalRun]:
    """Ingest ../shared/<corpus> into ``home`` and evaluate ../shared/eval/<questions> in every mode.
    ``may_fail``: file names that may not ingest (a scan needs OCR)."""
    # The shipped gate calibration, even when a reused folder holds one of its own.
    settings = Settings(home=home, reranker="none", gate_calibration=_shipped_path())
    workspace = Workspace(settings, embedder=embedder)
    try:
        report = workspace.ingest(sorted((SHARED / corpus).glob("*.pdf")))
        assert not report.aborted, report.aborted
        assert {Path(r.path).name for r in report.failed} <= may_fail, [r.reason for r in report.failed]
        loaded = load_questions(SHARED / "eval" / questions)
        return {mode: run_eval(workspace.retriever, workspace.catalog, loaded, mode, gate=workspace.gate)
                for mode in ("hybrid", "keyword", "dense")}
    finally:
        workspace.close()


def _skip_without(corpus: str, questions: str) -> None:
    if not (SHARED / corpus).is_dir() or not (SHARED / "eval" / questions).is_file():
        pytest.skip(f"../shared/{corpus} and ../shared/eval/{questions} are not present")


@pytest.fixture(scope="module")
def dev_runs(embedder, tmp_path_factory) -> dict[str, EvalRun]:
    _skip_without("corpus", "dev-questions.jsonl")
    home = Path(os.environ.get("RAG_TEST_SHARED_HOME") or tmp_path_factory.mktemp("shared-home"))
    return _shared_runs(embedder, home, "corpus", "dev-questions.jsonl")


@pytest.fixture(scope="module")
def dev2_runs(embedder, tmp_path_factory) -> dict[str, EvalRun]:
    _skip_without("corpus2", "dev2-questions.jsonl")
    home = Path(os.environ.get("RAG_TEST_SHARED2_HOME") or tmp_path_factory.mktemp("shared2-home"))
    # The scanned brochure has no text layer: it ingests only where OCR does.
    return _shared_runs(embedder, home, "corpus2", "dev2-questions.jsonl",
                        may_fail=frozenset({"linnsequencer-brochure-scan.pdf"}))


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


@pytest.mark.shared
def test_dev2_hybrid_reaches_the_evidence_goal(dev2_runs):
    overall = dev2_runs["hybrid"].summary["overall"]
    assert overall["hit@budget"] >= DEV2["hit@budget"]
    assert overall["hit@5"] >= DEV2["hit@5"]
    assert overall["mrr@10"] >= DEV2["mrr@10"]
    assert overall["ndcg@10"] >= DEV2["ndcg@10"]


@pytest.mark.shared
def test_dev2_hybrid_beats_keyword_only_and_dense_only(dev2_runs):
    hybrid = dev2_runs["hybrid"].summary["overall"]
    for mode in ("keyword", "dense"):
        single = dev2_runs[mode].summary["overall"]
        assert hybrid["hit@budget"] > single["hit@budget"], mode
        assert hybrid["mrr@10"] > single["mrr@10"], mode


@pytest.mark.shared
def test_dev2_gate_does_not_refuse_more_or_spare_more(dev2_runs):
    # The shipped calibration was fitted on the fixture corpus and dev: on dev2 it separates answerable from
    # unanswerable questions little better than chance (see DEV2); these bounds only stop it getting worse.
    overall = dev2_runs["hybrid"].summary["overall"]
    assert overall["refused_unanswerable"] >= DEV2["refused_unanswerable"]
    assert overall["refused_answerable"] <= DEV2["refused_answerable"]
    assert dev2_runs["hybrid"].summary["gate_auc"] >= DEV2["gate_auc"]


# Thresholds: a small margin under the measured figures (in the comments: default settings, MiniLM,
# weighted z-score fusion with keyword weight 0.7, reranker off, the shipped gate calibration).
FIXTURE = {
    "hit@budget": 0.95,  # measured 1.00
    "hit@1": 0.70,  # 0.78
    "mrr@10": 0.80,  # 0.87
    "page_hit@5": 0.92,  # 0.97
    # the gate since issue 16 (threshold for <= 5% answerable refused, leave one document out): 0.357 (5 of
    # 14), 0.028 (1 of 36); before, 0.60 at 0.17. Lower-case near misses ("retail price") have no lexical mark.
    "refused_unanswerable": 0.30,
    "refused_answerable": 0.10,
    "gate_auc": 0.70,  # 0.768
}
FIXTURE_BY_TYPE = {"paraphrase": 0.85, "keyword": 0.85, "numeric": 0.88, "multi": 0.80, "chinese": 0.80}  # all 1.00
DEV = {
    "hit@budget": 0.84,  # 0.870 (keyword only 0.804, dense only 0.674)
    "mrr@10": 0.60,  # 0.628 (keyword only 0.612, dense only 0.343); 0.609 before analyzer version 2
    "ndcg@10": 0.65,  # 0.677
    "refused_unanswerable": 0.80,  # 0.857 (6 of 7)
    "refused_answerable": 0.07,  # 0.000 (0 of 46)
    "gate_auc": 0.93,  # 0.969
}
DEV2 = {  # 49 questions (39 answerable) over the 8 PDFs, the scan read by OCR
    "hit@budget": 0.80,  # 0.846 (keyword only 0.795, dense only 0.513); 0.795 without OCR
    "hit@5": 0.55,  # 0.590
    "mrr@10": 0.40,  # 0.426 (keyword only 0.415, dense only 0.289); 0.375 without OCR
    "ndcg@10": 0.46,  # measured before OCR: 0.485
    # the shipped gate is fitted on dev2 too (in sample: 0.500, 5 of 10; 0.077, 3 of 39); out of fold, leave
    # one document out: 0.50 and 0.08 (bench/calibrate_gate.py); before issue 16: 0.400 and 0.308
    "refused_unanswerable": 0.40,
    "refused_answerable": 0.12,
    "gate_auc": 0.65,  # 0.703; 0.544 before issue 16
}
