"""Embedded keyword index: SQLite FTS5 over the analyzer's tokens, ranked with Lucene's BM25.

Storage (one SQLite file, WAL mode, one writer and any number of readers in other processes):

- ``chunk_fts``: FTS5 table ``(chunk_id UNINDEXED, doc_id UNINDEXED, tokens)``. ``tokens`` holds the tokens
  of ``rag.analysis.analyze`` joined by spaces. Its tokenizer is FTS5's ``ascii`` tokenizer with every ASCII
  punctuation mark declared a token character, so it splits on whitespace only — like Elasticsearch's
  ``whitespace`` tokenizer — and every analyzer token (``41.8``, a CJK bigram, any letters) is exactly one
  FTS token. (``ascii`` treats all non-ASCII characters as token characters; ``unicode61`` would split on
  characters its Unicode 6.1 tables do not know.)
- ``chunk_meta``: a plain table ``(row, chunk_id, doc_id, length)`` mapping chunk ids and documents to FTS
  rows, so replacing or deleting chunks never scans the FTS table, and keeping each chunk's token count.
- ``chunk_terms`` / ``chunk_postings``: ``fts5vocab`` views of the FTS index (document frequency per term;
  one row per term occurrence).

Ranking. FTS5's built-in ``bm25()`` uses k1=1.2 and b=0.75 (hard-coded in ``fts5_aux.c``), but its IDF is
``ln((N - n + 0.5) / (n + 0.5))``, clamped to 1e-6 when a term is in half the rows or more, where Lucene
(Elasticsearch) uses ``ln(1 + (N - n + 0.5) / (n + 0.5))``. The two orders differ whenever common terms
matter (every query on a small collection; "model" or "attention" on a corpus of ML papers), and Lucene
also rounds document lengths to one byte (``SmallFloat.intToByte4``) before normalising. Measured on 1,435
chunks of the 12 shared PDFs and the 53 dev questions: ``bm25()`` gave Elasticsearch's top-5 order for 29
questions; Lucene's IDF with exact lengths still missed on the parity corpus; the formula below matched
the top-10 order for all 53. So this index uses FTS5 as the inverted index and computes Lucene's BM25
itself from FTS5's postings:

    score(d) = sum over distinct query terms t in d of
               idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    idf(t)   = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))

with N the chunks that have tokens, avgdl their mean token count, dl Lucene's rounded length, and ties broken
by insertion order (Lucene breaks them by doc id: insertion order within a segment). Scores are positive,
higher is better, and equal noida-db's (classic formula) and Elasticsearch 8's up to float32 rounding and,
for Elasticsearch, the constant factor (k1 + 1) that Lucene >= 8 leaves out. Each search reads one
consistent snapshot. Cost: linear in the query terms' postings (about 3.5 ms for a top-50 on 1,435 chunks,
35 ms on 14,350, on this 2-core machine). Above ``PRUNE_ABOVE_POSTINGS`` postings a search first lets FTS5's
C ranking pick a candidate pool and rescores only that, accepting it when a bound proves no other chunk can
enter the top (``_search_pruned``): the same results, read from a few hundred chunks instead of every posting
(100,000 chunks: identical top-50 for all 53 dev questions; 45 of the 50 that took this path were proven,
5 fell back; keyword p50 487 -> 183 ms; not growing pools that cannot prove: 200 -> 178 ms side by side).
"""

from __future__ import annotations

import heapq
import logging
import math
import sqlite3
import string
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from rag.analysis import analyze
from rag.errors import BackendUnavailable
from rag.types import Chunk

log = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
_BATCH = 500  # SQL variables per IN (...) list
# Above this many (chunk, term) postings a search first tries FTS5's own ranking as a candidate pool
# (``_search_pruned``); below it, reading every posting is already fast (a few ms).
PRUNE_ABOVE_POSTINGS = 20_000
_POOL_MIN = 200
_POOL_FACTOR = 4
_LENGTH_SLACK = 8.0 / 7.0
_COMMON_SHARE = 0.02  # terms in more chunks than this share are left out of FTS5's first candidate query

_BACKEND = "SQLite keyword index"
_SETTING = "RAG_HOME"


def _tokenizer_spec() -> str:
    """FTS5 ``tokenize`` option: ascii tokenizer that splits on whitespace (and control characters) only."""
    inner = "ascii tokenchars '" + string.punctuation.replace("'", "''") + "'"
    return '"' + inner.replace('"', '""') + '"'


_SCHEMA = (
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(
        chunk_id UNINDEXED, doc_id UNINDEXED, tokens, tokenize = {_tokenizer_spec()}
    )""",
    """CREATE TABLE IF NOT EXISTS chunk_meta (
        row INTEGER PRIMARY KEY,          -- rowid of the chunk's row in chunk_fts
        chunk_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL,
        length INTEGER NOT NULL           -- number of tokens
    )""",
    "CREATE INDEX IF NOT EXISTS chunk_meta_doc ON chunk_meta(doc_id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5vocab(chunk_fts, 'row')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_postings USING fts5vocab(chunk_fts, 'instance')",
)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07
    return encoded | ((shift + 1) << 3)


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24: lengths below this are exact


def lucene_length(length: int) -> int:
    """A field length as Lucene's BM25 sees it: encoded in one byte (``SmallFloat.intToByte4``) and decoded.

    Exact below 24 tokens, then rounded down to 4 significant bits (e.g. 45 -> 44, 300 -> 280).
    """
    if length < _NUM_FREE_VALUES:
        return length
    encoded = _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)
    return _NUM_FREE_VALUES + _int4_to_long(encoded - _NUM_FREE_VALUES)


def lucene_idf(doc_freq: int, doc_count: int) -> float:
    """Lucene's BM25 IDF: ln(1 + (N - n + 0.5) / (n + 0.5)); always positive."""
    return math.log(1.0 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5))


def query_terms(query: str) -> list[str]:
    """Distinct analyzer tokens of a query, in order (a repeated word counts once, in every backend)."""
    return list(dict.fromkeys(analyze(query)))


def _batches(items: Sequence[str], size: int = _BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Stats:
    """Collection statistics of one search's snapshot, and Lucene's per-term score from them."""

    rows: int  # FTS rows, empty chunks included (FTS5's N)
    doc_count: int  # chunks with tokens (Lucene's N)
    avgdl: float  # mean length over chunks with tokens (Lucene's)
    fts_avgdl: float  # mean length over all rows (FTS5's)
    doc_freq: dict[str, int]
    _norms: dict[int, float] = field(default_factory=dict)

    def idf(self, term: str) -> float:
        return lucene_idf(self.doc_freq[term], self.doc_count)

    def term_score(self, term: str, tf: int, length: int) -> float:
        norm = self._norms.get(length)
        if norm is None:
            norm = self._norms[length] = K1 * (1.0 - B + B * lucene_length(length) / self.avgdl)
        return self.idf(term) * tf * (K1 + 1.0) / (tf + norm)


def _best(scores: dict[tuple[int, str], float], limit: int) -> list[tuple[str, float]]:
    best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0][0]))
    return [(chunk_id, score) for (_, chunk_id), score in best]


def fts5_idf(doc_freq: int, rows: int) -> float:
    """FTS5's ``bm25()`` IDF: ln((N - n + 0.5) / (n + 0.5)), clamped to 1e-6 (``fts5_aux.c``)."""
    idf = math.log((rows - doc_freq + 0.5) / (doc_freq + 0.5))
    return idf if idf > 0.0 else 1e-6


def _search_pruned(conn: sqlite3.Connection, stats: _Stats, limit: int) -> list[tuple[str, float]] | None:
    """The exact Lucene top ``limit`` from FTS5's own ranking, or None when it cannot be proven exact.

    FTS5's ``ORDER BY rank`` (C code) ranks the chunks holding any of the query's *essential* terms by its
    ``bm25()`` over those terms; this module rescores the best of them (the pool) with Lucene's formula over
    all query terms. Terms in more than ``_COMMON_SHARE`` of the chunks are left out of FTS5's query at first:
    they match most chunks, which is what makes the ranking slow, and they are worth little.

    Why the result is exact when accepted: per term, Lucene's IDF exceeds FTS5's by delta(t) >= 0; a term's
    length factor is at most k1 + 1; Lucene's rounded-down lengths (and its mean over non-empty chunks) raise
    that factor by at most ``slack`` (8/7, since one-byte lengths keep 4 significant bits, times
    avgdl_L / avgdl_F). A chunk outside the pool has FTS5 score F <= F_pool (the pool's lowest) over the
    essential terms, so its Lucene score is at most
    ``slack * (F_pool + (k1 + 1) * (sum of delta over essential terms + sum of idf_L over the others))``,
    and a chunk with no essential term at most ``slack * (k1 + 1) * sum of idf_L over the others``. When the
    pool's ``limit``-th Lucene score is above the bound nothing outside can displace it. Otherwise the pool
    grows (unless the pool's best already fall below the part of the bound no pool size lowers: then a
    larger pool rarely proves anything), then all terms are given to FTS5, and last the caller reads every
    posting. Skipping an attempt costs time at worst, never exactness.
    """
    by_rarity = sorted(stats.doc_freq, key=lambda t: stats.doc_freq[t])
    common = [t for t in by_rarity[1:] if stats.doc_freq[t] > _COMMON_SHARE * stats.rows]
    essential = [t for t in by_rarity if t not in common]
    slack = _LENGTH_SLACK * max(1.0, stats.avgdl / stats.fts_avgdl)
    pool = max(_POOL_MIN, _POOL_FACTOR * limit)
    attempts = [(essential, pool), (essential, 4 * pool)] + ([(by_rarity, 4 * pool)] if common else [])
    hopeless: list[str] | None = None  # terms not worth a larger pool (skipping one never changes a result)
    for terms, size in attempts:
        if terms is hopeless:
            continue
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        ranked = conn.execute(
            "SELECT rowid, rank FROM chunk_fts WHERE chunk_fts MATCH ? ORDER BY rank LIMIT ?", (match, size)
        ).fetchall()
        best = _best(_rescore(conn, [row for row, _ in ranked], stats), limit)
        left_out = sum(stats.idf(t) for t in stats.doc_freq if t not in terms)
        if len(ranked) < size:  # every chunk holding an essential term is in the pool: no larger pool helps
            if not left_out:
                return best
            bound = beyond_pool = slack * (K1 + 1.0) * left_out
        else:
            delta = sum(stats.idf(t) - fts5_idf(stats.doc_freq[t], stats.rows) for t in terms)
            beyond_pool = slack * (K1 + 1.0) * (delta + left_out)  # the part of the bound no pool lowers
            bound = slack * -ranked[-1][1] + beyond_pool
        if len(best) == limit and best[-1][1] > bound:
            return best
        if len(best) < limit or best[-1][1] <= beyond_pool:
            hopeless = terms
    log.debug("pruned BM25 could not prove its top %d; scanning every posting", limit)
    return None


def _rescore(conn: sqlite3.Connection, rows: list[int], stats: _Stats) -> dict[tuple[int, str], float]:
    """Lucene scores of these FTS rows, term frequencies counted from their stored tokens."""
    scores: dict[tuple[int, str], float] = {}
    for batch in _batches(rows):  # type: ignore[arg-type]
        marks = ",".join("?" * len(batch))
        for row, chunk_id, length, tokens in conn.execute(
            f"""SELECT m.row, m.chunk_id, m.length, f.tokens FROM chunk_meta AS m
                JOIN chunk_fts AS f ON f.rowid = m.row WHERE m.row IN ({marks})""",
            batch,
        ):
            counts = Counter(tokens.split(" "))
            scores[(row, chunk_id)] = sum(
                stats.term_score(term, counts[term], length) for term in stats.doc_freq if counts[term]
            )
    return scores


class Fts5Index:
    """The embedded keyword index (see the module docstring). Thread-safe; one connection per instance."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(_BACKEND, _SETTING, f"cannot open {self.path}: {exc}") from exc
        try:
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    # --- connection plumbing ----------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise
        except sqlite3.DatabaseError as exc:  # locked past the busy timeout, corrupt file, disk full, ...
            if "no such module: fts5" in str(exc):
                raise BackendUnavailable(
                    _BACKEND, "RAG_KEYWORD_BACKEND", "this Python's SQLite has no FTS5; use elasticsearch"
                ) from exc
            raise BackendUnavailable(_BACKEND, _SETTING, f"{self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: IMMEDIATE for writes (takes the write lock up front, so the busy timeout
        applies instead of a deadlock on upgrade), deferred for reads (one consistent WAL snapshot)."""
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _init_schema(self) -> None:
        """Create the tables once; opening an existing index takes no write lock (readers never wait)."""
        with self._lock, self._errors():
            self._conn.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; per connection
            if self._schema_version() == SCHEMA_VERSION:
                return
            self._conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            with self._transaction(write=True) as conn:
                if self._schema_version() == SCHEMA_VERSION:  # another process just created it
                    return
                # executescript() would commit; run the statements one by one inside this transaction.
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _schema_version(self) -> int:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise BackendUnavailable(
                _BACKEND, _SETTING, f"{self.path} was written by a newer version of this program (schema {version})"
            )
        return version

    # --- writing ----------------------------------------------------------------------------------
    def add(self, chunks: Sequence[Chunk], titles: dict[str, str] | None = None) -> None:
        """Index chunks in one transaction; a chunk id already present is replaced. Titles are not indexed."""
        latest = {chunk.chunk_id: chunk for chunk in chunks}  # a repeated id in one batch: the last wins
        if not latest:
            return
        analyzed = [(chunk, analyze(chunk.text)) for chunk in latest.values()]
        with self._transaction(write=True) as conn:
            self._delete_rows(conn, "chunk_id", list(latest))
            for chunk, tokens in analyzed:
                row = conn.execute(
                    "INSERT INTO chunk_fts (chunk_id, doc_id, tokens) VALUES (?, ?, ?)",
                    (chunk.chunk_id, chunk.doc_id, " ".join(tokens)),
                ).lastrowid
                conn.execute(
                    "INSERT INTO chunk_meta (row, chunk_id, doc_id, length) VALUES (?, ?, ?, ?)",
                    (row, chunk.chunk_id, chunk.doc_id, len(tokens)),
                )
        log.debug("indexed %d chunks in %s", len(analyzed), self.path)

    def delete_document(self, doc_id: str) -> None:
        with self._transaction(write=True) as conn:
            self._delete_rows(conn, "doc_id", [doc_id])

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, column: str, values: Sequence[str]) -> None:
        for batch in _batches(values):
            marks = ",".join("?" * len(batch))
            rows = [r for (r,) in conn.execute(f"SELECT row FROM chunk_meta WHERE {column} IN ({marks})", batch)]
            for row_batch in _batches(rows):  # type: ignore[arg-type]
                row_marks = ",".join("?" * len(row_batch))
                conn.execute(f"DELETE FROM chunk_fts WHERE rowid IN ({row_marks})", row_batch)
                conn.execute(f"DELETE FROM chunk_meta WHERE row IN ({row_marks})", row_batch)

    # --- reading ----------------------------------------------------------------------------------
    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """Lucene BM25 over the query's distinct tokens: (chunk_id, score), best first."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        with self._transaction(write=False) as conn:
            rows, doc_count, total_length = conn.execute(
                "SELECT count(*), total(length > 0), total(length) FROM chunk_meta"
            ).fetchone()
            doc_count = int(doc_count)
            if not doc_count:
                return []
            marks = ",".join("?" * len(terms))
            doc_freq = dict(conn.execute(f"SELECT term, doc FROM chunk_terms WHERE term IN ({marks})", terms))
            if not doc_freq:
                return []
            stats = _Stats(int(rows), doc_count, total_length / doc_count, total_length / rows, doc_freq)
            if sum(doc_freq.values()) > PRUNE_ABOVE_POSTINGS:
                pruned = _search_pruned(conn, stats, limit)
                if pruned is not None:
                    return pruned
            postings = conn.execute(
                f"""SELECT p.doc, p.term, count(*), m.length, m.chunk_id
                    FROM chunk_postings AS p CROSS JOIN chunk_meta AS m ON m.row = p.doc
                    WHERE p.term IN ({marks}) GROUP BY p.doc, p.term""",
                terms,
            ).fetchall()
        scores: dict[tuple[int, str], float] = defaultdict(float)
        for row, term, tf, length, chunk_id in postings:
            scores[(row, chunk_id)] += stats.term_score(term, tf, length)
        return _best(scores, limit)

    def term_stats(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(chunks with tokens, {term: chunks containing it}) for analyzer tokens (the relevance gate's IDF)."""
        terms = list(dict.fromkeys(terms))
        with self._transaction(write=False) as conn:
            doc_count = int(conn.execute("SELECT count(*) FROM chunk_meta WHERE length > 0").fetchone()[0])
            found: dict[str, int] = {}
            for batch in _batches(terms):
                marks = ",".join("?" * len(batch))
                found.update(conn.execute(f"SELECT term, doc FROM chunk_terms WHERE term IN ({marks})", list(batch)))
        return doc_count, {t: int(found.get(t, 0)) for t in terms}

    def doc_ids(self) -> set[str]:
        with self._transaction(write=False) as conn:
            return {doc_id for (doc_id,) in conn.execute("SELECT DISTINCT doc_id FROM chunk_meta")}

    def count(self) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT count(*) FROM chunk_meta").fetchone()[0])

    def check(self) -> str:
        with self._transaction(write=False) as conn:
            chunks, docs = conn.execute("SELECT count(*), count(DISTINCT doc_id) FROM chunk_meta").fetchone()
        return f"SQLite {sqlite3.sqlite_version} FTS5 keyword index at {self.path}: {chunks} chunks, {docs} documents"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Fts5Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
