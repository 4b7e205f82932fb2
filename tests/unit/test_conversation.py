"""Conversations: history for the model, follow-ups rewritten into standalone queries (rule and model)."""

from __future__ import annotations

import pytest

from rag.answer.conversation import (
    Conversation,
    Turn,
    accept_rewrite,
    looks_like_follow_up,
    rewrite_query,
    rule_rewrite,
)
from tests.fixtures.scripted_engine import ScriptedEngine

FIRST = "How many GPU hours did pretraining Llama 2 7B take?"


def conversation_after(question: str = FIRST, answer: str = "It took 184,320 GPU hours [1].") -> Conversation:
    conversation = Conversation()
    conversation.add(Turn(question=question, query=question, answer=answer))
    return conversation


@pytest.mark.parametrize(
    "question", ["and the 70B one?", "What about its context length?", "How big are they?", "and 34B?", "那 70B 的呢？"]
)
def test_follow_ups_are_recognised(question):
    assert looks_like_follow_up(question)


@pytest.mark.parametrize(
    "question",
    ["What learning rate schedule does LoRA use?", "Which optimizer trained the Transformer base model?",
     "Llama 2 预训练用了多少 GPU 小时？"],
)
def test_standalone_questions_are_not_follow_ups(question):
    assert not looks_like_follow_up(question)


def test_the_rule_carries_the_previous_questions_key_terms():
    query = rule_rewrite("and the 70B one?", FIRST)
    assert query.startswith("and the 70B one?")
    for term in ("GPU", "hours", "pretraining", "Llama", "2"):
        assert term in query.split()


def test_the_rule_drops_the_term_the_follow_up_replaces():
    assert "7B" not in rule_rewrite("and the 70B one?", FIRST).split()


def test_the_rule_does_not_repeat_terms_the_follow_up_already_has():
    assert rule_rewrite("and the GPU hours of 70B?", FIRST).split().count("GPU") == 1


def test_rule_rewriting_when_the_model_is_not_asked():
    engine = ScriptedEngine(["never used"])
    query, how = rewrite_query("and the 70B one?", conversation_after(), engine=engine, mode="rule")
    assert how == "rule" and "Llama" in query and "70B" in query
    assert engine.calls == []


def test_the_models_rewrite_is_used_when_it_is_usable():
    engine = ScriptedEngine(["How many GPU hours did pretraining Llama 2 70B take?"])
    query, how = rewrite_query("and the 70B one?", conversation_after(), engine=engine, mode="auto")
    assert (query, how) == ("How many GPU hours did pretraining Llama 2 70B take?", "model")
    sent = engine.calls[0][-1].content
    assert FIRST in sent and "and the 70B one?" in sent


def test_an_unusable_model_rewrite_falls_back_to_the_rule():
    engine = ScriptedEngine(["The capital of France is Paris."])
    query, how = rewrite_query("and the 70B one?", conversation_after(), engine=engine, mode="auto")
    assert how == "rule" and query == rule_rewrite("and the 70B one?", FIRST)
    assert len(engine.calls) == 1


def test_a_model_failure_falls_back_to_the_rule():
    def broken(_messages):
        raise RuntimeError("server down")

    query, how = rewrite_query("and the 70B one?", conversation_after(), engine=ScriptedEngine([broken]))
    assert how == "rule"


def test_a_standalone_question_is_searched_as_asked_without_a_model_call():
    engine = ScriptedEngine(["never used"])
    question = "Which optimizer trained the Transformer base model?"
    assert rewrite_query(question, conversation_after(), engine=engine) == (question, "as-is")
    assert engine.calls == []


def test_the_first_question_of_a_conversation_is_searched_as_asked():
    assert rewrite_query("and the 70B one?", Conversation(), engine=ScriptedEngine()) == ("and the 70B one?", "as-is")


@pytest.mark.parametrize(
    "reply",
    ["", "and the 70B one?", "Tell me about Paris.", "GPU hours of Llama 2 70B?\nmore text " + "x" * 400],
)
def test_rewrites_that_drop_the_follow_up_or_add_no_context_are_rejected(reply):
    accepted = accept_rewrite(reply, "and the 70B one?", FIRST)
    if reply.startswith("GPU hours"):
        assert accepted == "GPU hours of Llama 2 70B?"  # the first line only
    else:
        assert accepted is None


def test_history_keeps_answered_exchanges_without_markers_oldest_first():
    conversation = Conversation()
    conversation.add(Turn("q1?", "q1?", "a1 [1]."))
    conversation.add(Turn("q2?", "q2?", "refusal.", refused=True))
    conversation.add(Turn("q3?", "q3?", "a3 [2][3]."))
    assert [(e.question, e.answer) for e in conversation.history(6)] == [("q1?", "a1."), ("q3?", "a3.")]
    assert [e.question for e in conversation.history(1)] == ["q3?"]
    assert conversation.history(0) == []


def test_reset_forgets_every_turn():
    conversation = conversation_after()
    conversation.reset()
    assert len(conversation) == 0 and conversation.last is None
