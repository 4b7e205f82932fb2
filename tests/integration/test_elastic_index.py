"""The Elasticsearch keyword index, against a real Elasticsearch API (``es_url``: noida-db, or the cluster
in ``RAG_TEST_ES_URL``)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.errors import BackendUnavailable
from app.workspace import open_keyword_index
from rag.index.keyword.base import KeywordIndex
from rag.index.keyword.elastic import ElasticsearchIndex
from rag.index.labels import LABEL_WEIGHT, DocumentLabel
from rag.settings import Settings
from rag.types import Chunk, chunk_id_for
from tests.servers import free_port

server = pytest.mark.server


def chunk(doc_id: str, index: int, text: str, pages: tuple[int, int] = (1, 1)) -> Chunk:
    return Chunk(chunk_id_for(doc_id, index), doc_id, index, text, pages[0], pages[1], 0, len(text))


def ids(results: list[tuple[str, float]]) -> list[str]:
    return [chunk_id for chunk_id, _ in results]


CORPUS = [
    chunk("doca", 0, "The Transformer relies entirely on attention to draw global dependencies."),
    chunk("doca", 1, "We trained the base models for 100,000 steps and reached 41.8 BLEU.", (7, 8)),
    chunk("docb", 0, "Zero trust architecture assumes no implicit trust granted to assets."),
    chunk("docb", 1, "Runs of the benchmark were repeated; each run used 8 GPUs for 41 hours."),
    chunk("docc", 0, "模型的参数量是七十亿，训练数据来自公开语料。"),
]
LABELS = {"doca": DocumentLabel("vaswani2017.pdf", "Attention Is All You Need"), "docb": DocumentLabel("sp800-207.pdf")}


@server
def test_implements_the_keyword_index_protocol(es_index: ElasticsearchIndex):
    assert isinstance(es_index, KeywordIndex)
    assert es_index.name == "elasticsearch"


@server
def test_added_chunks_are_found_by_a_stemmed_query(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert ids(es_index.search("running", 5)) == [chunk_id_for("docb", 1)]


@server
def test_results_are_chunk_ids_with_positive_scores_best_first(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    results = es_index.search("trust attention", 5)
    assert {chunk_id_for("doca", 0), chunk_id_for("docb", 0)} == set(ids(results))
    scores = [score for _, score in results]
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)


@server
def test_every_chunk_of_a_document_is_found_by_its_file_name(es_index: ElasticsearchIndex):
    es_index.add(CORPUS, LABELS)
    assert set(ids(es_index.search("vaswani2017", 5))) == {chunk_id_for("doca", 0), chunk_id_for("doca", 1)}
    assert set(ids(es_index.search("SP800-207", 5))) == {chunk_id_for("docb", 0), chunk_id_for("docb", 1)}


@server
def test_a_chunk_with_more_occurrences_of_the_term_ranks_first(es_index: ElasticsearchIndex):
    es_index.add([chunk("d", 0, "lora adapters on frozen weights"), chunk("d", 1, "lora lora adapters frozen weights")])
    assert ids(es_index.search("lora", 5)) == [chunk_id_for("d", 1), chunk_id_for("d", 0)]


@server
def test_limit_caps_the_number_of_results(es_index: ElasticsearchIndex):
    es_index.add([chunk("d", i, f"shared word number {i}") for i in range(10)])
    assert len(es_index.search("shared", 3)) == 3


@server
@pytest.mark.parametrize("query", ["", "the of and", "?!"])
def test_a_query_without_tokens_returns_nothing(es_index: ElasticsearchIndex, query: str):
    es_index.add(CORPUS)
    assert es_index.search(query, 5) == []


@server
def test_a_word_in_no_chunk_returns_nothing(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert es_index.search("kubernetes", 5) == []


@server
def test_an_index_that_was_never_written_is_empty(es_index: ElasticsearchIndex):
    assert es_index.search("attention", 5) == []
    assert es_index.count() == 0
    assert es_index.doc_ids() == set()
    es_index.delete_document("doca")  # no error either


@server
def test_a_decimal_number_is_one_token(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert ids(es_index.search("41.8", 5)) == [chunk_id_for("doca", 1)]


@server
def test_a_chinese_word_finds_the_chunk_with_a_longer_phrase(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert ids(es_index.search("参数", 5)) == [chunk_id_for("docc", 0)]


@server
def test_a_repeated_query_word_counts_once(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert es_index.search("attention attention attention", 5) == es_index.search("attention", 5)


@server
def test_delete_document_removes_only_its_chunks_at_once(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    es_index.delete_document("doca")
    assert es_index.search("attention", 5) == []
    assert ids(es_index.search("trust", 5)) == [chunk_id_for("docb", 0)]
    assert es_index.count() == 3


@server
def test_deleting_an_unknown_document_is_not_an_error(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    es_index.delete_document("nosuchdoc")
    assert es_index.count() == len(CORPUS)


@server
def test_re_adding_the_same_chunks_changes_nothing_visible(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    before = ids(es_index.search("trust attention run", 10))
    es_index.add(CORPUS)
    assert es_index.count() == len(CORPUS)
    assert ids(es_index.search("trust attention run", 10)) == before


@server
def test_re_adding_a_chunk_id_replaces_its_text(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    es_index.add([chunk("doca", 0, "Convolutional networks for images")])
    assert es_index.search("attention", 5) == []
    assert ids(es_index.search("convolutional", 5)) == [chunk_id_for("doca", 0)]
    assert es_index.count() == len(CORPUS)


@server
def test_doc_ids_lists_the_documents_that_have_chunks(es_index: ElasticsearchIndex):
    es_index.add(CORPUS)
    assert es_index.doc_ids() == {"doca", "docb", "docc"}
    es_index.delete_document("docb")
    assert es_index.doc_ids() == {"doca", "docc"}


@server
def test_the_index_is_visible_to_a_new_client(es_index: ElasticsearchIndex, es_url: str):
    es_index.add(CORPUS)
    with ElasticsearchIndex(es_url, es_index.index) as other:
        assert ids(other.search("41.8", 5)) == [chunk_id_for("doca", 1)]
        assert other.count() == len(CORPUS)


@server
def test_stored_fields_keep_text_pages_and_title(es_index: ElasticsearchIndex):
    es_index.add(CORPUS, LABELS)
    source = es_index._client.get(index=es_index.index, id=chunk_id_for("doca", 1))["_source"]
    assert source["text"] == CORPUS[1].text
    assert (source["page_start"], source["page_end"]) == (7, 8)
    assert source["title"] == "Attention Is All You Need"
    assert source["doc_id"] == "doca" and source["chunk_id"] == chunk_id_for("doca", 1)
    label = ["vaswani2017", "2017", "attent", "need"]  # the label's terms follow the text's, LABEL_WEIGHT times
    assert source["keywords"].split() == ["train", "base", "model", "100000", "step", "reach", "41.8", "bleu",
                                          *label * LABEL_WEIGHT]


@server
def test_the_index_is_created_with_explicit_bm25_and_a_whitespace_keywords_field(es_url: str, rag_home: Path):
    name = f"rag-test-mapping-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        home=rag_home,
        keyword_backend="elasticsearch",
        elasticsearch_url=es_url,
        elasticsearch_index=name,
        elasticsearch_shards=2,
        elasticsearch_replicas=0,
    )
    index = open_keyword_index(settings)
    assert isinstance(index, ElasticsearchIndex)
    try:
        index.add(CORPUS[:1])
        described = index._client.indices.get(index=name)[name]
        similarity = described["settings"]["index"]["similarity"]["rag_bm25"]
        assert similarity["type"] == "BM25"
        assert (float(similarity["k1"]), float(similarity["b"])) == (1.2, 0.75)
        assert described["settings"]["index"]["number_of_shards"] == "2"
        keywords = described["mappings"]["properties"]["keywords"]
        assert (keywords["type"], keywords["analyzer"], keywords["similarity"]) == ("text", "whitespace", "rag_bm25")
    finally:
        index.drop()
        index.close()


@server
def test_check_names_the_server_version_and_the_index(es_index: ElasticsearchIndex):
    assert "not created yet" in es_index.check()
    es_index.add(CORPUS)
    description = es_index.check()
    assert description.startswith("Elasticsearch ") and es_index.index in description
    assert f"{len(CORPUS)} chunks" in description


# --- outages and versions (no server needed) ------------------------------------------------------
@pytest.mark.parametrize("operation", ["search", "add", "delete_document", "doc_ids", "count", "check"])
def test_an_unreachable_server_names_the_url_setting(operation: str):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    calls = {
        "search": lambda index: index.search("attention", 5),
        "add": lambda index: index.add(CORPUS),
        "delete_document": lambda index: index.delete_document("doca"),
        "doc_ids": lambda index: index.doc_ids(),
        "count": lambda index: index.count(),
        "check": lambda index: index.check(),
    }
    with ElasticsearchIndex(url) as index, pytest.raises(BackendUnavailable) as raised:
        calls[operation](index)
    assert raised.value.backend == "Elasticsearch"
    assert raised.value.setting == "RAG_ELASTICSEARCH_URL"
    assert url in str(raised.value) and "RAG_ELASTICSEARCH_URL" in str(raised.value)


def test_credentials_in_the_url_never_appear_in_messages():
    url = f"http://elastic:s3cret@127.0.0.1:{free_port()}"
    with ElasticsearchIndex(url) as index, pytest.raises(BackendUnavailable) as raised:
        index.search("attention", 5)
    assert "s3cret" not in str(raised.value)


class _Elasticsearch8Handler(BaseHTTPRequestHandler):
    """Answers like an Elasticsearch 8 node: only ``compatible-with`` 7 or 8 media types are accepted."""

    seen: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        accept = self.headers.get("Accept", "")
        self.seen.append(accept)
        if "compatible-with" in accept and not any(f"compatible-with={v}" in accept for v in (7, 8)):
            self._answer(400, {"error": {"type": "media_type_header_exception"}, "status": 400})
            return
        self._answer(200, {"version": {"number": "8.15.3"}, "tagline": "You Know, for Search"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(404)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_the_client_speaks_a_media_type_elasticsearch_8_accepts():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Elasticsearch8Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with ElasticsearchIndex(f"http://127.0.0.1:{httpd.server_address[1]}") as index:
            assert index.check().startswith("Elasticsearch 8.15.3")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _Elasticsearch8Handler.seen and all("compatible-with=8" in accept for accept in _Elasticsearch8Handler.seen)


def test_the_workspace_opens_elasticsearch_with_its_settings(rag_home: Path):
    settings = Settings(
        home=rag_home,
        keyword_backend="elasticsearch",
        elasticsearch_url="http://127.0.0.1:9201",
        elasticsearch_index="my-chunks",
        elasticsearch_shards=3,
        elasticsearch_replicas=1,
    )
    with open_keyword_index(settings) as index:
        assert (index.url, index.index, index.shards, index.replicas) == ("http://127.0.0.1:9201", "my-chunks", 3, 1)
