"""The HTTP engine end to end: ``rag serve-llm`` serving SmolLM2 on a free port, streamed over SSE."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from llm.config import EngineConfig
from llm.errors import EngineUnavailable, PromptTooLong
from llm.factory import open_engine
from llm.openai_engine import OpenAIEngine
from llm.protocol import ChatEngine, GenerationParams, Message
from tests.servers import ServerProcess, _http_get, _start, _start_on_free_port, free_port

REPO = Path(__file__).resolve().parents[2]
QUESTION = [Message("system", "You are a helpful assistant."), Message("user", "Name three colours of the rainbow.")]
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=40)
CONTEXT = 2048


def _models_listed(url: str) -> bool:
    answer = _http_get(url + "/models")
    return answer is not None and answer[0] == 200


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """RAG_HOME of the server: where it keeps the Q8_0 copy of SmolLM2 that both engines load."""
    return tmp_path_factory.mktemp("llm-home")


@pytest.fixture(scope="module")
def server(smollm2_gguf, home, tmp_path_factory) -> ServerProcess:
    logs = tmp_path_factory.mktemp("llm-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        RAG_HOME=str(home),
        RAG_LLM_MODEL=str(smollm2_gguf),
        RAG_THREADS="1",
        RAG_LLM_CONTEXT=str(CONTEXT),
    )

    def start(port: int) -> ServerProcess:
        # The product's own command, as a user starts it: `rag serve-llm` (settings from RAG_* variables).
        command = [sys.executable, "-m", "app.cli", "serve-llm", "--port", str(port)]
        return _start(
            "rag serve-llm", command, f"http://127.0.0.1:{port}/v1", _models_listed,
            logs / f"server-{port}.log", timeout=120.0, env=env,
        )  # fmt: skip

    process = _start_on_free_port(start)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def engine(server) -> OpenAIEngine:
    engine = OpenAIEngine(server.url, context_length=CONTEXT, timeout=120.0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def in_process(smollm2_gguf, home, server):
    from llm.llamacpp_engine import LlamaCppEngine

    # The same weights as the server (its Q8_0 copy, made when it started) and the same threads.
    engine = LlamaCppEngine(smollm2_gguf, context_length=CONTEXT, threads=1, fast_copy_dir=home / "models")
    yield engine
    engine.close()


@pytest.mark.server
def test_engine_implements_the_protocol_and_finds_the_served_model(engine, smollm2_gguf):
    assert isinstance(engine, ChatEngine)
    assert engine.models() == [smollm2_gguf.name]
    assert engine.chat_format == "template"
    assert smollm2_gguf.name in engine.name


@pytest.mark.server
def test_chat_completion_streams_in_several_chunks(engine):
    chunks = list(engine.stream(QUESTION, GREEDY))
    assert len(chunks) > 1
    assert "".join(chunks).strip()


@pytest.mark.server
def test_the_server_loads_smollm2_from_a_q8_0_copy_in_its_home(server, home):
    assert [p.suffixes[-2:] for p in (home / "models").iterdir()] == [[".Q8_0", ".gguf"]]


@pytest.mark.server
def test_served_answer_equals_the_in_process_answer(engine, in_process):
    assert engine.generate(QUESTION, GREEDY) == in_process.generate(QUESTION, GREEDY)


@pytest.mark.server
def test_generate_equals_the_joined_stream(engine):
    assert engine.generate(QUESTION, GREEDY) == "".join(engine.stream(QUESTION, GREEDY))


@pytest.mark.server
def test_stop_string_is_honoured_by_the_server(engine):
    full = engine.generate(QUESTION, GREEDY)
    words = full.split()
    assert len(words) >= 3, full
    stop = words[len(words) // 2]
    assert engine.generate(QUESTION, GenerationParams(max_new_tokens=40, stop=(stop,))) == full[: full.index(stop)]


@pytest.mark.server
def test_max_new_tokens_bounds_the_answer(engine):
    assert 1 <= len(list(engine.stream(QUESTION, GenerationParams(max_new_tokens=4)))) <= 4


@pytest.mark.server
def test_count_tokens_agrees_with_the_model_tokenizer(engine, in_process):
    for text in ["", "Hello world", "Passage [1]: NIST SP 800-57 recommends 2048-bit RSA keys."]:
        assert engine.count_tokens(text) == in_process.count_tokens(text)


@pytest.mark.server
def test_prompt_longer_than_the_server_context_is_reported(engine):
    with pytest.raises(PromptTooLong):
        engine.generate([Message("user", "word " * 3000)], GREEDY)


@pytest.mark.server
def test_factory_opens_the_http_engine(server):
    engine = open_engine(EngineConfig(backend="openai", url=server.url, context_length=CONTEXT))
    try:
        assert isinstance(engine, OpenAIEngine)
        assert engine.generate(QUESTION, GenerationParams(max_new_tokens=4))
    finally:
        engine.close()


def test_nothing_listening_gives_a_clear_error_naming_the_url_setting():
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = OpenAIEngine(url, model="some-model", connect_retries=1, timeout=5.0)
    with pytest.raises(EngineUnavailable) as caught:
        engine.generate(QUESTION, GREEDY)
    message = str(caught.value)
    assert url in message and "RAG_LLM_URL" in message and "rag serve-llm" in message
    assert "\n" not in message
