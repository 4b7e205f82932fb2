"""Errors raised by the engines. The application maps them to its own user-facing errors."""

from __future__ import annotations


class EngineError(RuntimeError):
    """A chat engine failed. The message is one line a user can act on."""


class EngineUnavailable(EngineError):
    """The model server cannot be reached (connection refused, DNS, timeout while connecting).

    ``url`` is the address that was tried and ``setting`` the setting that holds it.
    """

    def __init__(self, url: str, detail: str, setting: str = "llm_url (RAG_LLM_URL)") -> None:
        super().__init__(
            f"no OpenAI-compatible LLM server answers at {url} ({detail}); "
            f"start one with 'rag serve-llm' or point {setting} at a running server"
        )
        self.url = url
        self.detail = detail
        self.setting = setting


class ModelNotFound(EngineError):
    """A model file, directory or packaged default cannot be found."""


class ChatFormatError(ValueError):
    """The messages cannot be formatted: wrong role order, or a forbidden control tag in the text."""


class PromptTooLong(ValueError):
    """Even with every optional part dropped, the prompt does not fit the context window."""
