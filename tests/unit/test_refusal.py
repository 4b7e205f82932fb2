"""The refusal: one fixed sentence per language, recognised in model output."""

from __future__ import annotations

import pytest

from rag.answer.refusal import REFUSALS, in_question_language, is_refusal, question_language, refusal_for


def test_english_questions_get_the_english_refusal():
    assert refusal_for("What GPUs trained Llama 2?") == REFUSALS["en"]


def test_chinese_questions_get_the_chinese_refusal():
    assert question_language("Llama 2 用了多少 GPU？") == "zh"
    assert refusal_for("Llama 2 用了多少 GPU？") == REFUSALS["zh"]


@pytest.mark.parametrize("text", [REFUSALS["en"], REFUSALS["zh"], REFUSALS["en"] + " [1]", f'"{REFUSALS["en"]}"'])
def test_the_fixed_sentences_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    ["I cannot find that information in the passages.", "The passages do not mention the learning rate.",
     "There is no information about it.", "抱歉，我找不到相关信息。"],
)
def test_common_paraphrases_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    ["The model uses 8 heads [1].", "I found that the model uses 8 heads.", "", "There is no dropout in layer 3 [2]."],
)
def test_answers_are_not_taken_for_refusals(text):
    assert not is_refusal(text)


@pytest.mark.parametrize(
    "text",
    ["The retail price is not mentioned in the passages.", "The text does not provide any information about it.",
     "Sorry, the documents do not say."],
)
def test_a_first_sentence_saying_the_sources_do_not_tell_is_a_refusal(text):
    assert is_refusal(text)


def test_a_later_remark_about_the_passages_does_not_make_an_answer_a_refusal():
    assert not is_refusal("The boiler holds 1.8 litres [1]. The weight is not mentioned in the passages.")


def test_a_chinese_reply_to_a_chinese_question_is_in_its_language():
    assert in_question_language("Transformer 使用了 8 个注意力头 [1]。", "Transformer 使用了多少个注意力头？")


def test_an_english_reply_or_one_that_only_repeats_the_chinese_question_is_not():
    question = "QLoRA 微调 65B 模型需要多少显存？"
    assert not in_question_language("It needs 48 GB [1].", question)
    assert not in_question_language("The answer is: QLORA 微调 65B 模型需要多少显存", question)
    assert not in_question_language("QLoRA uses 48 GB [1].\n\nQuestion: qlora 微调 65B  模型需要多少显存？", question)


def test_any_reply_is_in_the_language_of_an_english_question():
    assert in_question_language("注意力头", "How many heads?")
