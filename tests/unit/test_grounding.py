"""Grounding: a support score per answer sentence, unsupported sentences flagged."""

from __future__ import annotations

from rag.answer.grounding import SupportConfig, assess, passage_sentences, support_table

PASSAGE = (
    "We trained the big models for 300,000 steps (3.5 days) on eight P100 GPUs. "
    "The Transformer reaches a BLEU score of 41.8 on the WMT 2014 English-to-French task."
)
OTHER = "The NIST framework organises cybersecurity outcomes into five functions: identify, protect, detect."


def grounding_of(sentences, embedder, passages=(PASSAGE, OTHER), question=""):
    table = support_table(sentences, list(passages), embedder, question=question)
    return table, assess(sentences, table)


def test_a_sentence_copied_from_a_passage_is_supported(embedder):
    _, grounding = grounding_of(["The Transformer reaches a BLEU score of 41.8 on English-to-French."], embedder)
    assert grounding.sentences[0].supported and grounding.sentences[0].passage == 0
    assert grounding.supported == 1.0 and grounding.unsupported_sentences == []


def test_a_paraphrase_is_supported(embedder):
    _, grounding = grounding_of(["Training the large models lasted 3.5 days on 8 P100 GPUs."], embedder)
    assert grounding.sentences[0].supported


def test_an_invented_sentence_is_flagged_unsupported(embedder):
    sentence = "The model was developed in Paris by a team of chefs."
    _, grounding = grounding_of([sentence], embedder)
    assert grounding.unsupported_sentences == [sentence] and grounding.supported == 0.0


def test_a_wrong_number_costs_the_support_of_an_otherwise_matching_sentence(embedder):
    table, _ = grounding_of(["The Transformer reaches a BLEU score of 41.8 on English-to-French."], embedder)
    wrong, grounding = grounding_of(["The Transformer reaches a BLEU score of 47.3 on English-to-French."], embedder)
    assert wrong.scores[0, 0] < table.scores[0, 0] * 0.6
    assert grounding.sentences[0].supported is False


def test_restating_the_question_earns_no_lexical_support():
    question = "What BLEU score does the Transformer reach on English-to-French?"
    restated = "The Transformer reaches an excellent BLEU score on English-to-French."
    with_question = support_table([restated], [PASSAGE], None, question=question).scores[0, 0]
    without = support_table([restated], [PASSAGE], None).scores[0, 0]
    assert with_question < without and with_question < SupportConfig().supported


def test_the_answer_support_is_the_share_of_supported_content(embedder):
    supported = "The Transformer reaches a BLEU score of 41.8 on the WMT 2014 English-to-French task."
    invented = "It was written in Paris."
    _, grounding = grounding_of([supported, invented], embedder)
    assert 0.5 < grounding.supported < 1.0
    assert grounding.unsupported_sentences == [invented]


def test_sentences_without_content_are_not_scored(embedder):
    _, grounding = grounding_of(["Yes.", "The Transformer reaches a BLEU score of 41.8 on English-to-French."], embedder)
    assert grounding.sentences[0].support is None and grounding.sentences[0].supported is None
    assert grounding.supported == 1.0


def test_lexical_support_alone_works_without_an_embedder():
    _, grounding = grounding_of(["The Transformer reaches a BLEU score of 41.8 on English-to-French."], None)
    assert grounding.sentences[0].supported


def test_the_snippet_is_the_passage_sentence_closest_to_the_claim(embedder):
    table, _ = grounding_of(["It trained for 300,000 steps."], embedder)
    assert table.snippets[0][0].startswith("We trained the big models for 300,000 steps")


def test_passages_are_cut_into_sentences():
    assert passage_sentences(PASSAGE) == [
        "We trained the big models for 300,000 steps (3.5 days) on eight P100 GPUs.",
        "The Transformer reaches a BLEU score of 41.8 on the WMT 2014 English-to-French task.",
    ]


def test_the_number_of_a_list_item_is_not_a_claimed_number(embedder):
    _, grounding = grounding_of(["3. The Transformer reaches a BLEU score of 41.8 on English-to-French."], embedder)
    assert grounding.sentences[0].supported


def test_a_bare_figure_is_never_supported(embedder):
    _, grounding = grounding_of(["The answer is: 8."], embedder, question="How many GPUs?")
    assert grounding.sentences[0].supported is False
