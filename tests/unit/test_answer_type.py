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
