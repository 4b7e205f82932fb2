"""Keyword index on an Elasticsearch cluster (8.x or 9.x), through the official ``elasticsearch`` client.

The analysis happens once, in Python (``rag.analysis.analyze``): chunks are indexed with their tokens
space-joined in a ``keywords`` text field that the cluster only splits on whitespace, and queries are a
``bool``/``should`` of ``term`` queries on the query's distinct tokens, so the cluster ranks exactly the
tokens the embedded FTS5 index ranks, with BM25 (k1=1.2, b=0.75) set explicitly on the field. Searches use
``dfs_query_then_fetch`` so that an index with several shards scores with index-wide statistics.

Client/server versions: the 9.x Python client sends ``compatible-with=9`` media types, which an
Elasticsearch 8 server rejects (HTTP 400 ``media_type_header_exception``). This module sends
``compatible-with=8`` instead, which both 8.x servers and 9.x servers (REST API compatibility) accept.

Every connection problem (refused, timed out, TLS, a 5xx from the cluster) becomes
``BackendUnavailable("Elasticsearch", "RAG_ELASTICSEARCH_URL", ...)`` quickly: a 3 s connect timeout and
one retry.

Note: Lucene keeps deleted and replaced documents in its term statistics until segments merge, so after
re-indexing or deleting, scores can drift slightly from the embedded index until the cluster merges.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import Any, Collection, Iterator, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import urllib3
from elastic_transport import (
    ConnectionError as TransportConnectionError,
)
from elastic_transport import (
    ConnectionTimeout,
    HttpHeaders,
    NodeConfig,
    Transport,
    TransportError,
    Urllib3HttpNode,
)
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
    helpers,
)

from rag.analysis import query_terms
from rag.errors import BackendUnavailable, RagError
from rag.index.labels import DocumentLabel, chunk_terms, label_terms
from rag.types import Chunk

log = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 60.0
MAX_RETRIES = 1
MAX_DOCUMENTS = 65_536  # doc_ids() uses one terms aggregation (ES's default search.max_buckets)
SERVER_API_VERSION = 8  # media types say "compatible-with=8": accepted by 8.x and 9.x servers

_BACKEND = "Elasticsearch"
_URL_SETTING = "RAG_ELASTICSEARCH_URL"
_AUTH_SETTING = "RAG_ELASTICSEARCH_API_KEY or RAG_ELASTICSEARCH_USERNAME/RAG_ELASTICSEARCH_PASSWORD"
_COMPAT = re.compile(r"compatible-with=\d+")


def index_body(shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """Settings and mappings of the chunk index."""
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "similarity": {"rag_bm25": {"type": "BM25", "k1": K1, "b": B}},
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "keywords": {
                    "type": "text",
                    "analyzer": "whitespace",  # tokens come analyzed from Python; only split them
                    "similarity": "rag_bm25",
                    "index_options": "freqs",  # no phrase queries: positions are not needed
                },
                "text": {"type": "text", "index": False},
                "title": {"type": "text", "index": False},
                "doc_id": {"type": "keyword"},
                "chunk_id": {"type": "keyword"},
                "page_start": {"type": "integer"},
                "page_end": {"type": "integer"},
            },
        },
    }


class _CompatibleTransport(Transport):
    """Sends ``compatible-with=8`` media types instead of the 9.x client's ``compatible-with=9``."""

    def perform_request(self, method: str, target: str, *, headers: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        if headers:
            headers = HttpHeaders(headers)
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = _COMPAT.sub(f"compatible-with={SERVER_API_VERSION}", headers[name])
        if headers is None:
            return super().perform_request(method, target, **kwargs)
        return super().perform_request(method, target, headers=headers, **kwargs)


class _FastFailNode(Urllib3HttpNode):
    """A short connect timeout (an unreachable host fails in seconds) and a long read timeout (bulk)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.pool.timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)


def _redact(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _index_missing(exc: NotFoundError) -> bool:
    """True when a 404 means "no such index" (any other 404 means the URL is not an Elasticsearch API)."""
    return exc.message == "index_not_found_exception"


def _reason(exc: TransportError) -> str:
    """A short reason for a transport error ("connection refused", "timed out", ...)."""
    if isinstance(exc, ConnectionTimeout):
        return "connection timed out"
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^)\]'\"]+)", text)
    if match:
        return match.group(1).strip().rstrip(".").lower()
    if isinstance(exc, TransportConnectionError) and "SSL" in text.upper():
        return "TLS error"
    return type(exc).__name__


class ElasticsearchIndex:
    """The Elasticsearch keyword backend. Cheap to build: it connects on first use."""

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        index: str = "rag-chunks",
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify_certs: bool = True,
        shards: int = 1,
        replicas: int = 0,
    ) -> None:
        self.url = url
        self.index = index
        self.shards = shards
        self.replicas = replicas
        self._display_url = _redact(url)
        auth: dict[str, Any] = {}
        if api_key:
            auth["api_key"] = api_key
        elif username:
            auth["basic_auth"] = (username, password or "")
        self._client = Elasticsearch(
            url,
            **auth,
            verify_certs=verify_certs,
            transport_class=_CompatibleTransport,
            node_class=_FastFailNode,
            max_retries=MAX_RETRIES,
            retry_on_timeout=False,
        )

    # --- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn client errors into the product's errors."""
        try:
            yield
        except (AuthenticationException, AuthorizationException) as exc:
            raise BackendUnavailable(
                _BACKEND, _AUTH_SETTING, f"{self._display_url} refused the credentials (HTTP {exc.meta.status})"
            ) from exc
        except UnsupportedProductError as exc:
            raise BackendUnavailable(_BACKEND, _URL_SETTING, f"{self._display_url} is not Elasticsearch") from exc
        except NotFoundError as exc:
            raise BackendUnavailable(
                _BACKEND, _URL_SETTING, f"{self._display_url} answered HTTP 404: not an Elasticsearch API"
            ) from exc
        except ApiError as exc:
            if exc.meta.status >= 500:
                raise BackendUnavailable(
                    _BACKEND, _URL_SETTING, f"{self._display_url} answered HTTP {exc.meta.status}: {exc.message}"
                ) from exc
            raise RagError(f"Elasticsearch rejected a request on index {self.index!r}: {exc.message}") from exc
        except TransportError as exc:
            raise BackendUnavailable(_BACKEND, _URL_SETTING, f"{self._display_url}: {_reason(exc)}") from exc

    def _ensure_index(self) -> None:
        """Create the index when it is missing. Checked before every write (one cheap HEAD request): a
        cluster that auto-creates a deleted index would otherwise give it a dynamic, wrongly analyzed mapping."""
        with self._errors():
            if not self._client.indices.exists(index=self.index):
                try:
                    self._client.indices.create(index=self.index, **index_body(self.shards, self.replicas))
                    log.info("created Elasticsearch index %s", self.index)
                except BadRequestError as exc:
                    if exc.message != "resource_already_exists_exception":  # another process created it
                        raise

    # --- writing ----------------------------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], labels: Mapping[str, DocumentLabel] | None = None) -> None:
        """Bulk-index chunks (the chunk id is the document id, so re-adding replaces), then refresh."""
        if not chunks:
            return
        self._ensure_index()
        labels = labels or {}
        named = label_terms(chunks, labels)
        actions = [
            {
                "_op_type": "index",
                "_index": self.index,
                "_id": chunk.chunk_id,
                "_source": {
                    "keywords": " ".join(chunk_terms(chunk.text, named.get(chunk.doc_id, ()))),
                    "text": chunk.text,
                    "title": labels[chunk.doc_id].title if chunk.doc_id in labels else "",
                    "doc_id": chunk.doc_id,
                    "chunk_id": chunk.chunk_id,
                    "page_start": chunk.page_start,
                    "page_end": chunk.page_end,
                },
            }
            for chunk in chunks
        ]
        with self._errors():
            _, errors = helpers.bulk(self._client, actions, raise_on_error=False, chunk_size=500)
            self._client.indices.refresh(index=self.index)
        if errors:
            first = next(iter(errors[0].values()), {})
            raise RagError(
                f"Elasticsearch rejected {len(errors)} of {len(actions)} chunks on index {self.index!r}: "
                f"{first.get('error', first)}"
            )

    def delete_document(self, doc_id: str) -> None:
        with self._errors():
            try:
                self._client.delete_by_query(
                    index=self.index, query={"term": {"doc_id": doc_id}}, refresh=True, conflicts="proceed"
                )
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise
                return  # no index yet: nothing to delete

    # --- reading ----------------------------------------------------------------------------------
    def search(self, query: str, limit: int, docs: Collection[str] | None = None) -> list[tuple[str, float]]:
        terms = query_terms(query)  # as the FTS5 index searches
        if not terms or limit <= 0 or (docs is not None and not docs):
            return []
        matching: dict[str, Any] = {"should": [{"term": {"keywords": term}} for term in terms]}
        if docs is not None:  # a filter clause: it scores nothing and leaves the index-wide statistics alone
            matching.update(filter=[{"terms": {"doc_id": sorted(docs)}}], minimum_should_match=1)
        with self._errors():
            try:
                response = self._client.search(
                    index=self.index,
                    query={"bool": matching},
                    size=limit,
                    source=False,
                    track_total_hits=False,
                    search_type="dfs_query_then_fetch",
                )
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise
                return []
        return [(hit["_id"], float(hit["_score"])) for hit in response["hits"]["hits"]]

    def term_stats(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(chunks indexed, {term: chunks containing it}) for analyzer tokens (the relevance gate's IDF)."""
        terms = list(dict.fromkeys(terms))
        with self._errors():
            try:
                response = self._client.search(
                    index=self.index,
                    size=0,
                    track_total_hits=True,
                    aggs={"terms": {"filters": {"filters": {t: {"term": {"keywords": t}} for t in terms}}}},
                )
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise
                return 0, {t: 0 for t in terms}
        total = response["hits"]["total"]
        doc_count = int(total["value"] if isinstance(total, dict) else total)
        buckets = response.get("aggregations", {}).get("terms", {}).get("buckets", {})
        return doc_count, {t: int(buckets.get(t, {}).get("doc_count", 0)) for t in terms}

    def doc_ids(self) -> set[str]:
        with self._errors():
            try:
                response = self._client.search(
                    index=self.index,
                    size=0,
                    aggs={"docs": {"terms": {"field": "doc_id", "size": MAX_DOCUMENTS}}},
                )
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise
                return set()
        buckets = response["aggregations"]["docs"]
        if buckets.get("sum_other_doc_count", 0):
            raise RagError(f"index {self.index!r} holds more than {MAX_DOCUMENTS} documents; doc_ids() cannot list them")
        return {bucket["key"] for bucket in buckets["buckets"]}

    def count(self) -> int:
        with self._errors():
            try:
                return int(self._client.count(index=self.index)["count"])
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise
                return 0

    def check(self) -> str:
        with self._errors():
            version = self._client.info()["version"]["number"]
            exists = bool(self._client.indices.exists(index=self.index))
        where = f"Elasticsearch {version} at {self._display_url}"
        if not exists:
            return f"{where}: index {self.index!r} not created yet (the first ingest creates it)"
        return f"{where}: index {self.index!r} with {self.count()} chunks"

    def drop(self) -> None:
        """Delete the whole index (no error when it does not exist)."""
        with self._errors():
            try:
                self._client.indices.delete(index=self.index)
            except NotFoundError as exc:
                if not _index_missing(exc):
                    raise

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ElasticsearchIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
