"""Token budgeting: fit system prompt + passages + history + question into the context window.

The prompt may use ``context_length - max_new_tokens`` tokens. When everything does not fit, parts are
dropped in a fixed order until it does:

1. the lowest-ranked passages, down to ``min_passages`` (default 1: keep the best evidence longest);
2. the oldest history exchanges (a user question with its answer, so roles keep alternating);
3. the remaining passages, lowest-ranked first.

The system prompt and the question are never dropped: if they alone do not fit, :class:`PromptTooLong` is
raised. Passages are kept as a prefix of the ranking (the top ``k``) and history as the most recent ``h``
exchanges, so a plan is just ``(k, h)``.

Two ways to measure: :func:`plan_budget` adds up per-part token counts (pure arithmetic), :func:`fit` asks a
``measure(k, h)`` callable for the exact size of the formatted prompt (e.g. ``engine.prompt_tokens`` of the
messages built with the top ``k`` passages and last ``h`` exchanges); it needs only about log2(n) calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from llm.errors import PromptTooLong


@dataclass(frozen=True)
class BudgetPlan:
    """What to keep: the top ``passages`` passages and the latest ``history`` exchanges."""

    passages: int
    history: int
    tokens: int  # size of the prompt with what is kept
    limit: int  # tokens the prompt may take
    total_passages: int
    total_history: int

    @property
    def dropped_passages(self) -> int:
        return self.total_passages - self.passages

    @property
    def dropped_history(self) -> int:
        return self.total_history - self.history

    def keep_passages(self, passages: Sequence) -> list:
        """The kept passages out of the ranked list (best first)."""
        return list(passages[: self.passages])

    def keep_history(self, exchanges: Sequence) -> list:
        """The kept exchanges out of the history (oldest first)."""
        return list(exchanges[len(exchanges) - self.history :]) if self.history else []


def prompt_limit(context_length: int, max_new_tokens: int) -> int:
    """Tokens the prompt may take so that ``max_new_tokens`` still fit in the context."""
    if context_length <= 0:
        raise ValueError(f"context_length must be positive, not {context_length}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens cannot be negative, not {max_new_tokens}")
    if max_new_tokens >= context_length:
        raise PromptTooLong(
            f"max_new_tokens ({max_new_tokens}) leaves no room for a prompt in the model's {context_length}-token "
            "context; lower max_new_tokens or raise the context length"
        )
    return context_length - max_new_tokens


def drop_order(n_passages: int, n_history: int, min_passages: int = 1) -> list[tuple[int, int]]:
    """Every ``(passages kept, history kept)`` state, from keeping everything to keeping nothing optional."""
    if n_passages < 0 or n_history < 0:
        raise ValueError("counts cannot be negative")
    floor = max(0, min(min_passages, n_passages))
    states = [(k, n_history) for k in range(n_passages, floor - 1, -1)]
    states += [(floor, h) for h in range(n_history - 1, -1, -1)]
    states += [(k, 0) for k in range(floor - 1, -1, -1)]
    return states


def fit(
    measure: Callable[[int, int], int],
    n_passages: int,
    n_history: int,
    limit: int,
    min_passages: int = 1,
) -> BudgetPlan:
    """The first state in :func:`drop_order` whose ``measure(k, h)`` is at most ``limit``.

    ``measure`` must not grow when parts are dropped (true of any real prompt), which lets this search
    the order by bisection.
    """
    states = drop_order(n_passages, n_history, min_passages)
    sizes: dict[int, int] = {}

    def size(i: int) -> int:
        if i not in sizes:
            sizes[i] = measure(*states[i])
        return sizes[i]

    last = len(states) - 1
    if size(last) > limit:
        raise PromptTooLong(
            f"the system prompt and the question alone take {size(last)} tokens, more than the {limit} the "
            "context leaves after the answer; shorten the question, lower max_new_tokens or raise the context length"
        )
    lo, hi = 0, last  # find the first index whose size fits; size(hi) fits
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid) <= limit:
            hi = mid
        else:
            lo = mid + 1
    k, h = states[lo]
    return BudgetPlan(k, h, size(lo), limit, n_passages, n_history)


def plan_budget(
    *,
    fixed_tokens: int,
    passage_tokens: Sequence[int],
    history_tokens: Sequence[int],
    context_length: int,
    max_new_tokens: int,
    min_passages: int = 1,
) -> BudgetPlan:
    """Plan from per-part token counts.

    ``fixed_tokens``: system prompt + question + the chat format's own tokens (what is never dropped);
    ``passage_tokens``: each passage, best-ranked first; ``history_tokens``: each past exchange, oldest first.
    """
    if fixed_tokens < 0 or any(t < 0 for t in passage_tokens) or any(t < 0 for t in history_tokens):
        raise ValueError("token counts cannot be negative")
    passage_prefix = [0]
    for t in passage_tokens:
        passage_prefix.append(passage_prefix[-1] + t)
    history_suffix = [0]
    for t in reversed(history_tokens):
        history_suffix.append(history_suffix[-1] + t)

    def measure(k: int, h: int) -> int:
        return fixed_tokens + passage_prefix[k] + history_suffix[h]

    return fit(
        measure,
        len(passage_tokens),
        len(history_tokens),
        prompt_limit(context_length, max_new_tokens),
        min_passages,
    )
