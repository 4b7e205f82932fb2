"""Errors the product raises on purpose: one tree under :class:`RagError`, each with a message a user can act
on (one line, naming the setting to change). Front ends catch ``RagError``; anything else is a bug.

The chat engine (``llm``) imports nothing of ours, so its errors have their own base; :func:`engine_errors`
turns them into this tree where the product calls the engine.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from llm.errors import ChatFormatError, EngineError, EngineUnavailable, ModelNotFound, PromptTooLong


class RagError(Exception):
    """Base class: an expected failure with a clear, one-line message."""


class ConfigError(RagError):
    """A setting is wrong or missing. The message names the setting to change."""


class BackendUnavailable(RagError):
    """A store or server cannot be reached. The message names the backend and the setting."""

    def __init__(self, backend: str, setting: str, detail: str, message: str | None = None) -> None:
        super().__init__(message or f"{backend} is unreachable ({detail}); check {setting}")
        self.backend = backend
        self.setting = setting
        self.detail = detail


class DocumentError(RagError):
    """A file cannot be ingested. The message is the one-line reason shown to the user."""


class UnknownDocument(RagError):
    """A document named by the user (``--doc``, ``rag docs remove``) is not in the library."""


class IngestLocked(RagError):
    """Another ingestion process holds the lock."""


class ModelUnavailable(RagError):
    """A model cannot be loaded. The message names the setting to change."""


class InvalidQuestion(RagError):
    """A question that cannot be asked (empty, too long, or carrying chat control tags)."""


class EngineFailed(RagError):
    """The chat engine failed while answering (the message says what to change)."""


class PromptDoesNotFit(RagError):
    """Even with every optional part dropped, the prompt does not fit the model's context window."""


@contextmanager
def engine_errors() -> Iterator[None]:
    """Inside this block, the chat engine's errors (``llm.errors``) are raised as :class:`RagError`s with the
    same message: an unreachable server as :class:`BackendUnavailable`, a missing model as
    :class:`ModelUnavailable`, a prompt too long as :class:`PromptDoesNotFit`."""
    try:
        yield
    except EngineUnavailable as exc:
        raise BackendUnavailable("the LLM server", exc.setting, exc.detail, str(exc)) from exc
    except ModelNotFound as exc:
        raise ModelUnavailable(str(exc)) from exc
    except EngineError as exc:
        raise EngineFailed(str(exc)) from exc
    except PromptTooLong as exc:
        raise PromptDoesNotFit(str(exc)) from exc
    except ChatFormatError as exc:
        raise InvalidQuestion(str(exc)) from exc
