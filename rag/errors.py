"""Errors the product raises on purpose. Each carries a message a user can act on."""

from __future__ import annotations


class RagError(Exception):
    """Base class: an expected failure with a clear, one-line message."""


class ConfigError(RagError):
    """A setting is wrong or missing. The message names the setting to change."""


class BackendUnavailable(RagError):
    """A store or server cannot be reached. The message names the backend and the setting."""

    def __init__(self, backend: str, setting: str, detail: str) -> None:
        super().__init__(f"{backend} is unreachable ({detail}); check {setting}")
        self.backend = backend
        self.setting = setting
        self.detail = detail


class DocumentError(RagError):
    """A file cannot be ingested. The message is the one-line reason shown to the user."""


class IngestLocked(RagError):
    """Another ingestion process holds the lock."""


class ModelUnavailable(RagError):
    """A model cannot be loaded. The message names the setting to change."""


class InvalidQuestion(RagError):
    """A question that cannot be asked (empty, too long, or carrying chat control tags)."""
