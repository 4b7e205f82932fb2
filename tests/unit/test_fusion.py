"""Fusion of the keyword and dense lists."""

from __future__ import annotations

import pytest

from rag.retrieve.fusion import reciprocal_rank_fusion, standardized_fusion, z_scores

KEYWORD = [("a", 12.0), ("b", 8.0), ("c", 1.0)]
DENSE = [("c", 0.81), ("d", 0.80), ("a", 0.40)]


def test_rrf_sums_weight_over_k_plus_rank_for_every_list_an_item_is_in():
    fused = dict(reciprocal_rank_fusion({"k": KEYWORD, "d": DENSE}, k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)


def test_an_item_found_by_both_lists_outranks_items_found_by_one():
    order = [item for item, _ in reciprocal_rank_fusion({"k": KEYWORD, "d": DENSE}, k=60)]
    assert order[:2] == ["a", "c"]


def test_rrf_weights_shift_the_order_towards_the_heavier_list():
    keyword_heavy = [i for i, _ in reciprocal_rank_fusion({"k": KEYWORD, "d": DENSE}, k=10, weights={"k": 0.9, "d": 0.1})]
    dense_heavy = [i for i, _ in reciprocal_rank_fusion({"k": KEYWORD, "d": DENSE}, k=10, weights={"k": 0.1, "d": 0.9})]
    assert keyword_heavy.index("b") < keyword_heavy.index("d")
    assert dense_heavy.index("d") < dense_heavy.index("b")


def test_z_scores_standardise_over_the_given_items_with_missing_as_zero():
    z = z_scores({"a": 3.0, "b": 1.0}, ["a", "b", "c"])
    assert sum(z.values()) == pytest.approx(0.0, abs=1e-9)
    assert z["a"] > z["b"] > z["c"]
    assert z_scores({"a": 1.0, "b": 1.0}, ["a", "b"]) == {"a": 0.0, "b": 0.0}


def test_standardized_fusion_weighs_each_list_and_ranks_agreement_first():
    fused = standardized_fusion({"k": KEYWORD, "d": DENSE}, {"k": 0.7, "d": 0.3})
    order = [item for item, _ in fused]
    assert set(order) == {"a", "b", "c", "d"}
    assert order[0] == "a"  # best keyword score, and a dense score
    dense_heavy = [item for item, _ in standardized_fusion({"k": KEYWORD, "d": DENSE}, {"k": 0.1, "d": 0.9})]
    assert dense_heavy[0] == "c"
