"""What kind of answer a question asks for, and whether a text holds one (the gate's and the quote's check)."""

from __future__ import annotations

import pytest

from rag.gate.answer_type import AnswerType, describe, expectation, holds


@pytest.mark.parametrize(
    "question",
    [
        "How many parameters does BERT-LARGE have?",
        "How much GPU memory does finetuning the 65B model need?",
        "What percentage of the budget went to salaries?",
        "In which year was the framework first published?",
        "What BLEU score does the Transformer achieve on WMT 2014?",
        "What learning rate was used?",
        "云雾茶的出口价格是多少？",
        "一个方法的总行数不得超过几行？",
    ],
)
def test_a_question_about_a_quantity_asks_for_a_figure(question: str) -> None:
    assert expectation(question).kind is AnswerType.FIGURE


@pytest.mark.parametrize(
    "question",
    ["Who was elected deputy mayor of Oakridge?", "Which company manufactures the module?", "这份报告是谁写的？"],
)
def test_a_who_question_asks_for_a_name(question: str) -> None:
    assert expectation(question).kind is AnswerType.NAME


@pytest.mark.parametrize(
    "question", ["What optimizer was used to train the model?", "Why does the cathode degrade?", "Describe the warranty."]
)
def test_other_questions_accept_any_answer(question: str) -> None:
    assert expectation(question).kind is AnswerType.ANY


def test_a_unit_named_in_the_question_makes_it_ask_for_a_figure_in_that_unit() -> None:
    expected = expectation("What is the peak gain, in dBi, of the on-board antenna?")
    assert (expected.kind, expected.unit) == (AnswerType.FIGURE, "dbi")
    assert describe(expected) == "a figure in dbi"


def test_a_sentence_with_the_figure_holds_the_answer() -> None:
    question = "How many parameters does BERT-LARGE have?"
    assert holds(expectation(question), "BERT-LARGE (L=24, H=1024, A=16, Total Parameters=340M).", question)


def test_a_sentence_with_the_question_words_but_no_figure_does_not() -> None:
    question = "How many parameters does BERT-LARGE have?"
    sentence = "We show that pre-trained representations reduce the need for many heavily-engineered architectures."
    assert not holds(expectation(question), sentence, question)


def test_a_figure_the_question_itself_states_is_not_an_answer() -> None:
    question = "How many workshops did The Carpentries run in 2025?"
    assert not holds(expectation(question), "The Carpentries ran workshops around the world in 2025.", question)


def test_a_figure_without_the_unit_the_question_names_is_not_an_answer() -> None:
    question = "What is the peak gain, in dBi, of the antenna?"
    assert not holds(expectation(question), "The gain control step is 3 dBm.", question)
    assert holds(expectation(question), "The antenna has a peak gain of 2.1 dBi.", question)


def test_a_figure_written_in_chinese_numerals_counts() -> None:
    question = "采摘后多少小时内必须杀青？"
    assert holds(expectation(question), "鲜叶采摘后须在六个小时内完成杀青。", question)


def test_a_name_question_is_answered_by_a_name_the_question_does_not_contain() -> None:
    question = "Who was elected deputy mayor of Oakridge?"
    assert holds(expectation(question), "Councillor Maria Okafor was elected deputy mayor.", question)
    assert not holds(expectation(question), "the election of a deputy mayor was postponed.", question)


def test_a_citation_year_or_a_section_number_is_not_a_figure() -> None:
    question = "How many attention heads does the Transformer use?"
    text = "6 RELATED WORKS Transformer Language Models. Transformer (Vaswani et al., 2017) uses self-attention [12]."
    assert not holds(expectation(question), text, question)
    assert holds(expectation(question), "3.2 Attention. The Transformer employs h = 8 parallel attention heads.", question)


def test_the_digit_of_a_name_is_not_a_figure() -> None:
    question = "How many attention heads does the Transformer use?"
    assert not holds(expectation(question), "BERT and GPT-2 are large Transformer models trained on H100 GPUs.", question)


def test_a_figure_right_after_chinese_characters_counts() -> None:
    question = "拆封后必须在多长时间内使用完毕？"
    assert holds(expectation(question), "真空袋拆封后需在168小时内使用完毕。", question)


def test_a_temperature_question_wants_a_figure_in_degrees() -> None:
    question = "ESP32-WROOM-32 的存储温度范围是多少？"
    assert expectation(question).unit == "degrees"
    assert not holds(expectation(question), "更新图 5：回流焊温度曲线下方的说明，2020.11 V3.0", question)
    assert holds(expectation(question), "存储温度：-40 ~ 85 °C", question)


def test_a_reference_to_a_figure_or_table_is_not_a_figure() -> None:
    question = "How many tokens does the model see?"
    assert not holds(expectation(question), "The tokens are listed in Table 2 and shown in Figure 3.", question)


def test_a_section_heading_inside_the_text_is_not_a_figure() -> None:
    question = "How many attention heads does the Transformer use?"
    text = "The cost is similar to single-head attention. 3.2.3 Applications of Attention in our Model The Transformer uses"
    assert not holds(expectation(question), text, question)

