"""The embedded keyword index: SQLite FTS5 over the analyzer's tokens, ranked with Lucene's BM25."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rag.analysis import analyze
from rag.errors import BackendUnavailable
from rag.index.keyword.base import KeywordIndex
from rag.index.keyword.fts5 import Fts5Index, lucene_length, tf_tokens
from rag.types import Chunk, chunk_id_for

REPO = Path(__file__).resolve().parents[2]


def chunk(doc_id: str, index: int, text: str) -> Chunk:
    return Chunk(chunk_id_for(doc_id, index), doc_id, index, text, 1, 1, 0, len(text))


def ids(results: list[tuple[str, float]]) -> list[str]:
    return [chunk_id for chunk_id, _ in results]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "keyword.sqlite3"


@pytest.fixture
def index(path: Path):
    with Fts5Index(path) as opened:
        yield opened


CORPUS = [
    chunk("doca", 0, "The Transformer relies entirely on attention to draw global dependencies."),
    chunk("doca", 1, "We trained the base models for 100,000 steps and reached 41.8 BLEU."),
    chunk("docb", 0, "Zero trust architecture assumes no implicit trust granted to assets."),
    chunk("docb", 1, "Runs of the benchmark were repeated; each run used 8 GPUs for 41 hours."),
    chunk("docc", 0, "模型的参数量是七十亿，训练数据来自公开语料。"),
]


def test_implements_the_keyword_index_protocol(index: Fts5Index):
    assert isinstance(index, KeywordIndex)
    assert index.name == "sqlite"


def test_added_chunks_are_found_by_a_stemmed_query(index: Fts5Index):
    index.add(CORPUS)
    assert ids(index.search("running", 5)) == [chunk_id_for("docb", 1)]


def test_results_are_chunk_ids_with_positive_scores_best_first(index: Fts5Index):
    index.add(CORPUS)
    results = index.search("trust attention", 5)
    assert {chunk_id_for("doca", 0), chunk_id_for("docb", 0)} == set(ids(results))
    scores = [score for _, score in results]
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)


def test_a_chunk_with_more_occurrences_of_the_term_ranks_first(index: Fts5Index):
    index.add([chunk("d", 0, "lora adapters on frozen weights"), chunk("d", 1, "lora lora adapters frozen weights")])
    assert ids(index.search("lora", 5)) == [chunk_id_for("d", 1), chunk_id_for("d", 0)]


def test_a_shorter_chunk_ranks_first_when_term_counts_are_equal(index: Fts5Index):
    index.add([chunk("d", 0, "quantization of weights to four bits saves memory"), chunk("d", 1, "quantization saves memory")])
    assert ids(index.search("quantization", 5)) == [chunk_id_for("d", 1), chunk_id_for("d", 0)]


def test_a_rare_term_weighs_more_than_a_common_one(index: Fts5Index):
    index.add(
        [
            chunk("d", 0, "model model"),
            chunk("d", 1, "model retrieval"),
            chunk("d", 2, "model"),
            chunk("d", 3, "model"),
        ]
    )
    assert ids(index.search("model retrieval", 1)) == [chunk_id_for("d", 1)]


def test_limit_caps_the_number_of_results(index: Fts5Index):
    index.add([chunk("d", i, f"shared word number {i}") for i in range(10)])
    assert len(index.search("shared", 3)) == 3


@pytest.mark.parametrize("query", ["", "   ", "the of and", "?!", "What is it?"])
def test_a_query_without_tokens_returns_nothing(index: Fts5Index, query: str):
    index.add(CORPUS)
    assert index.search(query, 5) == []


def test_a_word_in_no_chunk_returns_nothing(index: Fts5Index):
    index.add(CORPUS)
    assert index.search("kubernetes", 5) == []


def test_searching_an_empty_index_returns_nothing(index: Fts5Index):
    assert index.search("attention", 5) == []


def test_a_decimal_number_is_one_token(index: Fts5Index):
    index.add(CORPUS)
    assert ids(index.search("41.8", 5)) == [chunk_id_for("doca", 1)]


def test_a_chinese_word_finds_the_chunk_with_a_longer_phrase(index: Fts5Index):
    index.add(CORPUS)
    assert ids(index.search("参数", 5)) == [chunk_id_for("docc", 0)]


def test_every_analyzer_token_is_one_fts_token(index: Fts5Index):
    index.add([chunk("d", 0, "41.8 参数量 café straße")])
    assert ids(index.search("41.8", 1)) == ids(index.search("参数", 1)) == ids(index.search("café", 1))
    assert ids(index.search("straße", 1)) == [chunk_id_for("d", 0)]
    assert index.search("41", 1) == [] and index.search("caf", 1) == []


def test_a_repeated_query_word_counts_once(index: Fts5Index):
    index.add(CORPUS)
    assert index.search("attention attention attention", 5) == index.search("attention", 5)


def test_delete_document_removes_only_its_chunks(index: Fts5Index):
    index.add(CORPUS)
    index.delete_document("doca")
    assert index.search("attention", 5) == []
    assert ids(index.search("trust", 5)) == [chunk_id_for("docb", 0)]
    assert index.count() == 3


def test_deleting_an_unknown_document_is_not_an_error(index: Fts5Index):
    index.add(CORPUS)
    index.delete_document("nosuchdoc")
    assert index.count() == len(CORPUS)


def test_re_adding_the_same_chunks_changes_nothing(index: Fts5Index):
    index.add(CORPUS)
    before = index.search("trust attention run", 10)
    index.add(CORPUS)
    assert index.count() == len(CORPUS)
    assert index.search("trust attention run", 10) == before


def test_re_adding_a_chunk_id_replaces_its_text(index: Fts5Index):
    index.add(CORPUS)
    index.add([chunk("doca", 0, "Convolutional networks for images")])
    assert index.search("attention", 5) == []
    assert ids(index.search("convolutional", 5)) == [chunk_id_for("doca", 0)]
    assert index.count() == len(CORPUS)


def test_a_chunk_id_repeated_in_one_batch_keeps_the_last_text(index: Fts5Index):
    index.add([chunk("d", 0, "first version"), chunk("d", 0, "second version")])
    assert index.count() == 1
    assert index.search("first", 5) == []


def test_doc_ids_lists_the_documents_that_have_chunks(index: Fts5Index):
    assert index.doc_ids() == set()
    index.add(CORPUS)
    assert index.doc_ids() == {"doca", "docb", "docc"}
    index.delete_document("docb")
    assert index.doc_ids() == {"doca", "docc"}


def test_count_is_the_number_of_chunks(index: Fts5Index):
    assert index.count() == 0
    index.add(CORPUS)
    assert index.count() == len(CORPUS)


def test_a_chunk_without_tokens_is_counted_but_never_found(index: Fts5Index):
    index.add([chunk("d", 0, "the of and"), chunk("d", 1, "retrieval")])
    assert index.count() == 2
    assert ids(index.search("retrieval", 5)) == [chunk_id_for("d", 1)]


def test_the_index_persists_across_reopening(path: Path):
    with Fts5Index(path) as first:
        first.add(CORPUS)
        expected = first.search("trust attention", 5)
    with Fts5Index(path) as second:
        assert second.search("trust attention", 5) == expected
        assert second.doc_ids() == {"doca", "docb", "docc"}


def test_a_failed_batch_leaves_nothing_behind(index: Fts5Index):
    index.add([chunk("old", 0, "previously indexed text")])
    broken = Chunk("bad-00001", None, 1, "broken chunk", 1, 1, 0, 12)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        index.add([chunk("new", 0, "fresh words"), broken])
    assert index.search("fresh", 5) == []
    assert index.doc_ids() == {"old"}
    assert ids(index.search("previously", 5)) == [chunk_id_for("old", 0)]


def test_the_index_file_uses_write_ahead_logging(index: Fts5Index, path: Path):
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_writer_waits_for_another_writer_instead_of_failing(index: Fts5Index, path: Path):
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's batch in progress
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        index.add(CORPUS)
    finally:
        release.join()
        other.close()
    assert index.count() == len(CORPUS)


_READER = """
import json, sys
from pathlib import Path
from rag.index.keyword.fts5 import Fts5Index
with Fts5Index(Path(sys.argv[1])) as index:
    print(json.dumps(index.search("trust attention", 5)))
"""

_WRITER = """
import sys
from pathlib import Path
from rag.index.keyword.fts5 import Fts5Index
from rag.types import Chunk
per_doc = int(sys.argv[2])
with Fts5Index(Path(sys.argv[1])) as index:
    for doc in range(int(sys.argv[3])):
        index.add([Chunk(f"w{doc}-{i}", f"w{doc}", i, f"common words {doc} {i}", 1, 1, 0, 1) for i in range(per_doc)])
"""


def _python(code: str, *args: str) -> list[str]:
    """A Python command for a separate process (run with cwd=REPO, so it imports this checkout)."""
    return [sys.executable, "-c", code, *args]


@pytest.mark.slow
def test_a_reader_in_another_process_sees_committed_chunks_during_a_write(index: Fts5Index, path: Path):
    index.add(CORPUS)
    expected = index.search("trust attention", 5)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM chunk_meta")  # an uncommitted change in flight (simulates a batch mid-way)
    try:
        result = subprocess.run(
            _python(_READER, str(path)), cwd=REPO, capture_output=True, text=True, timeout=60, check=True
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [tuple(hit) for hit in json.loads(result.stdout)] == expected


@pytest.mark.slow
def test_readers_only_ever_see_whole_batches_while_another_process_writes(index: Fts5Index, path: Path):
    per_doc, docs = 7, 40
    writer = subprocess.Popen(_python(_WRITER, str(path), str(per_doc), str(docs)), cwd=REPO, stderr=subprocess.PIPE)
    try:
        while writer.poll() is None:
            hits = index.search("common words", 1000)
            assert len(hits) % per_doc == 0
    finally:
        _, stderr = writer.communicate(timeout=120)
    assert writer.returncode == 0, stderr.decode(errors="replace")
    assert len(index.search("common words", 1000)) == per_doc * docs


def test_check_describes_the_index(index: Fts5Index, path: Path):
    index.add(CORPUS)
    description = index.check()
    assert "FTS5" in description and str(path) in description and f"{len(CORPUS)} chunks" in description


def test_an_unopenable_path_names_the_setting_to_fix(tmp_path: Path):
    with pytest.raises(BackendUnavailable) as raised:
        Fts5Index(tmp_path)  # a directory, not a database file
    assert raised.value.setting == "RAG_HOME"


# --- the ranking formula ------------------------------------------------------------------------
def lucene_bm25(tf: int, df: int, doc_count: int, dl: int, avgdl: float, k1: float = 1.2, b: float = 0.75) -> float:
    idf = math.log(1 + (doc_count - df + 0.5) / (df + 0.5))
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))


def test_scores_are_lucene_bm25_with_k1_1_2_and_b_0_75(index: Fts5Index):
    index.add(
        [
            chunk("d", 0, "retrieval augmented generation retrieval"),  # 4 tokens
            chunk("d", 1, "dense retrieval"),  # 2 tokens
            chunk("d", 2, "generation quality human evaluation study"),  # 5 tokens
        ]
    )
    avgdl = (4 + 2 + 5) / 3
    expected = {
        chunk_id_for("d", 0): lucene_bm25(2, 2, 3, 4, avgdl) + lucene_bm25(1, 2, 3, 4, avgdl),
        chunk_id_for("d", 1): lucene_bm25(1, 2, 3, 2, avgdl),
        chunk_id_for("d", 2): lucene_bm25(1, 2, 3, 5, avgdl),
    }
    results = dict(index.search("retrieval generation", 5))
    assert results.keys() == expected.keys()
    for chunk_id, score in expected.items():
        assert results[chunk_id] == pytest.approx(score, rel=1e-12)


def test_a_term_in_most_chunks_still_adds_to_the_score(index: Fts5Index):
    index.add([chunk("d", i, f"model variant{i}") for i in range(5)] + [chunk("d", 5, "variant5 variant5")])
    # "model" is in 5 of 6 chunks: Lucene's IDF keeps it positive (FTS5's bm25() would make it ~0)
    assert ids(index.search("model variant5", 1)) == [chunk_id_for("d", 5)]
    assert index.search("model", 1)[0][1] > 0.1


@pytest.mark.parametrize(
    "length, as_lucene_sees_it",
    [(0, 0), (1, 1), (23, 23), (24, 24), (25, 25), (30, 30), (45, 44), (100, 96), (137, 136), (300, 280)],
)
def test_document_lengths_are_rounded_like_lucene_norms(length: int, as_lucene_sees_it: int):
    assert lucene_length(length) == as_lucene_sees_it


def test_chunks_whose_lengths_round_alike_score_alike(index: Fts5Index):
    index.add(
        [
            chunk("d", 0, "needle " + " ".join(f"x{i}" for i in range(44))),  # 45 tokens
            chunk("d", 1, "needle " + " ".join(f"y{i}" for i in range(43))),  # 44 tokens
            chunk("e", 0, " ".join(f"w{i}" for i in range(60))),
        ]
    )
    (_, first_score), (_, second_score) = index.search("needle", 2)
    assert first_score == second_score  # 45 and 44 tokens are both 44 to Lucene


# --- large collections: exact over every posting ---------------------------------------------------


@pytest.fixture(scope="module")
def large_index(tmp_path_factory):
    """3,000 chunks of Zipf-distributed words with varied lengths (and a few empty ones), and their texts."""
    import random

    rng = random.Random(7)
    vocabulary = [f"w{i}x" for i in range(600)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    chunks = []
    for i in range(3000):
        words = rng.choices(vocabulary, weights, k=rng.randint(0, 5) and rng.randint(5, 400))
        chunks.append(chunk(f"doc{i // 100:04d}", i % 100, " ".join(words) or "."))
    with Fts5Index(tmp_path_factory.mktemp("large") / "keyword.sqlite3") as opened:
        opened.add(chunks)
        yield opened, chunks, vocabulary, rng


def reference_search(chunks: list[Chunk], query: str, limit: int) -> list[tuple[str, float]]:
    """Lucene's BM25 computed straight from the texts (words are their own tokens here), ties by position."""
    texts = [c.text.split() if c.text != "." else [] for c in chunks]
    doc_count = sum(1 for words in texts if words)
    avgdl = sum(len(words) for words in texts) / doc_count
    terms = list(dict.fromkeys(query.split()))
    df = {t: sum(1 for words in texts if t in words) for t in terms}
    scored = []
    for position, (c, words) in enumerate(zip(chunks, texts)):
        score = sum(
            lucene_bm25(words.count(t), df[t], doc_count, lucene_length(len(words)), avgdl) for t in terms if t in words
        )
        if score:
            scored.append((-score, position, c.chunk_id))
    return [(chunk_id, -neg) for neg, _, chunk_id in sorted(scored)[:limit]]


def test_search_over_a_large_collection_is_exactly_lucene_bm25(large_index):
    index, chunks, vocabulary, rng = large_index
    queries = [" ".join(rng.sample(vocabulary[: rng.choice([20, 100, 600])], rng.randint(1, 12))) for _ in range(40)]
    for query in queries:
        found, expected = index.search(query, 50), reference_search(chunks, query, 50)
        assert ids(found) == ids(expected), query
        assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-12)


def test_the_relevance_gate_statistics_count_chunks_per_term(large_index):
    index, chunks, vocabulary, _ = large_index
    doc_count, df = index.term_stats([vocabulary[0], vocabulary[599], "absent"])
    assert doc_count == sum(1 for c in chunks if c.text != ".")
    assert df == {
        vocabulary[0]: sum(1 for c in chunks if vocabulary[0] in c.text.split()),
        vocabulary[599]: sum(1 for c in chunks if vocabulary[599] in c.text.split()),
        "absent": 0,
    }


# --- term-frequency tokens, the generation, the upgrade from schema 1 -------------------------------------


def test_a_chunk_is_indexed_as_one_token_per_distinct_term_and_frequency():
    assert tf_tokens(["model", "use", "model", "41.8", "model"]) == "model_3 use_1 41.8_1"


def test_a_term_is_not_confused_with_a_longer_term_it_begins(index: Fts5Index):
    index.add([chunk("d", 0, "llama llama"), chunk("d", 1, "llamas2 llama2 llama2 llama2")])
    assert ids(index.search("llama", 5)) == [chunk_id_for("d", 0)]
    assert index.term_stats(["llama"])[1] == {"llama": 1}


def test_a_search_sees_what_another_connection_wrote_since_its_last_search(path: Path):
    with Fts5Index(path) as reader, Fts5Index(path) as writer:
        writer.add(CORPUS)
        reader.search("attention", 5)  # the reader now keeps this generation's lengths
        writer.add([chunk("doce", 0, "attention " + " ".join(f"filler{i}" for i in range(40)))])
        with Fts5Index(path) as fresh:
            assert reader.search("attention", 5) == fresh.search("attention", 5)
        assert len(reader.search("attention", 5)) == 2


SCHEMA_1 = (
    """CREATE VIRTUAL TABLE chunk_fts USING fts5(chunk_id UNINDEXED, doc_id UNINDEXED, tokens,
       tokenize = "ascii tokenchars '!""#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'")""",
    "CREATE TABLE chunk_meta (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, "
    "length INTEGER NOT NULL)",
    "CREATE INDEX chunk_meta_doc ON chunk_meta(doc_id)",
    "CREATE VIRTUAL TABLE chunk_terms USING fts5vocab(chunk_fts, 'row')",
    "CREATE VIRTUAL TABLE chunk_postings USING fts5vocab(chunk_fts, 'instance')",
    "PRAGMA user_version = 1",
)


def test_an_index_written_by_schema_1_is_upgraded_on_opening_with_its_chunks_and_their_ranking(
    tmp_path: Path, path: Path
):
    with Fts5Index(tmp_path / "current.sqlite3") as current:
        current.add(CORPUS)
        expected = {q: current.search(q, 5) for q in ("attention trust", "41.8", "参数", "model training")}
    with sqlite3.connect(path) as old:
        for statement in SCHEMA_1:
            old.execute(statement)
        for c in CORPUS:
            tokens = analyze(c.text)
            row = old.execute(
                "INSERT INTO chunk_fts (chunk_id, doc_id, tokens) VALUES (?, ?, ?)", (c.chunk_id, c.doc_id, " ".join(tokens))
            ).lastrowid
            old.execute("INSERT INTO chunk_meta VALUES (?, ?, ?, ?)", (row, c.chunk_id, c.doc_id, len(tokens)))
    with Fts5Index(path) as upgraded:
        assert {q: upgraded.search(q, 5) for q in expected} == expected
        assert upgraded.count() == len(CORPUS)
        upgraded.delete_document("doca")
        assert upgraded.search("41.8", 5) == []
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "chunk_fts" not in tables and "chunk_postings" not in tables
