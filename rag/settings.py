"""Settings: environment variables ``RAG_*`` and an optional ``rag.toml``.

Settings are built once at the edge (CLI, web app, tests) and passed in; no module reads them globally.
Precedence, highest first: explicit keyword arguments, ``RAG_*`` environment variables, the TOML file
(``RAG_CONFIG`` or ``./rag.toml``), the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import ConfigError


def _config_file() -> Path:
    return Path(os.environ.get("RAG_CONFIG", "rag.toml"))


class Settings(BaseSettings):
    """Every setting of the product. The README documents each one in a table."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        extra="forbid",
        validate_default=True,
    )

    # --- where data lives -------------------------------------------------------------------------
    home: Path = Field(Path(".rag"), description="Folder for all local data: catalog, indexes, vectors, uploads.")

    # --- ingestion --------------------------------------------------------------------------------
    parse_workers: int = Field(
        1, ge=0, le=1, description="1: read PDFs in a worker process while this one embeds; 0: in this process "
        "(little memory, debugging the reader, environments that cannot start processes)."
    )
    chunk_keep_tables: bool = Field(
        False, description="Never cut a table that fits a chunk; cut larger ones between rows, each piece "
        "repeating caption and header. Off: measured, it did not help retrieval (README, Tables).",
    )
    chunk_tokens: int = Field(256, ge=32, le=8192, description="Chunk budget in embedding-model tokens.")
    chunk_overlap: float = Field(0.15, ge=0.0, lt=0.9, description="Share of a chunk repeated in the next one.")
    max_file_mb: float = Field(200.0, gt=0, description="Files larger than this are refused.")
    max_pages: int = Field(5000, ge=1, description="PDFs with more pages than this are refused.")
    ocr: Literal["auto", "off", "force"] = Field(
        "auto",
        description="OCR (RapidOCR, bundled models): 'auto' reads pages without a usable text layer (scans, garbled "
        "text), 'off' never, 'force' every page.",
    )

    # --- keyword index ----------------------------------------------------------------------------
    keyword_backend: Literal["sqlite", "elasticsearch"] = Field(
        "sqlite", description="BM25 backend: embedded SQLite FTS5 or an Elasticsearch cluster."
    )
    elasticsearch_url: str = Field("http://127.0.0.1:9200", description="Elasticsearch URL (keyword_backend=elasticsearch).")
    elasticsearch_index: str = Field("rag-chunks", description="Elasticsearch index name.")
    elasticsearch_api_key: str | None = Field(None, description="Elasticsearch API key, if the cluster needs one.")
    elasticsearch_username: str | None = Field(None, description="Elasticsearch basic-auth user.")
    elasticsearch_password: str | None = Field(None, description="Elasticsearch basic-auth password.")
    elasticsearch_verify_certs: bool = Field(True, description="Verify TLS certificates of the cluster.")
    elasticsearch_shards: int = Field(1, ge=1, description="Primary shards when the index is created.")
    elasticsearch_replicas: int = Field(0, ge=0, description="Replicas when the index is created.")

    # --- vectors ----------------------------------------------------------------------------------
    chroma_url: str | None = Field(None, description="Chroma server URL; unset means embedded Chroma under home.")
    chroma_collection: str = Field("rag-chunks", description="Chroma collection name.")

    # --- embeddings -------------------------------------------------------------------------------
    embedding_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="Sentence-transformers model id or local path (packaged copies are used when installed).",
    )
    embedding_backend: Literal["torch", "onnx"] = Field("torch", description="sentence-transformers backend.")
    embedding_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Number format of the torch embedding model: 'auto' is bfloat16 where the CPU multiplies it "
        "in hardware (Intel AMX: ~3x faster, same ranking), float32 elsewhere (bfloat16 without AMX is slower).",
    )
    embedding_batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")
    embedding_query_prompt: str | None = Field(
        None, description="Prefix for queries (e.g. 'query: ' for e5); unset picks the model's known prompt."
    )
    embedding_passage_prompt: str | None = Field(
        None, description="Prefix for passages (e.g. 'passage: ' for e5); unset picks the model's known prompt."
    )
    threads: int = Field(0, ge=0, description="CPU threads for models; 0 means all cores.")

    # --- retrieval --------------------------------------------------------------------------------
    retrieval_mode: Literal["hybrid", "keyword", "dense"] = Field("hybrid", description="Which retrievers run.")
    top_k: int = Field(6, ge=1, le=100, description="Passages returned by search and given to the model.")
    candidates: int = Field(50, ge=1, le=1000, description="Candidates each retriever contributes before fusion.")
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted",
        description="Fusion of keyword and dense lists: 'weighted' z-scores of both scores of every candidate, or 'rrf' (rank fusion).",
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    keyword_weight: float = Field(0.7, ge=0.0, le=1.0, description="Weight of the keyword list in fusion (dense gets 1 - w).")

    # --- reranking --------------------------------------------------------------------------------
    reranker: str = Field(
        "auto",
        description="'auto' (cross-encoder when loadable, else off), 'none', or a cross-encoder id or path.",
    )
    reranker_model: str = Field(
        "cross-encoder/ms-marco-MiniLM-L-6-v2", description="Cross-encoder used when reranker='auto'."
    )
    rerank_top: int = Field(20, ge=1, le=200, description="Candidates the cross-encoder scores.")

    # --- relevance gate ---------------------------------------------------------------------------
    gate: bool = Field(True, description="Refuse when the evidence is insufficient (before calling the model).")
    gate_calibration: Path | None = Field(
        None, description="Calibrated gate file written by 'rag eval --calibrate'; unset uses home/gate.json or the shipped one."
    )

    # --- language model ---------------------------------------------------------------------------
    llm_backend: Literal["llamacpp", "openai", "transformers"] = Field(
        "llamacpp", description="Chat engine: llama.cpp in-process, an OpenAI-compatible server, or transformers."
    )
    llm_model: str = Field(
        "auto", description="GGUF path (llamacpp), model name (openai), or HF id/path (transformers); 'auto' finds SmolLM2."
    )
    llm_url: str = Field("http://127.0.0.1:8080/v1", description="Base URL of the OpenAI-compatible server.")
    llm_api_key: str | None = Field(None, description="API key for the OpenAI-compatible server.")
    llm_chat_format: str = Field(
        "auto", description="'auto' (llama-2 for Llama 2 chat models, else the model's template) or 'llama-2'."
    )
    llm_context: int = Field(4096, ge=256, description="Context window in tokens.")
    llm_timeout: float = Field(120.0, gt=0, description="Seconds before a server request times out.")
    llm_decode_threads: int = Field(
        0, ge=0, description="llama.cpp threads generating tokens; 0: all of them (1 suits an always-busy machine)."
    )
    llm_fast_copy: bool = Field(
        True,
        description="Load Q4_1/Q5_0/Q5_1 GGUFs up to 1 GiB from a one-time Q8_0 copy in home/models (2x faster prompts on CPU).",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 is deterministic).")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling.")
    max_new_tokens: int = Field(384, ge=1, description="Longest answer in tokens; less than llm_context, which the prompt shares.")
    seed: int = Field(0, description="Sampling seed.")
    serve_host: str = Field("127.0.0.1", description="Host 'rag serve-llm' binds.")
    serve_port: int = Field(8080, ge=1, le=65535, description="Port 'rag serve-llm' binds.")

    # --- answers ----------------------------------------------------------------------------------
    min_support: float = Field(
        0.0, ge=0.0, le=1.0, description="Refuse answers whose grounding support is below this (0 disables)."
    )
    quote_unsupported: bool = Field(
        True,
        description="When no sentence of the model's answer is supported by the passages, quote the passage "
        "closest to the question instead (cited).",
    )
    history_turns: int = Field(6, ge=0, description="Past exchanges kept in a conversation.")
    answer_context_words: int = Field(
        350, ge=50, description="Most words of passages the model reads for one answer (fewer is faster)."
    )

    # --- web --------------------------------------------------------------------------------------
    web_host: str = Field("127.0.0.1", description="Host the web chat binds.")
    web_port: int = Field(8501, ge=1, le=65535, description="Port the web chat binds.")
    max_upload_mb: float = Field(100.0, gt=0, description="Largest PDF the web chat accepts.")

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return Path(value).expanduser()

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.keyword_backend == "elasticsearch" and not self.elasticsearch_url:
            raise ValueError("keyword_backend=elasticsearch needs RAG_ELASTICSEARCH_URL")
        if self.max_new_tokens >= self.llm_context:
            raise ValueError(
                f"max_new_tokens (RAG_MAX_NEW_TOKENS={self.max_new_tokens}) must be smaller than llm_context "
                f"(RAG_LLM_CONTEXT={self.llm_context}): the prompt and the answer share the context window"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_config_file()))

    # --- derived paths ----------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite3"

    @property
    def keyword_path(self) -> Path:
        return self.home / "keyword.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def uploads_path(self) -> Path:
        return self.home / "uploads"

    @property
    def models_path(self) -> Path:
        return self.home / "models"

    @property
    def lock_path(self) -> Path:
        return self.home / "ingest.lock"

    @property
    def gate_path(self) -> Path:
        return self.gate_calibration or (self.home / "gate.json")


def load_settings(**overrides: object) -> Settings:
    """Build settings from overrides, the environment and the TOML file, with a readable error."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # a rule across settings: its message names them
                problems.append(message)
                continue
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{loc} (RAG_{loc.upper()}): {message}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


def settings_rows(settings: Settings | None = None) -> list[tuple[str, str, str, str]]:
    """(environment variable, current or default value, description, TOML key) for every setting."""
    rows = []
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name) if settings is not None else info.default
        shown = "unset" if value is None else (f'"{value}"' if isinstance(value, (str, Path)) else str(value).lower() if isinstance(value, bool) else str(value))
        rows.append((f"RAG_{name.upper()}", shown, info.description or "", name))
    return rows


def settings_markdown() -> str:
    """The README's settings table, generated from the fields above."""
    lines = ["| environment variable | `rag.toml` key | default | what it does |", "|---|---|---|---|"]
    for env, default, description, key in settings_rows():
        lines.append(f"| `{env}` | `{key}` | `{default}` | {description} |")
    return "\n".join(lines)
