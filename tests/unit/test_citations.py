"""Citations: [n] markers parsed, wrong ones dropped, uncited sentences attributed to their best support."""

from __future__ import annotations

import pytest

from rag.answer.citations import attribute, parse_markers, rewrite_markers, split_sentences, strip_markers
from rag.answer.grounding import support_table

HEADS = (
    "Multi-head attention allows the model to jointly attend to information from different subspaces. "
    "In this work we employ h = 8 parallel attention layers, or heads. For each of these we use dk = dv = 64."
)
BERT = "BERT-LARGE has 24 layers, a hidden size of 1024 and 16 self-attention heads, 340M parameters in total."
ADAM = "We used the Adam optimizer with beta1 = 0.9, beta2 = 0.98 and a warmup of 4000 steps."
PASSAGES = [HEADS, BERT, ADAM]


def check(answer: str, embedder, passages=PASSAGES, question: str = ""):
    sentences = split_sentences(answer)
    table = support_table([s.text for s in sentences], passages, embedder, question=question)
    return sentences, attribute(sentences, table)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("uses 8 heads [1].", [1]), ("see [2, 3]", [2, 3]), ("see [1-3]", [1, 2, 3]), ("a [4][5] b [4]", [4, 5]),
     ("no markers here", []), ("a list [x] and [ 2 ]", [2])],
)
def test_markers_are_parsed(text, expected):
    assert parse_markers(text) == expected


def test_markers_after_the_full_stop_stay_with_their_sentence():
    sentences = split_sentences("It uses 8 heads. [1] BERT has 340M parameters.[2]")
    assert [s.text for s in sentences] == ["It uses 8 heads.", "BERT has 340M parameters."]
    assert [s.markers for s in sentences] == [[1], [2]]


def test_decimals_and_abbreviations_do_not_end_a_sentence():
    sentences = split_sentences("Training took 3.5 days, e.g. on 8 GPUs [1]. Then it stopped.")
    assert len(sentences) == 2 and sentences[0].text.startswith("Training took 3.5 days, e.g. on 8 GPUs")


def test_chinese_sentences_are_split_on_chinese_punctuation():
    assert len(split_sentences("模型使用了8个注意力头[1]。每个头的维度是64。")) == 2


def test_a_correct_citation_is_kept(embedder):
    _, attribution = check("The Transformer employs 8 parallel attention heads [1].", embedder)
    assert attribution.per_sentence == [[1]] and attribution.dropped == []


def test_a_wrong_citation_is_dropped_and_replaced_by_the_supporting_passage(embedder):
    sentences, attribution = check("The Transformer employs 8 parallel attention heads [3].", embedder)
    assert attribution.per_sentence == [[1]]
    assert attribution.dropped == [3]
    assert rewrite_markers("The Transformer employs 8 parallel attention heads [3].", sentences,
                           attribution.per_sentence) == "The Transformer employs 8 parallel attention heads [1]."


def test_a_citation_to_a_passage_that_does_not_exist_is_dropped(embedder):
    _, attribution = check("BERT-LARGE has 340M parameters [7].", embedder)
    assert attribution.per_sentence == [[2]] and 7 in attribution.dropped


def test_uncited_sentences_are_attributed_to_their_best_supporting_passage(embedder):
    answer = "BERT-LARGE has 340M parameters. The optimizer was Adam with a warmup of 4000 steps."
    sentences, attribution = check(answer, embedder)
    assert attribution.per_sentence == [[2], [3]]
    assert attribution.added == [2, 3]
    assert rewrite_markers(answer, sentences, attribution.per_sentence) == (
        "BERT-LARGE has 340M parameters [2]. The optimizer was Adam with a warmup of 4000 steps [3]."
    )


def test_a_sentence_no_passage_supports_cites_nothing(embedder):
    _, attribution = check("Paris is the capital of France and has many museums [1].", embedder)
    assert attribution.per_sentence == [[]] and attribution.cited == [] and attribution.dropped == [1]


def test_a_sentence_without_content_keeps_only_citations_that_support_something(embedder):
    _, attribution = check("BERT-LARGE has 340M parameters [2]. That is all [2][3].", embedder)
    assert attribution.per_sentence == [[2], [2]]
    assert attribution.dropped == [3]


def test_cited_passages_are_listed_in_order_of_first_citation(embedder):
    _, attribution = check("Adam was used with 4000 warmup steps [3]. The model employs 8 heads [1].", embedder)
    assert attribution.cited == [3, 1]


def test_strip_markers_leaves_the_text():
    assert strip_markers("It uses 8 heads [1][2], see [3-4].") == "It uses 8 heads, see."


def test_a_line_wrapped_mid_sentence_is_one_sentence():
    sentences = split_sentences("The boiler holds\n1.8 litres [1]. It heats\nquickly.")
    assert [s.text for s in sentences] == ["The boiler holds 1.8 litres.", "It heats quickly."]


def test_list_items_and_blank_lines_separate_sentences():
    sentences = split_sentences("Two steps:\n- descale every 200 cycles\n- backflush weekly\n\nDone")
    assert [s.text for s in sentences] == ["Two steps:", "- descale every 200 cycles", "- backflush weekly", "Done"]


def test_the_number_of_a_list_item_is_part_of_its_sentence():
    sentences = split_sentences("Steps:\n1. Descale the machine.\n2. Backflush it.")
    assert [s.text for s in sentences] == ["Steps:", "1. Descale the machine.", "2. Backflush it."]
