"""The HTTP engine's side of the OpenAI-compatible protocol, against scripted servers (httpx.MockTransport).

The real llama-cpp-python server is exercised in tests/integration/test_openai_engine.py; these cover what
other servers (vLLM, TGI, Ollama) do differently and the failure answers that are hard to provoke for real.
"""

from __future__ import annotations

import json

import httpx
import pytest

from llm.chat_format import llama2_prompt_text
from llm.errors import EngineError, PromptTooLong
from llm.openai_engine import OpenAIEngine
from llm.protocol import GenerationParams, Message

URL = "http://llm.test/v1"
QUESTION = [Message("system", "Be brief."), Message("user", "Hi?")]


def sse(*events: object, done: bool = True) -> bytes:
    lines = [": ping", ""]
    for event in events:
        lines += [f"data: {json.dumps(event)}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    return "\n".join(lines).encode()


def completion_chunk(text: str, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "text": text, "finish_reason": finish}]}


def chat_chunk(text: str, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


class Server:
    """A scripted server: a list of models and a handler per path; records every request."""

    def __init__(self, models=("some-model",), **routes):
        self.models = list(models)
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": m} for m in self.models]})
        if path in self.routes:
            return self.routes[path](request)
        return httpx.Response(404, json={"error": {"message": f"no route {path}"}})

    def engine(self, **kwargs) -> OpenAIEngine:
        return OpenAIEngine(URL, transport=httpx.MockTransport(self), **kwargs)

    def bodies(self, path: str) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


def test_llama2_chat_models_get_the_exact_prompt_on_the_completions_endpoint():
    server = Server(
        models=["llama-2-7b-chat.Q4_0.gguf"],
        **{
            "/v1/completions": lambda r: httpx.Response(
                200, content=sse(completion_chunk("Hel"), completion_chunk("lo"))
            )
        },
    )
    engine = server.engine()
    assert engine.generate(QUESTION, GenerationParams(max_new_tokens=9, stop=("\n",))) == "Hello"
    (body,) = server.bodies("/v1/completions")
    assert body["prompt"] == llama2_prompt_text(QUESTION, leading_bos=False)
    assert not body["prompt"].startswith("<s>")  # the server adds BOS itself
    assert body["model"] == "llama-2-7b-chat.Q4_0.gguf"
    assert (body["max_tokens"], body["stop"], body["stream"]) == (9, ["\n"], True)


def test_other_models_get_their_own_template_on_the_chat_endpoint():
    server = Server(
        models=["Qwen2-7B-Instruct"],
        **{
            "/v1/chat/completions": lambda r: httpx.Response(200, content=sse(chat_chunk("A"), chat_chunk("B", "stop")))
        },
    )
    assert list(server.engine().stream(QUESTION, GenerationParams())) == ["A", "B"]
    (body,) = server.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def test_a_forced_chat_format_and_model_skip_the_model_listing():
    server = Server(**{"/v1/completions": lambda r: httpx.Response(200, content=sse(completion_chunk("x")))})
    server.engine(model="mine", chat_format="llama-2").generate(QUESTION, GenerationParams())
    assert [r.url.path for r in server.requests] == ["/v1/completions"]


def test_the_api_key_is_sent_as_a_bearer_token():
    server = Server(**{"/v1/chat/completions": lambda r: httpx.Response(200, content=sse(chat_chunk("ok")))})
    server.engine(api_key="s3cret").generate(QUESTION, GenerationParams())
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in server.requests)


def test_a_refused_api_key_names_the_setting():
    server = Server(**{"/v1/chat/completions": lambda r: httpx.Response(401, json={"error": {"message": "bad key"}})})
    with pytest.raises(EngineError, match="llm_api_key"):
        server.engine(model="m").generate(QUESTION, GenerationParams())


def test_an_error_event_in_the_stream_is_raised():
    server = Server(
        **{
            "/v1/chat/completions": lambda r: httpx.Response(
                200, content=sse(chat_chunk("par"), {"error": {"message": "out of memory"}})
            )
        }
    )
    with pytest.raises(EngineError, match="out of memory"):
        server.engine(model="m").generate(QUESTION, GenerationParams())


def test_a_context_overflow_answer_becomes_prompt_too_long():
    server = Server(
        **{
            "/v1/chat/completions": lambda r: httpx.Response(
                400, json={"error": {"message": "too big", "code": "context_length_exceeded"}}
            )
        }
    )
    with pytest.raises(PromptTooLong):
        server.engine(model="m").generate(QUESTION, GenerationParams())


def test_a_stream_that_ends_silently_is_an_error_not_an_empty_answer():
    server = Server(
        **{
            "/v1/chat/completions": lambda r: (
                httpx.Response(200, content=sse(done=False))
                if json.loads(r.content)["stream"]
                else httpx.Response(200, json={})
            )
        }
    )
    with pytest.raises(EngineError, match="ended the answer early"):
        server.engine(model="m").generate(QUESTION, GenerationParams())


def test_a_finish_reason_completes_a_stream_without_done():
    server = Server(
        **{"/v1/chat/completions": lambda r: httpx.Response(200, content=sse(chat_chunk("fine", "stop"), done=False))}
    )
    assert server.engine(model="m").generate(QUESTION, GenerationParams()) == "fine"


def test_count_tokens_uses_vllm_tokenize_when_that_is_what_the_server_has():
    def vllm_tokenize(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "prompt" not in body:
            return httpx.Response(422, json={"detail": "field required: prompt"})
        return httpx.Response(200, json={"count": len(body["prompt"].split()), "tokens": []})

    server = Server(**{"/tokenize": vllm_tokenize})
    assert server.engine(model="m").count_tokens("one two three") == 3


def test_count_tokens_estimates_without_a_tokenize_endpoint():
    engine = Server().engine(model="m")
    assert engine.count_tokens("x" * 30) == 10
    assert engine.count_tokens("") == 0
