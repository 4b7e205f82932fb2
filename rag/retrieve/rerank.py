"""Cross-encoder reranking (sentence-transformers ``CrossEncoder``), and how the ``reranker`` setting picks one.

``reranker`` setting:
- ``"none"``: no reranking;
- ``"auto"`` (default): the cross-encoder named by ``reranker_model`` when it can be loaded — a local folder,
  the Hugging Face cache, or a download when the hub can be reached — and otherwise no reranking, with a
  note saying so and why (every search and answer carries it);
- anything else: a cross-encoder id or local path the user asked for explicitly; when it cannot be loaded,
  ``ModelUnavailable`` names ``RAG_RERANKER``.

Scores are probabilities: the model's logit through a sigmoid (one-label models such as the ms-marco ones),
or the softmax probability of the last label (two-label models).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np

from rag.errors import ModelUnavailable
from rag.models import resolve_model
from rag.types import Hit

log = logging.getLogger(__name__)

HUB_PROBE_TIMEOUT_S = 2.0


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a cross-encoder and reorders hits by that probability."""

    def __init__(self, model: object, name: str, batch_size: int = 16, max_length: int = 512) -> None:
        self._model = model
        self.name = name
        self.batch_size = batch_size
        self.max_length = max_length

    @classmethod
    def load(cls, model_id: str, *, local_only: bool = False, batch_size: int = 16) -> "CrossEncoderReranker":
        """Load a cross-encoder (raises whatever sentence-transformers raises when it cannot)."""
        import torch  # heavy: loaded on first use, not when the module is imported
        from sentence_transformers import CrossEncoder  # heavy: loaded on first use, not when the module is imported

        location = resolve_model(model_id)
        model = CrossEncoder(location, device="cpu", local_files_only=local_only)
        model.model.eval()
        num_labels = int(getattr(model, "num_labels", 1) or 1)
        # Probabilities, whatever activation the saved model declares.
        model.activation_fn = torch.nn.Sigmoid() if num_labels == 1 else torch.nn.Identity()
        limit = getattr(model, "max_seq_length", None) or getattr(model.tokenizer, "model_max_length", 512)
        return cls(model, model_id, batch_size=batch_size, max_length=int(min(limit or 512, 512)))

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Probability that each passage answers the query (batched)."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        pairs = [(query, p) for p in passages]
        raw = self._model.predict(  # type: ignore[attr-defined]
            pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        raw = np.asarray(raw, dtype=np.float32)
        if raw.ndim == 2:  # several labels: softmax, probability of the last ("relevant") label
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            return (shifted / shifted.sum(axis=1, keepdims=True))[:, -1]
        return raw.reshape(-1)

    def rerank(self, query: str, hits: Sequence[Hit], top: int) -> list[Hit]:
        """The first ``top`` hits reordered by rerank probability (kept as ``scores["rerank"]`` and as the
        hit's score); hits after them keep their order, below the reranked ones."""
        head, tail = list(hits[:top]), list(hits[top:])
        if not head:
            return list(hits)
        probabilities = self.score(query, [h.chunk.text for h in head])
        for hit, probability in zip(head, probabilities):
            hit.scores["rerank"] = float(probability)
            hit.score = float(probability)
        order = sorted(range(len(head)), key=lambda i: (-probabilities[i], i))
        return [head[i] for i in order] + tail


@dataclass(frozen=True)
class RerankerChoice:
    """What the ``reranker`` setting resolved to: a reranker, or None and the reason it is off."""

    reranker: CrossEncoderReranker | None
    note: str = ""

    @property
    def enabled(self) -> bool:
        return self.reranker is not None


def _hub_reachable() -> tuple[bool, str]:
    """Whether the Hugging Face hub answers at all (a quick TCP probe, so 'auto' never waits a minute)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False, "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True, ""
    except OSError as exc:
        return False, f"{host} is unreachable ({type(exc).__name__})"


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


class _CannotLoad(Exception):
    """Why a cross-encoder could not be loaded (one line)."""


def _load(model_id: str, batch_size: int) -> CrossEncoderReranker:
    """From a local folder, a packaged copy or the Hugging Face cache first (no network), then by
    download when the hub answers a quick probe (so an offline machine never waits for retries)."""
    try:
        return CrossEncoderReranker.load(model_id, local_only=True, batch_size=batch_size)
    except Exception as exc:
        cache_error = exc
    if Path(model_id).expanduser().exists() or resolve_model(model_id) != model_id:
        raise _CannotLoad(_short(cache_error)) from cache_error
    reachable, why = _hub_reachable()
    if not reachable:
        raise _CannotLoad(f"not in the Hugging Face cache and cannot be downloaded: {why}") from cache_error
    try:
        return CrossEncoderReranker.load(model_id, batch_size=batch_size)
    except Exception as exc:
        raise _CannotLoad(_short(exc)) from exc


def choose_reranker(setting: str, auto_model: str, batch_size: int = 16) -> RerankerChoice:
    """Resolve the ``reranker`` setting (see the module docstring)."""
    value = setting.strip()
    if value.lower() in ("none", "off", "false", "0", ""):
        return RerankerChoice(None, "reranking is off (RAG_RERANKER=none)")
    explicit = value.lower() != "auto"
    model_id = value if explicit else auto_model
    started = time.perf_counter()
    try:
        reranker = _load(model_id, batch_size)
    except _CannotLoad as exc:
        if explicit:
            raise ModelUnavailable(
                f"cannot load the cross-encoder {model_id!r} ({exc}); set RAG_RERANKER to a local model "
                "folder, a model id in your Hugging Face cache, 'auto' or 'none'"
            ) from exc
        return RerankerChoice(
            None,
            f"reranking is off: the cross-encoder {model_id} cannot be loaded ({exc}); set RAG_RERANKER "
            "to a local cross-encoder folder to turn it on",
        )
    log.info("loaded cross-encoder %s in %.1fs", model_id, time.perf_counter() - started)
    return RerankerChoice(reranker)
