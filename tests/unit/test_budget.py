"""Token budgeting: what is kept when system prompt + passages + history + question outgrow the context."""

from __future__ import annotations

import pytest

from llm.budget import BudgetPlan, drop_order, fit, plan_budget, prompt_limit
from llm.errors import PromptTooLong


def plan(fixed=100, passages=(), history=(), context=1000, max_new=200, min_passages=1) -> BudgetPlan:
    return plan_budget(
        fixed_tokens=fixed,
        passage_tokens=list(passages),
        history_tokens=list(history),
        context_length=context,
        max_new_tokens=max_new,
        min_passages=min_passages,
    )


def test_everything_is_kept_when_it_fits():
    result = plan(fixed=100, passages=[100, 100], history=[50, 50], context=1000, max_new=200)
    assert (result.passages, result.history) == (2, 2)
    assert result.tokens == 400
    assert result.limit == 800


def test_exactly_full_context_fits():
    result = plan(fixed=100, passages=[300, 200], history=[], context=800, max_new=200)
    assert result.passages == 2 and result.tokens == 600 == result.limit


def test_the_answer_budget_is_reserved():
    # 700 prompt tokens fit a 1000 context only while max_new_tokens <= 300.
    assert plan(fixed=100, passages=[300, 300], context=1000, max_new=300).passages == 2
    assert plan(fixed=100, passages=[300, 300], context=1000, max_new=301).passages == 1


def test_lowest_ranked_passages_are_dropped_first():
    result = plan(fixed=100, passages=[200, 200, 200, 200], history=[], context=1000, max_new=300)
    assert result.passages == 3  # 100 + 3*200 = 700 = the limit
    assert result.keep_passages(["best", "second", "third", "fourth"]) == ["best", "second", "third"]


def test_kept_passages_are_the_top_of_the_ranking():
    result = plan(fixed=0, passages=[10, 10, 10, 10, 10], context=100, max_new=70)
    assert result.keep_passages(list("abcde")) == ["a", "b", "c"]
    assert result.dropped_passages == 2


def test_passages_go_before_history():
    result = plan(fixed=100, passages=[300, 300, 300], history=[100, 100], context=1000, max_new=200)
    # 100 + 300 (one passage) + 200 (all history) = 600 <= 800; two passages would make 900.
    assert (result.passages, result.history) == (1, 2)


def test_oldest_history_goes_after_passages_reach_the_minimum():
    result = plan(fixed=100, passages=[300, 300], history=[150, 150, 150], context=1000, max_new=300)
    # limit 700: 100 + 300 + 150*2 = 700 keeps the two latest exchanges.
    assert (result.passages, result.history) == (1, 2)
    assert result.keep_history(["oldest", "middle", "latest"]) == ["middle", "latest"]


def test_the_last_passage_goes_only_after_all_history():
    result = plan(fixed=100, passages=[500], history=[100, 100], context=600, max_new=0)
    # 100 + 500 = 600 fits with no history; dropping the passage is not needed.
    assert (result.passages, result.history) == (1, 0)
    # A passage that cannot fit even alone goes last, after every exchange.
    result = plan(fixed=100, passages=[600], history=[100, 100], context=600, max_new=0)
    assert (result.passages, result.history) == (0, 0)


def test_min_passages_zero_drops_passages_all_the_way_before_history():
    result = plan(fixed=100, passages=[300, 300], history=[100, 100], context=600, max_new=200, min_passages=0)
    assert (result.passages, result.history) == (0, 2)


def test_min_passages_two_keeps_two_passages_over_history():
    result = plan(fixed=100, passages=[200, 200, 200], history=[100, 100], context=700, max_new=100, min_passages=2)
    assert (result.passages, result.history) == (2, 1)


def test_a_prompt_that_cannot_fit_is_refused_with_a_clear_error():
    with pytest.raises(PromptTooLong, match="system prompt and the question alone take 900 tokens"):
        plan(fixed=900, passages=[10], history=[10], context=1000, max_new=200)


def test_max_new_tokens_larger_than_the_context_is_refused():
    with pytest.raises(PromptTooLong):
        plan(fixed=1, context=100, max_new=100)


def test_nothing_to_drop_returns_an_empty_plan():
    result = plan(fixed=10, passages=[], history=[], context=100, max_new=10)
    assert (result.passages, result.history, result.tokens) == (0, 0, 10)
    assert result.keep_history(["a"]) == []


def test_negative_counts_are_rejected():
    with pytest.raises(ValueError):
        plan(fixed=-1)
    with pytest.raises(ValueError):
        plan(passages=[-5])


def test_prompt_limit_is_context_minus_answer():
    assert prompt_limit(4096, 384) == 3712
    with pytest.raises(ValueError):
        prompt_limit(0, 1)


def test_an_answer_as_long_as_the_context_leaves_no_room_for_a_prompt():
    with pytest.raises(PromptTooLong, match=r"max_new_tokens \(4096\) leaves no room .* 4096-token context"):
        prompt_limit(4096, 4096)


def test_drop_order_lists_every_state_from_all_to_nothing():
    assert drop_order(3, 2, min_passages=1) == [(3, 2), (2, 2), (1, 2), (1, 1), (1, 0), (0, 0)]
    assert drop_order(0, 1) == [(0, 1), (0, 0)]


def test_fit_uses_the_exact_measure_and_few_calls():
    calls = []

    def measure(k: int, h: int) -> int:
        calls.append((k, h))
        return 50 + 40 * k + 30 * h + (7 if k and h else 0)  # a non-additive formatting overhead

    result = fit(measure, n_passages=20, n_history=10, limit=600, min_passages=1)
    assert len(set(calls)) <= 7  # bisection over 31 states (log2 + the all-dropped check), not a scan
    states = drop_order(20, 10, 1)
    first_fitting = next(s for s in states if measure(*s) <= 600)
    assert (result.passages, result.history) == first_fitting
    assert result.tokens == measure(*first_fitting)


def test_fit_agrees_with_a_linear_scan_for_many_budgets():
    sizes_p, sizes_h, fixed = [90, 70, 50, 30, 20], [40, 60, 80], 25

    def measure(k: int, h: int) -> int:
        return fixed + sum(sizes_p[:k]) + sum(sizes_h[len(sizes_h) - h :])

    states = drop_order(len(sizes_p), len(sizes_h), 1)
    for limit in range(fixed, measure(5, 3) + 5, 7):
        expected = next(s for s in states if measure(*s) <= limit)
        result = fit(measure, len(sizes_p), len(sizes_h), limit)
        assert (result.passages, result.history) == expected, limit
