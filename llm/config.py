"""How to open a chat engine: one typed value the application builds from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Backend = Literal["llamacpp", "openai", "transformers"]
BACKENDS: tuple[str, ...] = ("llamacpp", "openai", "transformers")


@dataclass(frozen=True)
class EngineConfig:
    """Everything :func:`llm.factory.open_engine` needs.

    - ``backend``: ``llamacpp`` (in-process GGUF), ``openai`` (an OpenAI-compatible server) or
      ``transformers`` (HF weights).
    - ``model``: a GGUF path (llamacpp), the model name sent to the server (openai; ``auto`` takes the
      server's first model), or an HF id / directory (transformers). ``auto`` finds the packaged SmolLM2.
    - ``url``: base URL of the OpenAI-compatible server, e.g. ``http://127.0.0.1:8080/v1``.
    - ``chat_format``: ``auto`` (``llama-2`` for Llama 2 chat models, else the model's own template),
      ``llama-2``, ``template``, or (llamacpp) any llama-cpp-python chat format name.
    - ``context_length``: tokens of context (prompt + answer).
    - ``threads``: CPU threads (``None``: all cores for llamacpp, the library's default for transformers).
    - ``decode_threads``: llamacpp threads generating token by token (``None``: ``threads``; see
      :mod:`llm.cpu_threads`).
    - ``fast_copy_dir``: llamacpp: a folder for Q8_0 copies of Q4_1/Q5_0/Q5_1 GGUFs up to 1 GiB, which
      llama.cpp reads about 2x faster on CPU (:mod:`llm.gguf_copy`); ``None`` loads every GGUF as it is.
    - ``state_dir``: llamacpp: a folder where the evaluated system turn of prompts is kept between processes
      (:class:`llm.prompt_prefix.SavedStarts`), so a new process need not read it again; ``None``: kept in
      memory only.
    - ``timeout``: seconds a server request may take (openai).
    - ``seed``: default sampling seed of the engine; each request's ``GenerationParams.seed`` wins.
    - ``url_setting``: how error messages name the setting that holds ``url``.
    """

    backend: Backend = "llamacpp"
    model: str = "auto"
    url: str = "http://127.0.0.1:8080/v1"
    api_key: str | None = None
    chat_format: str = "auto"
    context_length: int = 4096
    threads: int | None = None
    decode_threads: int | None = None
    fast_copy_dir: Path | None = None
    state_dir: Path | None = None
    timeout: float = 120.0
    seed: int = 0
    url_setting: str = "llm_url (RAG_LLM_URL)"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown LLM backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        if self.context_length < 16:
            raise ValueError(f"context_length must be at least 16 tokens, not {self.context_length}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be a positive number, not {self.threads}")
        if self.decode_threads is not None and self.decode_threads < 1:
            raise ValueError(f"decode_threads must be a positive number, not {self.decode_threads}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
