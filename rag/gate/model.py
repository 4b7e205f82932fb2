"""The gate's models: one logistic regression per signal set, and the calibration file that holds them.

Each retrieval mode (and reranking) has its own model over the features it has. A calibration keeps the
models, their thresholds and how they were fitted in a JSON file (``Settings.gate_path``); a default
calibration ships beside this module (``calibration.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from rag.errors import ConfigError
from rag.gate.features import AGREEMENT, DENSE, KEYWORD, LEXICAL, RERANK
from rag.types import Mode

FORMAT_VERSION = 1
SHIPPED = "calibration.json"

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
        text = resources.files("rag.gate").joinpath(SHIPPED).read_text(encoding="utf-8")
        return cls.from_json(json.loads(text), f"rag/gate/{SHIPPED} (shipped)")


def signature(mode: Mode | str, reranked: bool) -> str:
    """The name of the model for a retrieval mode, with or without reranking."""
    return f"{Mode.parse(mode)}+rerank" if reranked else str(Mode.parse(mode))


def mode_features(mode: Mode | str, reranked: bool) -> tuple[str, ...]:
    """Every feature a search in ``mode`` yields."""
    mode = Mode.parse(mode)
    names = list(LEXICAL)
    if mode.uses_keyword:
        names += KEYWORD
    if mode.uses_dense:
        names += DENSE
    if mode is Mode.HYBRID:
        names += AGREEMENT
    if reranked:
        names += RERANK
    return tuple(names)


