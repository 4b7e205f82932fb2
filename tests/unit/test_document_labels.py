"""A document's label: the terms of its file name and title, indexed with every chunk of it."""

from rag.analysis import analyze
from rag.index.labels import (
    LABEL_WEIGHT,
    MAX_LABEL_TERMS,
    MAX_LABEL_WORDS_EMBEDDED,
    DocumentLabel,
    chunk_terms,
    passage_to_embed,
    split_closed_up,
)


def test_a_file_name_is_split_at_underscores_hyphens_and_dots():
    assert DocumentLabel("AMAZON_2016_10K.pdf").terms() == ["amazon", "2016", "10k"]
    assert DocumentLabel("attention-1706.03762.pdf").terms() == ["attent", "1706.03762"]


def test_the_title_joins_the_file_name_and_each_term_counts_once():
    assert DocumentLabel("lora-2106.09685.pdf", "LoRA: Low-Rank Adaptation").terms() == [
        "lora", "2106.09685", "low", "rank", "lowrank", "adapt",
    ]


def test_a_document_without_name_or_title_adds_nothing():
    assert DocumentLabel().terms() == []


def test_a_chunk_is_indexed_with_its_own_tokens_then_its_label_weighted():
    assert chunk_terms("Net sales rose.", ["amazon", "2016"]) == [*analyze("Net sales rose."), *["amazon", "2016"] * LABEL_WEIGHT]


def test_a_closed_up_name_gives_its_words_when_the_document_uses_them():
    words = {"general", "mills", "cereal", "generalmills"}
    assert split_closed_up("generalmills", words) == ["general", "mills"]
    assert DocumentLabel("GENERALMILLS_2019_10K.pdf").terms(words) == ["generalmil", "2019", "10k", "gener", "mill"]


def test_a_word_is_not_split_into_words_the_document_does_not_use():
    assert split_closed_up("generalmills", {"general", "cereal"}) == []
    assert split_closed_up("americanwaterworks", {"american", "water", "works"}) == ["american", "water", "works"]


def test_a_long_title_adds_a_bounded_number_of_terms():
    title = " ".join(f"word{i}x" for i in range(40))
    assert len(DocumentLabel("a.pdf", title).terms()) == MAX_LABEL_TERMS


def test_the_embedding_model_reads_the_label_on_a_line_before_the_chunk():
    label = DocumentLabel("APPLE_2016_10K.pdf", "Form 10-K")
    assert passage_to_embed(label, "Net sales 215,639.") == "APPLE 2016 10K Form 10-K\nNet sales 215,639."


def test_a_long_title_is_cut_before_the_embedding_model_reads_it():
    head, _ = passage_to_embed(DocumentLabel("a.pdf", " ".join(["word"] * 100)), "Text.").split("\n")
    assert len(head.split()) == MAX_LABEL_WORDS_EMBEDDED


def test_a_document_without_a_label_is_embedded_as_its_chunk_alone():
    assert passage_to_embed(DocumentLabel(), "Net sales 215,639.") == "Net sales 215,639."
