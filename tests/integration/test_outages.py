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
from tests.fixtures.outages import NAME, QUESTION, SETTING, Restartable

pytestmark = [pytest.mark.server, pytest.mark.slow]


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


def _rag(args: list[str], env: dict[str, str], rag_home: Path, cwd: Path) -> subprocess.CompletedProcess:
    """The `rag` command in a fresh process, with only ``env``'s RAG_* settings and RAG_HOME=rag_home."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    clean.update(env, PYTHONPATH=str(Path(__file__).resolve().parents[2]), HF_HUB_OFFLINE="1", RAG_HOME=str(rag_home))
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args],
                          capture_output=True, text=True, env=clean, cwd=cwd, timeout=300)


def _the_one_error_line(result: subprocess.CompletedProcess) -> str:
    """The message of the single `error:` line on stderr (there must be one, and no traceback)."""
    assert result.stderr.count("error:") == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return " ".join(result.stderr.split("error:", 1)[1].split())  # rich wraps long lines at 80 columns


def test_rag_search_prints_one_line_naming_the_stopped_backend(make_workspace, chroma, pdfs, rag_home, tmp_path):
    workspace = make_workspace(chroma_url=chroma.url)
    workspace.ingest(pdfs[:1])
    workspace.close()
    chroma.stop()

    result = _rag(["search", "zephyr turbine"], {"RAG_CHROMA_URL": chroma.url, "RAG_RERANKER": "none"}, rag_home, tmp_path)
    assert result.returncode != 0
    message = _the_one_error_line(result)
    assert "Chroma" in message and "RAG_CHROMA_URL" in message


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
    workspace = make_workspace(llm_backend="openai", llm_url=f"{llm_server.url}/v1", gate=False, reranker="none",
                               max_new_tokens=8, llm_context=1024)
    workspace.ingest(pdfs[:1])
    assert workspace.ask_once(QUESTION).model_called

    llm_server.stop()
    with pytest.raises(BackendUnavailable) as caught:
        workspace.ask_once(QUESTION)
    assert "RAG_LLM_URL" in str(caught.value)
    assert "\n" not in str(caught.value)


# --- the same three outages, as a user meets them: `rag ask` and the web chat ----------------------
WEB = Path(__file__).resolve().parents[2] / "app" / "web" / "page.py"


def test_rag_ask_exits_with_one_line_naming_the_stopped_backend_and_its_setting(outage, rag_home, tmp_path):
    backend, server, env = outage
    server.stop()
    result = _rag(["ask", "--no-stream", QUESTION], env, rag_home, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    message = _the_one_error_line(result)
    assert NAME[backend] in message and SETTING[backend] in message, message

    server.start()
    again = _rag(["ask", "--no-stream", QUESTION], env, rag_home, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "error:" not in again.stderr


def test_the_web_chat_shows_one_line_naming_the_stopped_backend_and_recovers(outage, rag_home, monkeypatch):
    from streamlit.testing.v1 import AppTest

    backend, server, env = outage
    monkeypatch.setenv("RAG_HOME", str(rag_home))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(WEB), default_timeout=300)
    at.run()
    assert not at.exception, at.exception

    server.stop()
    at.chat_input[0].set_value(QUESTION)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.chat_message[-1].error]
    assert len(errors) == 1, errors
    line = errors[0].replace("\\", "")  # the page escapes markdown punctuation
    assert "\n" not in line and NAME[backend] in line and SETTING[backend].replace("_", "") in line.replace("_", ""), line

    server.start()
    at.chat_input[0].set_value(QUESTION)
    at.run()
    assert not at.exception, at.exception
    assert not at.chat_message[-1].error, [e.value for e in at.chat_message[-1].error]
    assert at.chat_message[-1].markdown, "no answer once the backend was back"
