"""One error tree: every failure a user can meet is a RagError with the engine's one-line message."""

from __future__ import annotations

import pytest

from llm.errors import ChatFormatError, EngineError, EngineUnavailable, ModelNotFound, PromptTooLong
from rag.answer.pipeline import AnswerConfig, Answerer
from rag.errors import (
    BackendUnavailable,
    EngineFailed,
    InvalidQuestion,
    ModelUnavailable,
    PromptDoesNotFit,
    RagError,
    engine_errors,
)
from tests.fixtures.answering import StubSearch
from tests.fixtures.scripted_engine import ScriptedEngine


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (EngineUnavailable("http://127.0.0.1:9/v1", "connection refused"), BackendUnavailable),
        (ModelNotFound("GGUF model file not found: x.gguf; set llm_model"), ModelUnavailable),
        (EngineError("the server ended the answer early"), EngineFailed),
        (PromptTooLong("the prompt does not fit; lower max_new_tokens"), PromptDoesNotFit),
        (ChatFormatError("a user turn must come first"), InvalidQuestion),
    ],
)
def test_each_engine_error_becomes_a_rag_error_with_the_same_message(raised, expected):
    with pytest.raises(expected) as caught:
        with engine_errors():
            raise raised
    assert isinstance(caught.value, RagError)
    assert str(caught.value) == str(raised)
    assert caught.value.__cause__ is raised


def test_an_unreachable_llm_server_is_a_backend_outage_naming_its_setting():
    with pytest.raises(BackendUnavailable) as caught:
        with engine_errors():
            raise EngineUnavailable("http://127.0.0.1:9/v1", "connection refused")
    assert caught.value.setting == "llm_url (RAG_LLM_URL)" and "RAG_LLM_URL" in str(caught.value)


class _DownEngine(ScriptedEngine):
    """An engine whose server went away after the prompt was built."""

    def stream(self, messages, params):  # noqa: ANN001, ANN201
        raise EngineUnavailable("http://127.0.0.1:9/v1", "connection refused")
        yield ""  # a generator, like every engine's stream


def test_the_answer_pipeline_raises_engine_failures_as_rag_errors():
    answerer = Answerer(StubSearch(), _DownEngine(), None, AnswerConfig())
    with pytest.raises(BackendUnavailable, match="RAG_LLM_URL"):
        answerer.ask_once("How many attention heads does the Transformer use?")


def test_an_engine_that_cannot_be_opened_is_a_rag_error_too():
    def opens() -> ScriptedEngine:
        raise ModelNotFound("GGUF model file not found: missing.gguf; set llm_model to a .gguf file or 'auto'")

    answerer = Answerer(StubSearch(), opens, None, AnswerConfig())
    with pytest.raises(ModelUnavailable, match="llm_model"):
        answerer.ask_once("How many attention heads does the Transformer use?")
