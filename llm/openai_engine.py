"""Chat engine over an OpenAI-compatible HTTP API (llama.cpp's or llama-cpp-python's server, vLLM, TGI, Ollama).

Two request shapes:

- ``llama-2``: the exact Llama 2 prompt (:func:`llm.chat_format.llama2_prompt_text`) sent to
  ``/v1/completions``. The text has ``<s>``/``</s>`` where BOS/EOS go, except the leading BOS that every such
  server adds itself, so the server's tokenizer reproduces Meta's token ids.
- ``template``: the messages sent to ``/v1/chat/completions``; the server applies the model's own template.

Both stream over server-sent events. Connection failures are retried, then reported as
:class:`~llm.errors.EngineUnavailable`, whose message names the URL and the setting that holds it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import Any, Iterator, Sequence

import httpx

from llm.chat_format import (
    LLAMA2,
    llama2_prompt_text,
    normalise_chat_format,
    prepare_messages,
    resolve_chat_format,
)
from llm.errors import EngineError, EngineUnavailable, PromptTooLong
from llm.protocol import GenerationParams, Message

log = logging.getLogger(__name__)

DEFAULT_URL_SETTING = "llm_url (RAG_LLM_URL)"

#: Sent with every generation request. llama-cpp-python's server defaults to a repeat penalty of 1.1 where the
#: in-process engine (and Meta's reference sampler) use none; servers that do not know the field ignore it.
DEFAULT_EXTRA_BODY: dict[str, Any] = {"repeat_penalty": 1.0}


def _root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class OpenAIEngine:
    """A model behind an OpenAI-compatible server. Thread-safe."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080/v1",
        *,
        model: str = "auto",
        api_key: str | None = None,
        chat_format: str = "auto",
        context_length: int = 4096,
        timeout: float = 120.0,
        connect_retries: int = 2,
        url_setting: str = DEFAULT_URL_SETTING,
        extra_body: dict[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url_setting = url_setting
        self.timeout = timeout
        self.extra_body = dict(DEFAULT_EXTRA_BODY if extra_body is None else extra_body)
        self._requested_format = normalise_chat_format(chat_format)
        self._model = None if model in ("", "auto") else model
        self._context_length = context_length
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport or httpx.HTTPTransport(retries=connect_retries),
        )
        self._lock = threading.Lock()
        self._resolved: tuple[str | None, str] | None = None
        self._counter: str | None = None  # which tokenize endpoint works: "extras", "llamacpp", "vllm", "estimate"
        self._count_offset = 0
        self.name = f"openai:{self._model or 'auto'}@{self.base_url}"

    # --- protocol ----------------------------------------------------------------------------------

    @property
    def context_length(self) -> int:
        return self._context_length

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> str:
        return "".join(self.stream(messages, params))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str]:
        prepared = prepare_messages(messages)
        model, chat_format = self._resolve()
        body: dict[str, Any] = {
            **self.extra_body,
            "max_tokens": params.max_new_tokens,
            "temperature": max(params.temperature, 0.0),
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": True,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if model:
            body["model"] = model
        if chat_format == LLAMA2:
            body["prompt"] = llama2_prompt_text(prepared, leading_bos=False)
            path, field = "/completions", "text"
        else:
            body["messages"] = [{"role": m.role, "content": m.content} for m in prepared]
            path, field = "/chat/completions", "content"
        url = self.base_url + path
        state = {"complete": False, "yielded": False}
        for text in self._sse(url, body, field, state):
            state["yielded"] = True
            yield text
        if not state["complete"]:
            if not state["yielded"]:
                # Some servers (llama-cpp-python) end the event stream silently when a request fails before
                # the first token, e.g. a prompt longer than the context. Ask again without streaming and
                # one token long to get the error itself.
                self._post_json(url, {**body, "stream": False, "max_tokens": 1})
            raise EngineError(f"the LLM server at {url} ended the answer early without saying why; see its log")

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            self._pick_counter()
        root = _root(self.base_url)
        if self._counter == "extras":  # llama-cpp-python; its count includes the BOS it adds
            counted = self._post_json(root + "/extras/tokenize/count", {"input": text})["count"]
            return max(0, int(counted) - self._count_offset)
        if self._counter == "llamacpp":  # llama.cpp's own server
            return len(self._post_json(root + "/tokenize", {"content": text})["tokens"])
        if self._counter == "vllm":
            return int(self._post_json(root + "/tokenize", self._vllm_tokenize_body(text))["count"])
        return math.ceil(len(text.encode("utf-8")) / 3)  # a safe over-estimate for budgeting

    def _vllm_tokenize_body(self, text: str) -> dict[str, Any]:
        return {"prompt": text, "add_special_tokens": False, **({"model": self._model} if self._model else {})}

    # --- helpers -----------------------------------------------------------------------------------

    @property
    def chat_format(self) -> str:
        return self._resolve()[1]

    def models(self) -> list[str]:
        """Model ids the server lists at ``/v1/models``."""
        data = self._get_json(self.base_url + "/models")
        return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]

    def _resolve(self) -> tuple[str | None, str]:
        with self._lock:
            if self._resolved is None:
                model = self._model
                if model is None:
                    try:
                        listed = self.models()
                    except EngineUnavailable:
                        raise
                    except EngineError as exc:
                        log.debug("cannot list models: %s", exc)
                        listed = []
                    model = listed[0] if listed else None
                # A served model has no visible template: 'auto' means llama-2 for Llama 2 chat models and the
                # server's own template for everything else.
                chat_format = resolve_chat_format(self._requested_format, model or "", has_template=True)
                self._resolved = (model, chat_format)
                if model and not self._model:
                    self.name = f"openai:{model}@{self.base_url}"
                log.info("LLM server %s: model %s, chat format %s", self.base_url, model or "(default)", chat_format)
            return self._resolved

    def _pick_counter(self) -> None:
        root = _root(self.base_url)
        probes = [
            ("extras", root + "/extras/tokenize/count", {"input": ""}),
            ("llamacpp", root + "/tokenize", {"content": ""}),
            ("vllm", root + "/tokenize", self._vllm_tokenize_body("")),
        ]
        for name, url, body in probes:
            try:
                data = self._post_json(url, body)
            except EngineUnavailable:
                raise
            except EngineError:
                continue
            if name == "extras" and "count" in data:
                self._counter, self._count_offset = name, int(data["count"])  # the BOS the server adds
                return
            if name == "llamacpp" and "tokens" in data:
                self._counter = name
                return
            if name == "vllm" and "count" in data:
                self._counter = name
                return
        log.warning("the LLM server at %s has no tokenize endpoint; token counts are estimated", self.base_url)
        self._counter = "estimate"

    def _unavailable(self, url: str, exc: Exception) -> EngineUnavailable:
        detail = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
        return EngineUnavailable(url, detail, setting=self.url_setting)

    def _raise_for_status(self, url: str, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        code, message = "", ""
        try:
            response.read()
            payload = response.json()
            error = payload.get("error", payload) if isinstance(payload, dict) else payload
            if isinstance(error, dict):
                code, message = str(error.get("code") or ""), str(error.get("message") or error)
            else:
                message = str(error)
        except (ValueError, httpx.HTTPError):
            try:
                message = response.text
            except httpx.HTTPError:
                message = ""
        message = " ".join(message.split())[:300]
        lowered = message.lower()
        if response.status_code in (401, 403):
            raise EngineError(
                f"the LLM server at {url} refused the request ({response.status_code}); "
                "check llm_api_key (RAG_LLM_API_KEY)"
            )
        if code == "context_length_exceeded" or (
            "context" in lowered and any(w in lowered for w in ("exceed", "too long", "maximum context"))
        ):
            raise PromptTooLong(f"the prompt does not fit the LLM server's context: {message}")
        raise EngineError(f"the LLM server at {url} answered HTTP {response.status_code}: {message}")

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._client.get(url)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._unavailable(url, exc) from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"request to the LLM server at {url} failed: {exc}") from exc
        self._raise_for_status(url, response)
        return response.json()

    def _post_json(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            try:
                response = self._client.post(url, json=body)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise self._unavailable(url, exc) from exc
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if attempt == 2:  # a kept-alive connection the server had dropped is retried once
                    raise EngineError(f"request to the LLM server at {url} failed: {exc}") from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"request to the LLM server at {url} failed: {exc}") from exc
        self._raise_for_status(url, response)
        try:
            return response.json()
        except ValueError as exc:
            raise EngineError(f"the LLM server at {url} did not answer JSON") from exc

    def _sse(self, url: str, body: dict[str, Any], field: str, state: dict[str, bool]) -> Iterator[str]:
        """Yield text deltas; sets ``state["complete"]`` on ``[DONE]`` or a finish reason."""
        try:
            with self._client.stream("POST", url, json=body) as response:
                self._raise_for_status(url, response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # comments (": ping"), event names, blank separators
                    data = line[5:].strip()
                    if data == "[DONE]":
                        state["complete"] = True
                        return
                    if not data:
                        continue
                    try:
                        event = json.loads(data)
                    except ValueError:
                        log.debug("skipping a malformed SSE event: %r", data[:200])
                        continue
                    if "error" in event:
                        error = event["error"]
                        message = error.get("message", error) if isinstance(error, dict) else error
                        raise EngineError(f"the LLM server at {url} failed while answering: {message}")
                    for choice in event.get("choices") or []:
                        if choice.get("index", 0) != 0:
                            continue
                        if choice.get("finish_reason"):
                            state["complete"] = True
                        text = (choice.get("delta") or {}).get(field) if field == "content" else choice.get(field)
                        if text:
                            yield text
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._unavailable(url, exc) from exc
        except httpx.TimeoutException as exc:
            raise EngineError(
                f"the LLM server at {url} did not answer within {self.timeout:g} s; raise llm_timeout "
                "or use a smaller model"
            ) from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"the connection to the LLM server at {url} failed: {exc}") from exc

    def close(self) -> None:
        self._client.close()
