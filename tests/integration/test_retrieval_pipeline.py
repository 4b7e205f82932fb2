"""Retrieval end to end over the generated fixture corpus: real SQLite FTS5, real Chroma, real MiniLM,
the gate's shipped calibration, a tiny cross-encoder the test builds, and the `rag eval` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.workspace import Workspace
from rag.settings import Settings
from tests.fixtures.tiny_cross_encoder import build_tiny_cross_encoder

EASY = "What does error code E17 mean on the Corvina X2?"


def test_search_results_say_whether_the_passages_can_answer_and_why(fixture_workspace: Workspace):
    data = fixture_workspace.search(EASY, top_k=3).as_dict()
    assert {"query", "results", "answerable", "reason", "notes", "evidence_score", "gate"} <= set(data)
    assert data["answerable"] is True
    assert "threshold" in data["reason"]
    assert len(data["results"]) == 3
    assert {"chunk_id", "doc", "file", "title", "pages", "text", "score", "scores"} <= set(data["results"][0])
    assert data["results"][0]["file"] == "corvina-x2-manual.pdf"


def test_a_question_about_something_the_documents_lack_is_refused_with_the_missing_name(fixture_workspace: Workspace):
    result = fixture_workspace.search("Which Kafka version is QuillMQ 4.2 wire-compatible with?")
    assert result.answerable is False
    assert "'Kafka'" in result.reason


def test_every_stage_score_is_kept_on_the_hits(fixture_workspace: Workspace):
    hit = fixture_workspace.search(EASY, top_k=1).hits[0]
    assert {"fused", "keyword", "dense"} <= set(hit.scores)


def test_single_modes_use_their_own_gate_model(fixture_workspace: Workspace):
    for mode in ("keyword", "dense"):
        result = fixture_workspace.search(EASY, top_k=2, mode=mode)
        assert result.gate["model"] == mode
        assert result.answerable is not None


def test_with_the_gate_off_nothing_is_judged(fixture_index: Path, embedder):
    workspace = Workspace(Settings(home=fixture_index, reranker="none", gate=False), embedder=embedder)
    try:
        result = workspace.search(EASY)
    finally:
        workspace.close()
    assert result.answerable is None and result.evidence_score is None


def test_when_auto_cannot_load_a_cross_encoder_every_search_says_reranking_is_off(fixture_index: Path, embedder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    workspace = Workspace(Settings(home=fixture_index, reranker="auto", reranker_model="cross-encoder/not-here"), embedder=embedder)
    try:
        first, second = workspace.search(EASY), workspace.search("How many adults were enrolled in VELO-2?")
    finally:
        workspace.close()
    for result in (first, second):
        assert any(note.startswith("reranking is off") for note in result.notes)
        assert "reranking is off" in " ".join(result.as_dict()["notes"])
        assert result.reranker is None


def test_a_configured_cross_encoder_reranks_the_top_candidates(fixture_index: Path, embedder, tmp_path: Path):
    model = build_tiny_cross_encoder(tmp_path / "tiny")
    workspace = Workspace(Settings(home=fixture_index, reranker=str(model), rerank_top=8), embedder=embedder)
    try:
        result = workspace.search(EASY, top_k=4)
    finally:
        workspace.close()
    assert result.reranker == str(model)
    assert "rerank" in result.timings
    assert all(0.0 <= h.scores["rerank"] <= 1.0 for h in result.hits)
    scores = [h.scores["rerank"] for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert "rerank_top" in result.gate["features"]
    assert any("without the reranker" in note for note in result.notes)


def test_term_statistics_agree_between_sqlite_and_elasticsearch(es_index, fixture_workspace: Workspace):
    chunks = [c for d in fixture_workspace.documents() for c in fixture_workspace.catalog.chunks_of(d.doc_id)]
    es_index.add(chunks)
    terms = ["descal", "corvina", "the", "zzzunknown", "杀青"]
    assert es_index.term_stats(terms) == fixture_workspace.keyword.term_stats(terms)


# --- rag eval ------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(fixture_index: Path, monkeypatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("RAG_") and not key.startswith("RAG_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_HOME", str(fixture_index))
    monkeypatch.setenv("RAG_RERANKER", "none")
    monkeypatch.setenv("RAG_GATE_CALIBRATION", str(tmp_path / "calibrated-gate.json"))
    return tmp_path


@pytest.mark.slow
def test_rag_eval_prints_the_table_and_writes_json(cli_env: Path, fixture_corpus, monkeypatch):
    from app.cli import app

    monkeypatch.delenv("RAG_GATE_CALIBRATION")  # the shipped calibration
    out = cli_env / "eval.json"
    result = CliRunner().invoke(app, ["eval", str(fixture_corpus[1]), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "hit@budget" in result.output and "relevance gate ROC AUC" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["mode"] == "hybrid"
    assert {"numeric", "paraphrase", "keyword", "multi", "unanswerable"} <= set(data["summary"]["by_type"])
    assert 0.0 <= data["summary"]["overall"]["mrr@10"] <= 1.0
    assert len(data["questions"]) == len(fixture_corpus[1].read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_rag_eval_calibrate_writes_a_gate_the_next_search_uses(cli_env: Path, fixture_corpus, fixture_index: Path, embedder):
    from app.cli import app

    result = CliRunner().invoke(app, ["eval", str(fixture_corpus[1]), "--calibrate"])
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.output and "leave-one-document-out" in result.output
    written = cli_env / "calibrated-gate.json"
    data = json.loads(written.read_text(encoding="utf-8"))
    assert set(data["models"]) == {"hybrid", "keyword", "dense"}
    assert data["meta"]["questions"] == str(fixture_corpus[1])
    workspace = Workspace(Settings(home=fixture_index, reranker="none", gate_calibration=written), embedder=embedder)
    try:
        assert workspace.gate.calibration.source == str(written)
    finally:
        workspace.close()
