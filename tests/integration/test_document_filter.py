"""Asking about chosen documents: every store filters inside its search (so a filtered search still returns up
to its limit from those documents), on every backend; the workspace, the gate, the JSON contract and the CLI
follow the filter."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app import cli
from rag.errors import UnknownDocument
from rag.index.keyword.elastic import ElasticsearchIndex
from rag.index.keyword.fts5 import Fts5Index
from rag.index.vectors import ChromaStore
from rag.types import Chunk, chunk_id_for
from tests.fixtures.pdfs import make_pdf


def chunks_of(doc: str, texts: list[str]) -> list[Chunk]:
    return [Chunk(chunk_id_for(doc, i), doc, i, text, 1, 1, 0, len(text)) for i, text in enumerate(texts)]


# "attention" fills every chunk of the big document and one chunk in ten of the small one: the small one's
# chunks rank far below the big one's, so a post-filter of the top 5 would return none of them.
BIG = chunks_of("big", [f"Attention heads attention layers attention number {i}." for i in range(30)])
SMALL = chunks_of("small", [f"Tidal energy report {i}." if i % 10 else f"One attention remark {i}." for i in range(30)])
OTHER = chunks_of("other", [f"Zero trust architecture note {i}." for i in range(10)])


@pytest.fixture(params=["sqlite", "elasticsearch"])
def keyword(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        index = Fts5Index(tmp_path / "keyword.sqlite3")
        yield index
        index.close()
        return
    es_url = request.getfixturevalue("es_url")
    index = ElasticsearchIndex(es_url, f"rag-test-{uuid.uuid4().hex[:12]}")
    try:
        yield index
    finally:
        index.drop()
        index.close()


@pytest.fixture(params=["embedded", "server"])
def vectors(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "embedded":
        yield ChromaStore.embedded(tmp_path / "chroma", "filter-test")
        return
    store = ChromaStore.server(request.getfixturevalue("chroma_server_url"), f"filter-{uuid.uuid4().hex[:8]}")
    yield store
    store.close()


def test_a_keyword_search_in_one_document_returns_its_best_chunks_up_to_the_limit(keyword):
    keyword.add(BIG + SMALL + OTHER)
    everywhere = keyword.search("attention", 5)
    assert {chunk_id.split("-")[0] for chunk_id, _ in everywhere} == {BIG[0].doc_id}
    found = keyword.search("attention", 5, docs={"small"})
    assert sorted(chunk_id for chunk_id, _ in found) == sorted(c.chunk_id for c in SMALL if "attention" in c.text)
    assert len(found) == 3  # all of them: the filter ran before the cut, not after


def test_a_keyword_filter_leaves_the_scores_as_they_are(keyword):
    keyword.add(BIG + SMALL + OTHER)
    unfiltered = dict(keyword.search("attention remark", 100))
    for chunk_id, score in keyword.search("attention remark", 100, docs={"small", "other"}):
        assert score == pytest.approx(unfiltered[chunk_id], rel=1e-5)


def test_a_keyword_search_in_several_documents_or_none(keyword):
    keyword.add(BIG + SMALL + OTHER)
    found = keyword.search("attention zero trust", 100, docs={"small", "other"})
    assert {chunk_id.split("-")[0] for chunk_id, _ in found} == {"small", "other"}
    assert keyword.search("attention", 5, docs=set()) == []
    assert keyword.search("attention", 5, docs={"not-a-document"}) == []


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_a_dense_search_in_one_document_returns_its_nearest_chunks_up_to_the_limit(vectors):
    near = np.stack([unit(1, 0.01 * i, 0) for i in range(len(BIG))])  # all close to the query
    far = np.stack([unit(0.1, 1, 0.01 * i) for i in range(len(SMALL))])
    vectors.add(BIG, near)
    vectors.add(SMALL, far)
    assert {c.split("-")[0] for c, _ in vectors.search(unit(1, 0, 0), 5)} == {BIG[0].doc_id}
    found = vectors.search(unit(1, 0, 0), 5, docs={"small"})
    assert [c for c, _ in found] == [c.chunk_id for c in SMALL[:5]]
    assert vectors.search(unit(1, 0, 0), 5, docs=set()) == []


# ------------------------------------------------------------------------------------------ the workspace
PAPERS = {
    "llama.pdf": ("LLaMA", "LLaMA-65B is competitive with the best models. The 65B model was trained on 1.4T tokens."),
    "llama2.pdf": ("Llama 2", "Llama 2 comes in 7B, 13B and 70B sizes. The 65B model of the first LLaMA was larger than most."),
    "qlora.pdf": ("QLoRA", "QLoRA finetunes a 65B model on a single 48GB GPU. The 65B model keeps 16-bit quality."),
}


@pytest.fixture
def papers(tmp_path: Path) -> Path:
    folder = tmp_path / "papers"
    folder.mkdir()
    for name, (title, text) in PAPERS.items():
        make_pdf(folder / name, [text], title=title)
    return folder


@pytest.fixture(params=["embedded", "servers"])
def library(request: pytest.FixtureRequest, make_workspace, papers: Path):
    """A workspace with the three papers, on the embedded stores or on Elasticsearch and a Chroma server."""
    if request.param == "embedded":
        workspace = make_workspace()
    else:
        workspace = make_workspace(
            keyword_backend="elasticsearch", elasticsearch_url=request.getfixturevalue("es_url"),
            elasticsearch_index=f"rag-test-{uuid.uuid4().hex[:12]}",
            chroma_url=request.getfixturevalue("chroma_server_url"), chroma_collection=f"f-{uuid.uuid4().hex[:8]}",
        )
    report = workspace.ingest(sorted(papers.glob("*.pdf")))
    assert report.ok, report.results
    yield workspace
    if request.param == "servers":
        workspace.keyword.drop()


def test_a_question_about_one_paper_reads_only_that_paper(library):
    qlora = library.select_documents(["qlora.pdf"])
    result = library.search("What about the 65B model?", docs=qlora)
    assert result.hits and {hit.file for hit in result.ranked} == {"qlora.pdf"}
    assert result.as_dict()["docs"] == [{"doc": qlora[0].doc_id, "file": "qlora.pdf"}]
    assert library.search("What about the 65B model?").as_dict()["docs"] is None


def test_the_gate_reads_only_the_chosen_documents(library):
    about_gpus = "Which GPU finetunes a 65B model?"
    llama2 = library.select_documents(["llama2.pdf"])
    assert library.search(about_gpus).answerable is True  # QLoRA says so
    result = library.search(about_gpus, docs=llama2)
    assert {hit.file for hit in result.ranked} == {"llama2.pdf"}
    assert result.evidence_score < library.search(about_gpus).evidence_score


def test_documents_are_named_by_id_prefix_file_name_or_glob(library):
    every = {d.file_name: d for d in library.documents()}
    assert library.select_documents([every["qlora.pdf"].doc_id[:6]]) == [every["qlora.pdf"]]
    assert library.select_documents(["LLAMA.PDF"]) == [every["llama.pdf"]]
    assert [d.file_name for d in library.select_documents(["llama*.pdf"])] == ["llama.pdf", "llama2.pdf"]
    assert library.select_documents([]) is None


def test_an_unknown_document_names_the_closest_ones(library):
    with pytest.raises(UnknownDocument, match=r"no document matches 'qlor\.pdf' \(did you mean qlora\.pdf\?\)"):
        library.select_documents(["qlor.pdf"])


# ------------------------------------------------------------------------------------------ the CLI
@pytest.fixture
def run(rag_home: Path, embedder, monkeypatch: pytest.MonkeyPatch):
    from app.workspace import Workspace

    monkeypatch.setenv("RAG_HOME", str(rag_home))
    monkeypatch.setattr(cli, "_workspace", lambda: Workspace(cli._settings(), embedder=embedder))
    return lambda *args: CliRunner().invoke(cli.app, list(args), catch_exceptions=False)


def test_rag_search_doc_searches_those_documents_and_echoes_them(run, papers: Path):
    assert run("ingest", str(papers)).exit_code == 0
    result = run("search", "65B model", "--doc", "qlora.pdf", "--doc", "llama2*", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["file"] for d in data["docs"]] == ["llama2.pdf", "qlora.pdf"]
    assert {r["file"] for r in data["results"]} == {"llama2.pdf", "qlora.pdf"}


def test_rag_search_with_an_unknown_document_fails_with_the_close_matches(run, papers: Path):
    assert run("ingest", str(papers)).exit_code == 0
    result = run("search", "65B model", "--doc", "llama3.pdf")
    assert result.exit_code == 2
    assert "no document matches 'llama3.pdf'" in result.output and "llama.pdf" in result.output
