"""Ingestion over the real embedded stores: SQLite catalog, SQLite FTS5, embedded Chroma, MiniLM."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.pdfs import make_corrupt_pdf, make_pdf

ALPHA = [
    "The zephyr turbine produces 42 kilowatts at a wind speed of twelve metres per second.",
    "Maintenance of the zephyr turbine happens every six months, when the blades are inspected.",
]
BETA = [
    "Quantum annealing finds low-energy states of Ising models by slowly reducing a transverse field.",
    "The annealing schedule lasted 20 microseconds in every experiment reported here.",
]


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_pdf(folder / "alpha.pdf", [ALPHA], title="Zephyr Turbine Manual")
    make_pdf(folder / "beta.pdf", [BETA], title="Quantum Annealing Notes")
    return folder


def _store_doc_ids(workspace) -> tuple[set[str], set[str], set[str]]:
    return workspace.catalog.ready_doc_ids(), workspace.keyword.doc_ids(), workspace.vectors.doc_ids()


def test_ingested_documents_are_found_by_keyword_and_by_meaning(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    workspace = make_workspace()
    report = workspace.ingest(sorted(folder.glob("*.pdf")))
    assert [r.status for r in report.results] == ["added", "added"]
    keyword = workspace.search("zephyr kilowatts", mode="keyword")
    dense = workspace.search("how often are the wind generator blades checked", mode="dense")
    assert keyword.hits[0].file == "alpha.pdf"
    assert dense.hits[0].file == "alpha.pdf"
    assert keyword.hits[0].title == "Zephyr Turbine Manual"
    assert keyword.hits[0].chunk.pages == [1]


def test_every_store_holds_the_same_documents(make_workspace, tmp_path: Path) -> None:
    workspace = make_workspace()
    workspace.ingest(sorted(_corpus(tmp_path / "pdfs").glob("*.pdf")))
    catalog, keyword, vectors = _store_doc_ids(workspace)
    assert len(catalog) == 2
    assert catalog == keyword == vectors
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()


def test_reingesting_unchanged_files_is_a_no_op(make_workspace, tmp_path: Path) -> None:
    files = sorted(_corpus(tmp_path / "pdfs").glob("*.pdf"))
    workspace = make_workspace()
    workspace.ingest(files)
    before = {c.chunk_id for d in workspace.documents() for c in workspace.catalog.chunks_of(d.doc_id)}
    report = workspace.ingest(files)
    after = {c.chunk_id for d in workspace.documents() for c in workspace.catalog.chunks_of(d.doc_id)}
    assert [r.status for r in report.results] == ["unchanged", "unchanged"]
    assert before == after
    assert workspace.vectors.count() == len(after)


def test_a_changed_file_replaces_exactly_its_old_chunks_everywhere(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    workspace = make_workspace()
    workspace.ingest(sorted(folder.glob("*.pdf")))
    old_id = next(d.doc_id for d in workspace.documents() if d.file_name == "alpha.pdf")
    make_pdf(folder / "alpha.pdf", ["The heliostat field tracks the sun with two-axis mirrors."], title="Heliostats")
    report = workspace.ingest([folder / "alpha.pdf"])
    assert report.results[0].status == "replaced"
    catalog, keyword, vectors = _store_doc_ids(workspace)
    assert old_id not in catalog | keyword | vectors
    assert catalog == keyword == vectors and len(catalog) == 2
    assert all(hit.file != "alpha.pdf" for hit in workspace.search("zephyr turbine", mode="keyword").hits)
    assert workspace.search("heliostat mirrors", mode="keyword").hits[0].file == "alpha.pdf"
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()


def test_a_broken_new_version_keeps_the_old_version(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    workspace = make_workspace()
    workspace.ingest(sorted(folder.glob("*.pdf")))
    make_corrupt_pdf(folder / "alpha.pdf")
    report = workspace.ingest([folder / "alpha.pdf"])
    assert report.results[0].status == "failed"
    assert workspace.search("zephyr turbine", mode="keyword").hits[0].file == "alpha.pdf"


def test_a_broken_file_does_not_stop_the_batch(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    make_corrupt_pdf(folder / "0-broken.pdf")
    workspace = make_workspace()
    report = workspace.ingest(sorted(folder.glob("*.pdf")))
    statuses = {Path(r.path).name: r.status for r in report.results}
    assert statuses == {"0-broken.pdf": "failed", "alpha.pdf": "added", "beta.pdf": "added"}
    assert not report.ok
    assert report.failed[0].reason


def test_the_same_content_under_a_second_name_is_reported_as_a_duplicate(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    shutil.copy(folder / "alpha.pdf", folder / "alpha-copy.pdf")
    workspace = make_workspace()
    report = workspace.ingest([folder / "alpha.pdf", folder / "alpha-copy.pdf"])
    assert [r.status for r in report.results] == ["added", "duplicate"]
    assert "alpha.pdf" in report.results[1].reason
    assert len(workspace.documents()) == 1


def test_a_moved_file_keeps_its_chunks_under_the_new_path(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    workspace = make_workspace()
    workspace.ingest([folder / "alpha.pdf"])
    moved = folder / "renamed.pdf"
    (folder / "alpha.pdf").rename(moved)
    report = workspace.ingest([moved])
    assert report.results[0].status == "moved"
    assert workspace.search("zephyr", mode="keyword").hits[0].file == "renamed.pdf"


def test_a_question_naming_the_company_and_year_finds_that_filing_among_look_alikes(make_workspace, tmp_path: Path) -> None:
    # filings of different years and companies with the same statement page: only the file name says whose and
    # which year it is
    folder = tmp_path / "pdfs"
    folder.mkdir()
    page = ["Consolidated statements of operations.", "Net sales 4,120 3,980 3,650. Operating income 610 580 540."]
    for copy, name in enumerate(("ACME_2018_10K", "ACME_2019_10K", "ACME_2020_10K", "ZENITH_2019_10K")):
        make_pdf(folder / f"{name}.pdf", [page + ["Printed copy" + "." * (copy + 1)]])  # another file each
    workspace = make_workspace()
    workspace.ingest(sorted(folder.glob("*.pdf")))
    assert workspace.search("What were ACME's net sales in FY2019?", mode="hybrid").hits[0].file == "ACME_2019_10K.pdf"
    assert workspace.search("Zenith's net sales", mode="dense").hits[0].file == "ZENITH_2019_10K.pdf"  # embedded too


def test_a_renamed_file_is_found_by_its_new_name_not_its_old_one(make_workspace, tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "pdfs")
    workspace = make_workspace()
    workspace.ingest([folder / "alpha.pdf"])
    (folder / "alpha.pdf").rename(folder / "windpark-2019.pdf")
    workspace.ingest([folder / "windpark-2019.pdf"])
    assert workspace.search("windpark", mode="keyword").hits[0].file == "windpark-2019.pdf"
    assert workspace.search("alpha", mode="keyword").hits == []


def test_changing_the_chunk_size_reingests_the_documents(make_workspace, tmp_path: Path) -> None:
    files = sorted(_corpus(tmp_path / "pdfs").glob("*.pdf"))
    make_workspace().ingest(files)
    workspace = make_workspace(chunk_tokens=64)
    report = workspace.ingest(files)
    assert [r.status for r in report.results] == ["replaced", "replaced"]
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()


def test_keeping_tables_whole_reingests_the_documents(make_workspace, tmp_path: Path) -> None:
    files = sorted(_corpus(tmp_path / "pdfs").glob("*.pdf"))
    make_workspace().ingest(files)
    report = make_workspace(chunk_keep_tables=True).ingest(files)
    assert [r.status for r in report.results] == ["replaced", "replaced"]


def test_the_parse_workers_setting_picks_where_pdfs_are_read_and_the_flag_overrides_it() -> None:
    from app.workspace import ingest_options
    from rag.settings import load_settings

    assert ingest_options(load_settings(parse_workers=0)).parse_workers == 0
    assert ingest_options(load_settings(parse_workers=0), parse_workers=1).parse_workers == 1
    assert ingest_options(load_settings()).parse_workers == 1


def test_a_new_keyword_analyzer_rebuilds_the_keyword_index_without_reembedding(
    make_workspace, tmp_path: Path, monkeypatch, embedder
) -> None:
    import ingest.pipeline
    import rag.index.keyword.fts5
    from rag.index.labels import chunk_terms

    files = sorted(_corpus(tmp_path / "pdfs").glob("*.pdf"))
    make_workspace().ingest(files)
    monkeypatch.setattr(ingest.pipeline, "ANALYZER_VERSION", ingest.pipeline.ANALYZER_VERSION + 1)
    monkeypatch.setattr(rag.index.keyword.fts5, "chunk_terms", lambda text, label=(): [*chunk_terms(text, label), "newtoken"])
    monkeypatch.setattr(embedder, "embed_passages", lambda texts: pytest.fail("re-embedded"))
    workspace = make_workspace()
    report = workspace.ingest(files)
    assert [r.status for r in report.results] == ["reindexed", "reindexed"]
    assert len(workspace.search("newtoken", mode="keyword").hits) == workspace.catalog.count_chunks()
    assert workspace.keyword.count() == workspace.vectors.count() == workspace.catalog.count_chunks()
    assert [r.status for r in workspace.ingest(files).results] == ["unchanged", "unchanged"]


def test_a_new_embedding_model_is_not_a_keyword_only_change() -> None:
    from ingest.pipeline import keyword_only_change

    old = "v1;chunk=256;overlap=0.15;embed=minilm;analyzer=2"
    assert keyword_only_change(old, "v1;chunk=256;overlap=0.15;embed=minilm;analyzer=3")
    assert not keyword_only_change(old, "v1;chunk=256;overlap=0.15;embed=e5;analyzer=3")
    assert not keyword_only_change(old, "v1;chunk=256;overlap=0.15;embed=minilm;analyzer=3;tables=kept")
    assert not keyword_only_change(old, old)


def test_a_removed_document_is_gone_from_every_store(make_workspace, tmp_path: Path) -> None:
    workspace = make_workspace()
    workspace.ingest(sorted(_corpus(tmp_path / "pdfs").glob("*.pdf")))
    record = workspace.find_document("alpha.pdf")
    workspace.remove(record.doc_id)
    catalog, keyword, vectors = _store_doc_ids(workspace)
    assert record.doc_id not in catalog | keyword | vectors
    assert all(hit.file != "alpha.pdf" for hit in workspace.search("zephyr turbine").hits)


def test_a_document_is_invisible_until_every_store_has_it(make_workspace, tmp_path: Path, embedder) -> None:
    from ingest.chunking import chunk_document
    from ingest.pdf_reader import read_pdf

    workspace = make_workspace()
    document = read_pdf(make_pdf(tmp_path / "alpha.pdf", [ALPHA]))
    chunks = chunk_document(document, embedder.count_tokens)
    workspace.catalog.add_pending(document.doc_id, str(document.path), document.sha256, "t", 1, chunks, "fp")
    workspace.keyword.add(chunks)  # written to the keyword index, not yet to the vectors
    assert workspace.search("zephyr turbine", mode="keyword").hits == []


def test_an_unreadable_path_is_reported_not_raised(make_workspace, tmp_path: Path) -> None:
    report = make_workspace().ingest([tmp_path / "missing.pdf"])
    assert report.results[0].status == "failed"
    assert "not found" in report.results[0].reason


@pytest.mark.parametrize("chunk_tokens", [48, 256])
def test_chunks_stay_within_the_embedding_models_budget(make_workspace, tmp_path: Path, embedder, chunk_tokens: int) -> None:
    long_text = " ".join(ALPHA * 30)
    workspace = make_workspace(chunk_tokens=chunk_tokens)
    workspace.ingest([make_pdf(tmp_path / "long.pdf", [long_text[:2500], long_text[:2500]])])
    counts = embedder.count_tokens([c.text for c in workspace.catalog.chunks_of(workspace.documents()[0].doc_id)])
    assert max(counts) <= chunk_tokens


def test_switching_to_a_model_with_another_vector_size_names_the_setting(make_workspace, tmp_path: Path) -> None:
    import numpy as np

    from rag.errors import ConfigError

    workspace = make_workspace()
    workspace.ingest([_corpus(tmp_path / "pdfs") / "alpha.pdf"])
    with pytest.raises(ConfigError, match="RAG_CHROMA_COLLECTION"):
        workspace.vectors.search(np.ones(17, dtype=np.float32), 3)
