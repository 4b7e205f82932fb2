"""The default sentence-transformers embedder (packaged all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np

QUESTIONS = ["How long should keys be used?", "Which GPUs trained Llama 2?", "密钥应该使用多久？"]


def test_a_query_gets_the_same_vector_alone_as_in_a_batch(embedder):
    batch = embedder.embed_queries(QUESTIONS)
    for question, expected in zip(QUESTIONS, batch):
        alone = embedder.embed_query(question)
        assert alone.dtype == np.float32 and alone.shape == (embedder.dimension,)
        assert np.allclose(alone, expected, atol=1e-5)


def test_query_vectors_are_unit_length(embedder):
    assert abs(float(np.linalg.norm(embedder.embed_query(QUESTIONS[0]))) - 1.0) < 1e-5


def test_the_query_prompt_is_put_before_the_question(embedder, monkeypatch):
    plain = embedder.embed_query("key lifetimes")
    monkeypatch.setattr(embedder, "query_prompt", "query: ")
    assert np.allclose(embedder.embed_query("key lifetimes"), embedder.embed_queries(["key lifetimes"])[0], atol=1e-5)
    assert not np.allclose(embedder.embed_query("key lifetimes"), plain, atol=1e-3)


def test_bfloat16_vectors_rank_like_float32_ones():
    from rag.index.embeddings import Embedder, EmbedderConfig

    passages = [
        "Keys should be used for a limited period, the cryptoperiod, set by the key's type and use.",
        "Llama 2 was pretrained on A100 GPUs of Meta's Research Super Cluster.",
        "密钥的使用期限由其类型和用途决定。",
    ]
    float32 = Embedder(EmbedderConfig(precision="float32"))
    bfloat16 = Embedder(EmbedderConfig(precision="bfloat16"))
    assert (float32.precision, bfloat16.precision) == ("float32", "bfloat16")
    full, half = float32.embed_passages(passages), bfloat16.embed_passages(passages)
    assert half.dtype == np.float32
    assert np.all(np.sum(full * half, axis=1) > 0.999)
    for question in QUESTIONS:
        assert np.argmax(full @ float32.embed_query(question)) == np.argmax(half @ bfloat16.embed_query(question))
