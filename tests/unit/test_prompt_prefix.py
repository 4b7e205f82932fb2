"""A prompt's stable start: the part kept between prompts (its system turn), found from token ids alone."""

from __future__ import annotations

import pytest

from llm.chat_format import B_INST, B_SYS, E_SYS, llama2_prompt_ids
from llm.prompt_prefix import StableStart
from llm.protocol import Message

END = 0
RULE = StableStart(lambda token: token == END)


def test_the_stable_start_runs_through_the_first_end_of_turn_token():
    assert RULE.length([5, 6, END, 7, END, 8]) == 3


def test_a_prompt_without_an_end_of_turn_token_has_no_stable_start():
    assert RULE.length([5, 6, 7]) == 0


def test_a_prompt_that_ends_with_its_first_end_of_turn_has_no_stable_start():
    assert RULE.length([5, 6, END]) == 0  # nothing would be left to read after it


@pytest.fixture(scope="module")
def llama2(llama2_vocab):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from llm.prompt_prefix import stable_start_for
    from tests.fixtures.llama2_vocab import open_vocab

    vocab = open_vocab(llama2_vocab)
    encode = lambda text: vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # noqa: E731
    yield vocab, encode, stable_start_for(vocab, llama2=True)
    vocab.close()


def prompt(llama2, messages: list[Message]) -> list[int]:
    vocab, encode, _ = llama2
    return llama2_prompt_ids(messages, encode, vocab.token_bos(), vocab.token_eos())


def test_the_stable_start_of_a_llama2_prompt_is_its_system_block(llama2):
    vocab, encode, rule = llama2
    ids = prompt(llama2, [Message("system", "Answer from the passages.\nCite them."), Message("user", "Passages: ...")])
    assert ids[: rule.length(ids)] == [vocab.token_bos()] + encode(f"{B_INST} {B_SYS}Answer from the passages.\nCite them.{E_SYS}")


def test_a_llama2_conversation_keeps_its_system_block_whatever_the_question(llama2):
    _, _, rule = llama2
    system = Message("system", "Be brief.")
    first = prompt(llama2, [system, Message("user", "Why?")])
    later = prompt(llama2, [system, Message("user", "Why?"), Message("assistant", "Because."), Message("user", "How?")])
    assert rule.length(first) == rule.length(later) > 0 and first[: rule.length(first)] == later[: rule.length(later)]


def test_a_llama2_conversation_without_a_system_prompt_keeps_its_first_exchange(llama2):
    vocab, _, rule = llama2
    ids = prompt(llama2, [Message("user", "Why?"), Message("assistant", "Because."), Message("user", "How?")])
    assert ids[rule.length(ids) - 1] == vocab.token_eos() and rule.length(ids) < len(ids)
    assert rule.length(prompt(llama2, [Message("user", "Why?")])) == 0
