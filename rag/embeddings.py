"""Sentence embeddings with sentence-transformers: batched, normalised, with model-specific prompts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rag.errors import ModelUnavailable
from rag.models import resolve_model

log = logging.getLogger(__name__)

# Models trained with instruction prefixes: (query prompt, passage prompt), matched by substring of the id.
KNOWN_PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("e5", "query: ", "passage: "),
    ("bge-small-en", "Represent this sentence for searching relevant passages: ", ""),
    ("bge-base-en", "Represent this sentence for searching relevant passages: ", ""),
    ("bge-large-en", "Represent this sentence for searching relevant passages: ", ""),
)


def known_prompts(model_id: str) -> tuple[str, str]:
    """The (query, passage) prompts a model was trained with; empty strings when it needs none."""
    lowered = model_id.lower()
    for key, query, passage in KNOWN_PROMPTS:
        if key in lowered:
            return query, passage
    return "", ""


@dataclass(frozen=True)
class EmbedderConfig:
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    backend: str = "torch"
    batch_size: int = 32
    query_prompt: str | None = None
    passage_prompt: str | None = None
    threads: int = 0


class Embedder:
    """Embeds passages and queries into unit vectors (cosine similarity is then a dot product)."""

    def __init__(self, config: EmbedderConfig) -> None:
        from sentence_transformers import SentenceTransformer

        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        self.config = config
        self.name = config.model
        location = resolve_model(config.model)
        try:
            kwargs = {"backend": config.backend} if config.backend != "torch" else {}
            self._model = SentenceTransformer(location, device="cpu", **kwargs)
        except Exception as exc:  # sentence-transformers raises many kinds: surface one clear error
            raise ModelUnavailable(
                f"cannot load embedding model {config.model!r} ({type(exc).__name__}: {str(exc)[:200]}); "
                "set RAG_EMBEDDING_MODEL to a local model folder or an id in your Hugging Face cache"
            ) from exc
        default_query, default_passage = known_prompts(config.model)
        self.query_prompt = default_query if config.query_prompt is None else config.query_prompt
        self.passage_prompt = default_passage if config.passage_prompt is None else config.passage_prompt
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the model would read them (without special tokens)."""
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.passage_prompt + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prompt + text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prompt + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
