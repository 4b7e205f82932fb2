"""Switching keyword backends does not change what users get: FTS5 and Elasticsearch rank alike.

Both index the same analyzer tokens and rank them with Lucene's BM25 (k1=1.2, b=0.75, Lucene's IDF and its
one-byte document lengths). Tolerance: two results may swap places only when their scores are a near tie
(relative difference below 1e-4: Lucene computes in float32, the FTS5 index in float64), and a near tie at
the cut-off may bring in a different chunk with the same score.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rag.index.keyword.elastic import ElasticsearchIndex
from rag.index.keyword.fts5 import Fts5Index
from rag.index.labels import DocumentLabel
from rag.types import Chunk, chunk_id_for

pytestmark = pytest.mark.server

TOP = 5
REL_TOL = 1e-4

SENTENCES = [
    "The Transformer is a model architecture that relies entirely on attention mechanisms.",
    "Multi-head attention lets the model attend to information from different representation subspaces.",
    "We use eight attention heads, and the key and value dimension of each head is 64.",
    "On the WMT 2014 English-to-German translation task the big model reaches 28.4 BLEU.",
    "On English-to-French the model establishes a single-model score of 41.8 BLEU after training.",
    "Training took 3.5 days on eight GPUs with the Adam optimizer and a warmup schedule.",
    "Low-rank adaptation freezes the pretrained weights and injects trainable rank decomposition matrices.",
    "LoRA reduces the number of trainable parameters by a factor of 10,000 and GPU memory by three.",
    "Quantized low-rank adapters fine-tune a 65B parameter model on a single 48GB GPU.",
    "Retrieval-augmented generation combines a parametric memory with a non-parametric dense index.",
    "The retriever returns the top documents, and the generator conditions on them to produce answers.",
    "Dense passage retrieval encodes questions and passages with two BERT encoders.",
    "Zero trust architecture assumes there is no implicit trust granted to assets or user accounts.",
    "Authentication and authorization are discrete functions performed before a session is established.",
    "The policy engine decides whether to grant access to a resource for a given subject.",
    "The Cybersecurity Framework core consists of five functions: identify, protect, detect, respond, recover.",
    "Supply chain risk management was added to the framework to address third-party risks.",
    "Llama 2 models were pretrained on two trillion tokens and fine-tuned with human feedback.",
    "Reinforcement learning from human feedback aligns the model with human preferences for helpfulness and safety.",
    "Mistral 7B uses grouped-query attention and sliding window attention for faster inference.",
    "BERT is pretrained with a masked language model objective and next sentence prediction.",
    "Fine-tuning BERT for question answering adds a start and end vector over the passage tokens.",
    "模型的参数量是七十亿，训练数据来自公开语料。",
    "注意力机制让模型在不同位置之间建立依赖关系。",
]

QUERIES = [
    "How many attention heads does the Transformer use?",
    "BLEU score on English-to-French translation",
    "What does low-rank adaptation freeze?",
    "trainable parameters and GPU memory",
    "zero trust implicit trust assets",
    "five functions of the Cybersecurity Framework core",
    "dense retrieval with BERT encoders for question answering",
    "human feedback for helpfulness and safety",
    "sliding window attention inference",
    "模型参数量",
    "model training",  # common words: ranking rests on IDF and length normalisation
    "41.8",
]


def build_corpus(seed: int = 7, chunks: int = 30) -> list[Chunk]:
    """Chunks of 1 to 12 sentences drawn from one pool: varied lengths (3 to ~160 tokens), shared words."""
    rng = random.Random(seed)
    corpus = []
    for i in range(chunks):
        doc_id = f"doc{i % 6}"
        sentences = rng.sample(SENTENCES, k=rng.choice([1, 1, 2, 3, 4, 6, 8, 12]))
        text = " ".join(sentences)
        corpus.append(Chunk(chunk_id_for(doc_id, i), doc_id, i, text, 1, 1, 0, len(text)))
    return corpus


def assert_same_ranking(
    embedded: list[tuple[str, float]], elastic: list[tuple[str, float]], top: int = TOP, rel_tol: float = REL_TOL
) -> None:
    """Same chunk ids in the same order, except where the embedded scores are a near tie."""
    embedded_scores = dict(embedded)
    assert len(elastic) >= min(top, len(embedded)), (embedded, elastic)
    for rank, ((want, want_score), (got, _)) in enumerate(zip(embedded[:top], elastic[:top])):
        if got == want:
            continue
        assert got in embedded_scores, f"rank {rank + 1}: Elasticsearch returned {got}, FTS5 did not rank it near the top"
        assert embedded_scores[got] == pytest.approx(want_score, rel=rel_tol), (
            f"rank {rank + 1}: FTS5 has {want} ({want_score:.6f}), Elasticsearch {got} ({embedded_scores[got]:.6f})"
        )


@pytest.fixture(scope="module")
def corpus() -> list[Chunk]:
    return build_corpus()


@pytest.fixture
def both(tmp_path: Path, es_index: ElasticsearchIndex, corpus: list[Chunk]):
    with Fts5Index(tmp_path / "keyword.sqlite3") as fts:
        fts.add(corpus)
        es_index.add(corpus)
        yield fts, es_index


def test_the_corpus_has_varied_lengths_and_shared_words(corpus: list[Chunk]):
    from rag.analysis import analyze

    lengths = [len(analyze(c.text)) for c in corpus]
    assert len(corpus) == 30
    assert min(lengths) < 24 < 100 < max(lengths)  # exact and rounded Lucene lengths both occur
    assert sum("attention" in c.text for c in corpus) > len(corpus) / 2  # a term in most chunks


@pytest.mark.parametrize("query", QUERIES)
def test_both_backends_give_the_same_top_results(both, query: str):
    fts, es = both
    embedded = fts.search(query, TOP + 5)
    assert embedded, "the query should match something"
    assert_same_ranking(embedded, es.search(query, TOP + 5))


def test_scores_differ_only_by_one_constant_factor(both):
    """noida-db keeps Lucene's classic (k1 + 1) factor like the FTS5 index (ratio 1); Lucene >= 8 drops it
    (ratio 1/2.2). Either way a single factor across all queries and hits."""
    fts, es = both
    ratios = []
    for query in QUERIES:
        embedded = dict(fts.search(query, 30))
        ratios += [score / embedded[chunk_id] for chunk_id, score in es.search(query, 30)]
    assert ratios
    assert max(ratios) == pytest.approx(min(ratios), rel=REL_TOL)


def test_both_backends_agree_after_documents_are_deleted(both, corpus: list[Chunk]):
    fts, es = both
    for index in (fts, es):
        index.delete_document("doc1")
        index.delete_document("doc4")
    assert fts.count() == es.count() == sum(c.doc_id not in {"doc1", "doc4"} for c in corpus)
    for query in QUERIES[:4]:
        embedded = fts.search(query, TOP + 5)
        elastic = es.search(query, TOP + 5)
        # Lucene keeps deleted documents in its statistics until segments merge: compare the sets only
        assert {c for c, _ in elastic[:TOP]} <= {c for c, _ in embedded}


@pytest.mark.slow
@pytest.mark.shared
def test_real_papers_give_the_same_top_ten_for_the_dev_questions(tmp_path: Path, es_index, shared_dir: Path):
    """Four real PDFs from ../shared (about 500 chunks of 150 words) and every dev question."""
    import pypdfium2

    chunks: list[Chunk] = []
    for pdf in sorted((shared_dir / "corpus").glob("*.pdf"))[:4]:
        document = pypdfium2.PdfDocument(str(pdf))
        words = [w for page in document for w in page.get_textpage().get_text_range().split()]
        document.close()
        doc_id = pdf.stem[:16]
        for i, start in enumerate(range(0, max(1, len(words) - 20), 130)):
            text = " ".join(words[start : start + 150])
            chunks.append(Chunk(chunk_id_for(doc_id, i), doc_id, i, text, 1, 1, 0, len(text)))
    questions = [json.loads(line)["question"] for line in (shared_dir / "eval" / "dev-questions.jsonl").open()]
    labels = {c.doc_id: DocumentLabel(f"{c.doc_id}.pdf") for c in chunks}  # "attention-1706.03762": a label each
    with Fts5Index(tmp_path / "keyword.sqlite3") as fts:
        fts.add(chunks, labels)
        es_index.add(chunks, labels)
        for question in questions:
            assert_same_ranking(fts.search(question, 15), es_index.search(question, 15), top=10)
