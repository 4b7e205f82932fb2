"""Fusion of ranked lists: reciprocal rank fusion, and a weighted combination of normalised scores."""

from __future__ import annotations

from typing import Mapping, Sequence

Ranked = Sequence[tuple[str, float]]  # (id, score) best first


def reciprocal_rank_fusion(
    lists: Mapping[str, Ranked], k: int = 60, weights: Mapping[str, float] | None = None
) -> list[tuple[str, float]]:
    """Sum of weight / (k + rank) over the lists an id appears in (rank is 1-based); best first."""
    fused: dict[str, float] = {}
    for name, ranked in lists.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, (item, _score) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def min_max(ranked: Ranked) -> dict[str, float]:
    """Scores scaled to [0, 1] within one list (all 1.0 when they are equal)."""
    if not ranked:
        return {}
    scores = [s for _, s in ranked]
    low, high = min(scores), max(scores)
    if high == low:
        return {item: 1.0 for item, _ in ranked}
    return {item: (score - low) / (high - low) for item, score in ranked}


def weighted_fusion(lists: Mapping[str, Ranked], weights: Mapping[str, float]) -> list[tuple[str, float]]:
    """Weighted sum of min-max normalised scores; an id missing from a list gets 0 there."""
    fused: dict[str, float] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for item, score in min_max(ranked).items():
            fused[item] = fused.get(item, 0.0) + weight * score
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
