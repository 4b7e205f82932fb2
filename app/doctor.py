"""`rag doctor`: check every configured backend and say, one line each, what is wrong and what to do.

Each check is a function ``check_*(settings, ...) -> list[Finding]`` that never raises for an expected
problem: a failure becomes a finding whose message names the setting to change. ``run_checks`` runs them
all in order; ``exit_code`` is 1 when any finding is an error. Warnings (reranking off under ``auto``, an
index not created yet) do not fail the command.

Nothing here downloads a model or writes documents: models are only looked up locally, the LLM server is
asked for its model list, and a GGUF is opened with its vocabulary only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from huggingface_hub import try_to_load_from_cache

from app.workspace import embedder_config, ocr_config, open_keyword_index, open_vectors
from ingest.ocr import RapidOcrEngine
from llm.errors import ModelNotFound
from llm.factory import resolve_model_path
from llm.llamacpp_engine import gguf_chat_format
from rag.errors import RagError
from rag.index.catalog import Catalog
from rag.index.embeddings import open_embedder
from rag.models import resolve_model
from rag.retrieve.rerank import choose_reranker
from rag.settings import Settings

log = logging.getLogger(__name__)

Level = Literal["ok", "warning", "error"]

MIN_FREE_GB = 1.0  # below this under RAG_HOME: error (ingestion and SQLite writes start failing)
LOW_FREE_GB = 5.0  # below this: warning
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, how it went, and (for problems) what to do."""

    check: str
    level: Level
    message: str

    @property
    def ok(self) -> bool:
        return self.level != "error"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def _warn(check: str, message: str) -> Finding:
    return Finding(check, "warning", message)


def _error(check: str, message: str) -> Finding:
    return Finding(check, "error", message)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- data folder ----------------------------------------------------------------------------------
def check_home(settings: Settings, disk_usage: Callable[[Path], Any] = shutil.disk_usage) -> list[Finding]:
    """RAG_HOME exists (or can be created), is writable, and its disk has room."""
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [_error("data folder", f"cannot create {home} ({exc.strerror or exc}); set RAG_HOME to a writable folder")]
    if not os.access(home, os.W_OK | os.X_OK):
        return [_error("data folder", f"{home} is not writable by this user; fix its permissions or set RAG_HOME")]
    free_gb = disk_usage(home).free / 1024**3
    where = f"{free_gb:.1f} GB free under {home}"
    if free_gb < MIN_FREE_GB:
        return [_error("disk space", f"only {where}; free some space or set RAG_HOME to a larger disk")]
    if free_gb < LOW_FREE_GB:
        return [_warn("disk space", f"only {where}; ingestion needs room for indexes and vectors")]
    return [_ok("disk space", where)]


# --- stores ---------------------------------------------------------------------------------------
def _catalog_state(settings: Settings) -> tuple[set[str], dict[str, str], int] | Finding:
    """(ready doc ids, file name per doc id, unfinished count), or an error finding."""
    path = settings.catalog_path
    if not path.exists():
        return set(), {}, 0

    try:
        catalog = Catalog(path)
    except Exception as exc:  # sqlite3.DatabaseError and friends: a damaged or foreign file
        return _error("catalog", f"cannot read {path} ({_one_line(exc)}); restore it from a backup or set RAG_HOME")
    try:
        ready = catalog.documents()
        unfinished = len(catalog.unfinished())
    finally:
        catalog.close()
    return {r.doc_id for r in ready}, {r.doc_id: r.file_name for r in ready}, unfinished


def check_catalog(settings: Settings) -> list[Finding]:
    state = _catalog_state(settings)
    if isinstance(state, Finding):
        return [state]
    ready, _, unfinished = state
    findings = [_ok("catalog", f"{len(ready)} documents ready in {settings.catalog_path}")]
    if not ready and not unfinished:
        findings = [_warn("catalog", "no documents ingested yet; run `rag ingest PATH`")]
    if unfinished:
        findings.append(
            _warn("catalog", f"{unfinished} interrupted ingestion(s) or removal(s); run `rag ingest` again to repair them")
        )
    return findings


def _coverage(check: str, store_ids: set[str], ready: set[str], names: dict[str, str], fix: str) -> list[Finding]:
    """Every ready document must be in the store: a missing one means lost data or a changed setting."""
    missing = sorted(ready - store_ids)
    if not missing:
        return []
    examples = ", ".join(names.get(d, d) for d in missing[:3]) + (", …" if len(missing) > 3 else "")
    return [
        _error(
            check,
            f"{len(missing)} of {len(ready)} ingested documents are missing from it ({examples}); {fix}",
        )
    ]


def _check_store(
    settings: Settings, check: str, open_store: Callable[[], Any], unexpected_hint: str, fix: str
) -> list[Finding]:
    """A store answers (``check()``), and holds every document the catalog lists."""
    store = None
    try:
        store = open_store()
        description = store.check()
        store_ids = store.doc_ids()
    except RagError as exc:
        return [_error(check, str(exc))]
    except Exception as exc:  # an unexpected client error still gets one line, not a traceback
        return [_error(check, f"{_one_line(exc)}; {unexpected_hint}")]
    finally:
        if store is not None:
            store.close()
    state = _catalog_state(settings)
    if isinstance(state, Finding):
        return [_ok(check, description)]
    ready, names, _ = state
    return _coverage(check, store_ids, ready, names, fix) or [_ok(check, description)]


def check_keyword(settings: Settings) -> list[Finding]:
    """The keyword backend answers, and holds every document the catalog lists."""
    elastic = settings.keyword_backend == "elasticsearch"
    setting = "RAG_ELASTICSEARCH_INDEX" if elastic else "RAG_HOME"
    return _check_store(
        settings,
        "elasticsearch" if elastic else "keyword index",
        lambda: open_keyword_index(settings),
        "check RAG_KEYWORD_BACKEND and its settings",
        f"check {setting}, or re-ingest them (`rag docs remove` then `rag ingest`)",
    )


def check_vectors(settings: Settings) -> list[Finding]:
    """The vector store answers (embedded Chroma or a Chroma server) and holds every catalog document."""
    return _check_store(
        settings,
        "chroma server" if settings.chroma_url else "chroma",
        lambda: open_vectors(settings),
        f"check {'RAG_CHROMA_URL' if settings.chroma_url else 'RAG_HOME'}",
        "check RAG_CHROMA_COLLECTION, or re-ingest them (`rag docs remove` then `rag ingest`)",
    )


# --- models ---------------------------------------------------------------------------------------
def check_embedding(settings: Settings, loader: Callable[[Settings], Any] | None = None) -> list[Finding]:
    """The embedding model loads (from a packaged copy, a local folder or the Hugging Face cache)."""
    try:
        embedder = (loader or _load_embedder)(settings)
    except RagError as exc:
        return [_error("embedding model", str(exc))]
    except Exception as exc:
        return [_error("embedding model", f"{_one_line(exc)}; check RAG_EMBEDDING_MODEL")]
    dimension = getattr(embedder, "dimension", "?")
    max_tokens = getattr(embedder, "max_tokens", "?")
    precision = getattr(embedder, "precision", "")
    runs_in = f", runs in {precision}" if precision else ""
    message = f"{settings.embedding_model} loads ({dimension} dimensions, reads {max_tokens} tokens{runs_in})"
    findings = [_ok("embedding model", message)]
    if isinstance(max_tokens, int) and settings.chunk_tokens > max_tokens:
        findings.append(
            _warn(
                "embedding model",
                f"RAG_CHUNK_TOKENS={settings.chunk_tokens} exceeds what the model reads ({max_tokens}); "
                f"the rest of each chunk is invisible to dense search: lower RAG_CHUNK_TOKENS",
            )
        )
    return findings


def _load_embedder(settings: Settings) -> Any:
    return open_embedder(embedder_config(settings))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hf_local(model: str) -> str | None:
    """A local folder for ``model``: a path, a packaged copy, or a snapshot in the Hugging Face cache."""
    resolved = resolve_model(model)
    if Path(resolved).exists():
        return resolved
    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # not an id the hub library accepts
        return None
    return str(Path(cached).parent) if isinstance(cached, str) else None


def check_reranker(settings: Settings, chooser: Callable[..., Any] | None = None) -> list[Finding]:
    """Reranking, resolved exactly as searches resolve it (``rag.retrieve.rerank.choose_reranker``): off on purpose,
    on with a cross-encoder that loads, or off under ``auto`` and why."""
    try:
        choice = (chooser or choose_reranker)(settings.reranker, settings.reranker_model)
    except RagError as exc:  # a cross-encoder the user named explicitly cannot be loaded
        return [_error("reranker", str(exc))]
    if choice.enabled:
        return [_ok("reranker", f"cross-encoder {getattr(choice.reranker, 'name', settings.reranker_model)} loads")]
    if settings.reranker.strip().lower() in ("none", "off", "false", "0", ""):
        return [_ok("reranker", choice.note or "reranking is off (RAG_RERANKER=none)")]
    return [_warn("reranker", choice.note or "reranking is off")]


def check_llm(settings: Settings, http_get: Callable[..., Any] | None = None) -> list[Finding]:
    """The chat engine: a reachable server serving the model, or a model that can be opened here."""
    if settings.llm_backend == "openai":
        return _check_llm_server(settings, http_get or _http_get)
    if settings.llm_backend == "llamacpp":
        return _check_gguf(settings)
    return _check_transformers(settings)


def _http_get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, Any]:
    import httpx

    response = httpx.get(url, headers=headers, timeout=timeout)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def _check_llm_server(settings: Settings, http_get: Callable[..., Any]) -> list[Finding]:
    base = settings.llm_url.rstrip("/")
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    try:
        status, body = http_get(f"{base}/models", headers, HTTP_TIMEOUT_S)
    except Exception as exc:
        return [
            _error(
                "llm server",
                f"no OpenAI-compatible server answers at {base} ({_one_line(exc, 120)}); "
                "start it (docker compose up llm, or rag serve-llm) or check RAG_LLM_URL",
            )
        ]
    if status in (401, 403):
        return [_error("llm server", f"{base} refused the request (HTTP {status}); check RAG_LLM_API_KEY")]
    if status != 200 or not isinstance(body, dict):
        return [_error("llm server", f"{base}/models answered HTTP {status}, not an OpenAI model list; check RAG_LLM_URL")]
    served = [str(m.get("id")) for m in body.get("data") or [] if isinstance(m, dict)]
    if not served:
        return [_error("llm server", f"{base} serves no model; check the server's --model and RAG_LLM_URL")]
    wanted = settings.llm_model
    if wanted not in ("", "auto") and wanted not in served:
        return [
            _error(
                "llm server",
                f"{base} does not serve model {wanted!r} (it serves {', '.join(served[:5])}); set RAG_LLM_MODEL to one of them",
            )
        ]
    model = served[0] if wanted in ("", "auto") else wanted
    return [_ok("llm server", f"{base} serves {model!r}")]


def _check_gguf(settings: Settings) -> list[Finding]:
    try:
        path = resolve_model_path(settings.llm_model)
    except ModelNotFound as exc:
        return [_error("llm model", f"{exc} (RAG_LLM_MODEL)")]
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        return [_error("llm model", f"cannot read {path} ({exc.strerror or exc}); check RAG_LLM_MODEL")]
    if magic != b"GGUF":
        return [_error("llm model", f"{path} is not a GGUF file; set RAG_LLM_MODEL to a .gguf model")]
    if importlib.util.find_spec("llama_cpp") is None:
        return [_error("llm model", "llama-cpp-python is not installed; reinstall the project or set RAG_LLM_BACKEND")]
    try:
        chat_format = gguf_chat_format(path, settings.llm_chat_format)  # opens the vocabulary, not the weights
    except ValueError as exc:  # an unknown chat format name
        return [_error("llm model", f"{_one_line(exc, 200)}; check RAG_LLM_CHAT_FORMAT")]
    except Exception as exc:
        return [_error("llm model", f"llama.cpp cannot open {path.name} ({_one_line(exc, 160)}); check RAG_LLM_MODEL")]
    size_gb = path.stat().st_size / 1024**3
    findings = [_ok("llm model", f"{path.name} ({size_gb:.1f} GB) opens with llama.cpp, chat format {chat_format}")]
    available = _available_memory_gb()
    if available is not None and size_gb > available:
        findings.append(
            _warn("llm model", f"{path.name} needs about {size_gb:.1f} GB but {available:.1f} GB of memory is free; "
                  "use a smaller quantisation or an LLM server (RAG_LLM_BACKEND=openai)")
        )
    return findings


def _available_memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_transformers(settings: Settings) -> list[Finding]:
    for module in ("transformers", "torch"):
        if importlib.util.find_spec(module) is None:
            return [_error("llm model", f"{module} is not installed; reinstall the project or set RAG_LLM_BACKEND")]
    if settings.llm_model in ("", "auto"):
        return [_error("llm model", "RAG_LLM_BACKEND=transformers needs RAG_LLM_MODEL (an HF id or a model folder)")]
    local = _hf_local(settings.llm_model)
    if local is None:
        if _offline():
            return [_error("llm model", f"{settings.llm_model} is not on this machine and HF_HUB_OFFLINE is set; set RAG_LLM_MODEL to a model folder")]
        return [_warn("llm model", f"{settings.llm_model} is not on this machine; it will be downloaded on first use")]
    return [_ok("llm model", f"{settings.llm_model} found at {local}")]


def check_ocr(settings: Settings) -> list[Finding]:
    """The OCR engine's package and models are installed (nothing is loaded): scanned pages need them."""
    if settings.ocr == "off":
        return [_ok("ocr", "OCR is off (RAG_OCR=off): scanned pages are not read")]
    try:
        description = RapidOcrEngine(ocr_config(settings)).check()
    except RagError as exc:
        return [_error("ocr", str(exc))]
    return [_ok("ocr", f"{description} (RAG_OCR={settings.ocr})")]


MAX_DOCUMENT_LINES = 5  # documents named one per line; the rest are counted


def check_text_quality(settings: Settings) -> list[Finding]:
    """Documents whose text is poor: pages with no text even after OCR, a garbled text layer left unread,
    OCR failures (from each document's reading report)."""
    path = settings.catalog_path
    if not path.exists():
        return []
    try:
        catalog = Catalog(path)
    except Exception:  # check_catalog reports an unreadable catalog
        return []
    try:
        documents = catalog.documents()
    finally:
        catalog.close()
    poor = [(d, d.reading.problems) for d in documents if d.reading is not None and d.reading.problems]
    findings = []
    for record, problems in poor[:MAX_DOCUMENT_LINES]:
        fix = "set RAG_OCR=auto and ingest it again" if record.reading and record.reading.ocr == "off" else \
            "check the file (a better scan or the original PDF reads better)"
        findings.append(_warn("text quality", f"{record.file_name}: {'; '.join(problems)}; {fix}"))
    if len(poor) > MAX_DOCUMENT_LINES:
        findings.append(_warn("text quality", f"and {len(poor) - MAX_DOCUMENT_LINES} more documents with poor text "
                              "(`rag docs list --json` shows each one's reading report)"))
    ocr_read = sum(1 for d in documents if d.reading is not None and d.reading.ocr_pages)
    unknown = sum(1 for d in documents if d.reading is None)
    if not findings and len(documents) > unknown:
        note = f" ({ocr_read} read partly or wholly by OCR)" if ocr_read else ""
        findings.append(_ok("text quality", f"every document has readable text{note}"))
    if unknown:
        findings.append(_ok("text quality", f"{unknown} documents were ingested before reading reports existed; "
                            "ingest them again to have their text checked"))
    return findings


def check_gate(settings: Settings) -> list[Finding]:
    """An explicitly configured gate calibration file must exist."""
    if settings.gate_calibration is not None and not Path(settings.gate_calibration).is_file():
        return [_error("relevance gate", f"{settings.gate_calibration} does not exist; fix RAG_GATE_CALIBRATION or unset it")]
    return []


# --- all of them ----------------------------------------------------------------------------------
CHECKS: tuple[Callable[[Settings], list[Finding]], ...] = (
    check_home,
    check_catalog,
    check_keyword,
    check_vectors,
    check_embedding,
    check_reranker,
    check_llm,
    check_gate,
    check_ocr,
    check_text_quality,
)


def run_checks(settings: Settings, checks: Sequence[Callable[[Settings], list[Finding]]] = CHECKS) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check(settings))
        except Exception as exc:  # a bug in one check must not hide the others
            log.exception("doctor check %s crashed", check.__name__)
            findings.append(_error(check.__name__.removeprefix("check_"), f"the check itself failed: {_one_line(exc)}"))
    return findings


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if any(f.level == "error" for f in findings) else 0


MARKS = {"ok": "✓", "warning": "!", "error": "✗"}


def format_line(finding: Finding) -> str:
    return f"{MARKS[finding.level]} {finding.check}: {finding.message}"
