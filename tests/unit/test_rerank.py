"""Cross-encoder reranking: the reranker setting's semantics, and the real CrossEncoder code path on a tiny
model the test builds (its ranking follows what it was trained on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ModelUnavailable
from rag.retrieve.rerank import choose_reranker
from rag.types import Chunk, Hit
from tests.fixtures.tiny_cross_encoder import build_tiny_cross_encoder, train_pairs

QUERY = "how long is the warranty"
PASSAGES = {
    "warranty": "The machine carries a warranty of 24 months from the date of purchase.",
    "descaling": "Descale the machine every 200 brewing cycles with citric acid.",
    "boiler": "The brass boiler holds 1.8 litres and heats in nine minutes.",
}


def _hits() -> list[Hit]:
    return [
        Hit(chunk=Chunk(f"d-{i:05d}", "d", i, text, 1, 1, 0, len(text)), score=1.0 - i / 10, scores={"fused": 1.0 - i / 10})
        for i, text in enumerate(PASSAGES.values())
    ]


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return build_tiny_cross_encoder(tmp_path / "tiny-cross-encoder")


def test_none_turns_reranking_off_and_says_so():
    choice = choose_reranker("none", "cross-encoder/ms-marco-MiniLM-L-6-v2")
    assert not choice.enabled
    assert "RAG_RERANKER=none" in choice.note


@pytest.mark.slow  # imports torch and sentence-transformers to try
def test_auto_without_a_loadable_model_turns_reranking_off_and_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    choice = choose_reranker("auto", "cross-encoder/not-on-this-machine")
    assert not choice.enabled
    assert "reranking is off" in choice.note and "cross-encoder/not-on-this-machine" in choice.note


def test_an_explicitly_named_model_that_cannot_load_is_an_error_naming_the_setting(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="RAG_RERANKER"):
        choose_reranker(str(tmp_path / "no-such-model"), "unused")
    with pytest.raises(ModelUnavailable, match="RAG_RERANKER"):
        choose_reranker("someone/not-cached", "unused")


def test_auto_loads_the_model_from_a_local_folder(tiny_model: Path):
    choice = choose_reranker("auto", str(tiny_model))
    assert choice.enabled and not choice.note


def test_scores_are_probabilities_and_every_reranked_hit_keeps_its_other_scores(tiny_model: Path):
    reranker = choose_reranker(str(tiny_model), "unused").reranker
    reranked = reranker.rerank(QUERY, _hits(), top=3)
    for hit in reranked:
        assert 0.0 <= hit.scores["rerank"] <= 1.0
        assert hit.score == hit.scores["rerank"]
        assert "fused" in hit.scores


def test_only_the_top_candidates_are_reranked_and_the_rest_follow_in_order(tiny_model: Path):
    reranker = choose_reranker(str(tiny_model), "unused").reranker
    hits = _hits()
    reranked = reranker.rerank(QUERY, hits, top=2)
    assert {h.chunk_id for h in reranked[:2]} == {hits[0].chunk_id, hits[1].chunk_id}
    assert reranked[2] is hits[2] and "rerank" not in reranked[2].scores


def test_the_ranking_follows_what_the_cross_encoder_learned(tiny_model: Path):
    before = [h.chunk.text for h in choose_reranker(str(tiny_model), "unused").reranker.rerank(QUERY, _hits(), top=3)]
    wanted = before[-1]  # teach it to prefer the passage it ranked last
    train_pairs(tiny_model, [(QUERY, text, 1.0 if text == wanted else 0.0) for text in PASSAGES.values()])
    after = [h.chunk.text for h in choose_reranker(str(tiny_model), "unused").reranker.rerank(QUERY, _hits(), top=3)]
    assert after[0] == wanted
    assert after != before
