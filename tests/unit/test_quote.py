"""The passage text closest to a question, quoted when the model's answer states nothing the passages hold."""

from __future__ import annotations

import pytest

from rag.answer.grounding import Grounding, SentenceSupport, SupportConfig, support_table
from rag.answer.quote import Quote, closest_quote, gives_way_to_a_quote, quoted_answer
from tests.fixtures.answering import CountingEmbedder

NIST = (
    "The Framework Core is organised into functions. "
    "The five functions are Identify, Protect, Detect, Respond and Recover. "
    "Each function is divided into categories."
)
TRANSFORMER = (
    "The Transformer follows an encoder-decoder structure. "
    "In this work we employ h = 8 parallel attention layers, or heads. "
    "For each of these we use dk = dv = 64. "
    "Residual dropout is applied to the output of each sub-layer."
)


def test_the_window_that_answers_the_question_is_chosen_from_the_right_passage(embedder):
    evidence = closest_quote("How many parallel attention heads does the Transformer employ?", [NIST, TRANSFORMER], embedder)
    assert evidence is not None and evidence.passage == 1
    assert "h = 8 parallel attention layers" in evidence.text
    assert evidence.sentence in evidence.text and evidence.support >= SupportConfig().cite


def test_the_quote_is_a_window_of_at_most_two_consecutive_sentences(embedder):
    evidence = closest_quote("Which five functions organise the Framework Core?", [NIST], embedder)
    assert evidence is not None and "Identify, Protect, Detect, Respond and Recover" in evidence.text
    assert evidence.text in " ".join(NIST.split()) and evidence.text.count(". ") <= 1


def test_lexical_support_alone_finds_the_window_without_an_embedder():
    evidence = closest_quote("What dropout is applied to the output of each sub-layer?", [NIST, TRANSFORMER], None)
    assert evidence is not None and evidence.passage == 1 and "Residual dropout" in evidence.text


def test_no_window_is_quoted_when_nothing_reaches_the_citation_level(embedder):
    assert closest_quote("Which chef designed the dessert menu in Paris?", [NIST, TRANSFORMER], embedder) is None


def test_a_question_too_short_to_compare_gets_no_quote(embedder):
    assert closest_quote("Why?", [NIST, TRANSFORMER], embedder) is None


def test_the_quoted_answer_cites_the_passage_number_in_the_language_of_the_question():
    evidence = Quote(passage=1, text="In this work we employ h = 8 heads.", sentence="", support=0.8)
    assert quoted_answer(evidence, "en") == (
        "The passage closest to your question says: \u201cIn this work we employ h = 8 heads.\u201d [2]"
    )
    assert quoted_answer(evidence, "zh").startswith("文档中与您的问题最相关的内容：\u201cIn this work")
    assert quoted_answer(evidence, "zh").endswith("[2]")


def _grounding(*supported):
    return Grounding(sentences=[SentenceSupport(f"s{i}", None if ok is None else 0.5, None, ok) for i, ok in enumerate(supported)])


def test_a_reply_with_a_supported_sentence_keeps_its_text():
    assert not gives_way_to_a_quote("Eight heads [1]. Designed by a chef.", _grounding(True, False))


def test_a_reply_whose_claims_are_all_unsupported_gives_way():
    assert gives_way_to_a_quote("Twelve heads. Designed by a chef.", _grounding(False, False, None))


@pytest.mark.parametrize("reply", ["Yes.", "no", "No, it does not.", "是的。", "不是"])
def test_a_bare_yes_or_no_claiming_nothing_is_kept(reply):
    assert not gives_way_to_a_quote(reply, _grounding(None))


@pytest.mark.parametrize("reply", ["The answer is:", "Nothing else.", "Notably, attention."])
def test_a_reply_claiming_nothing_that_is_not_yes_or_no_gives_way(reply):
    assert gives_way_to_a_quote(reply, _grounding(None))


def test_with_the_grounding_checks_vectors_only_the_question_is_embedded_and_the_quote_is_the_same(embedder):
    question = "How many parallel attention heads does the Transformer employ?"
    grounding_table = support_table(["The Transformer has twelve heads."], [NIST, TRANSFORMER], embedder)
    counting = CountingEmbedder(embedder)
    reused = closest_quote(question, [NIST, TRANSFORMER], counting, piece_vectors=grounding_table.piece_vectors)
    assert counting.texts == 1
    fresh = closest_quote(question, [NIST, TRANSFORMER], embedder)
    assert reused is not None and fresh is not None
    assert (reused.passage, reused.text, reused.sentence) == (fresh.passage, fresh.text, fresh.sentence)
    assert reused.support == pytest.approx(fresh.support, abs=1e-3)  # batches pad differently: float noise


def test_vectors_of_other_passages_are_refused(embedder):
    grounding_table = support_table(["The Transformer has twelve heads."], [TRANSFORMER], embedder)
    with pytest.raises(ValueError, match="passage sentences"):
        closest_quote("Which five functions organise the Framework Core?", [NIST, TRANSFORMER], embedder,
                         piece_vectors=grounding_table.piece_vectors)
