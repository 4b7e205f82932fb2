"""Workspaces for web sessions: one shared workspace per process, and light variants with a session's settings.

The sidebar lets a browser session change a few settings (retrieval mode, top-k, reranker on or off,
temperature). A session workspace built with them has its own retriever and answerer, and borrows every
heavy part of the shared workspace: the embedding model, the chat model, the stores, the relevance gate, and
the cross-encoder unless the session turned reranking on or off.
"""

from __future__ import annotations

from typing import Any

from rag.settings import load_settings
from rag.workspace import Workspace

# Settings a session may change: none of them changes how a shared part is built.
SESSION_SETTINGS = frozenset({"retrieval_mode", "top_k", "reranker", "temperature"})


class SessionWorkspace(Workspace):
    """A workspace with its own settings whose models and stores are those of ``shared``."""

    def __init__(self, shared: Workspace, **overrides: Any) -> None:
        unknown = set(overrides) - SESSION_SETTINGS
        if unknown:
            raise ValueError(f"a session cannot change {', '.join(sorted(unknown))}")
        super().__init__(load_settings(**{**shared.settings.model_dump(), **overrides}))
        self.shared = shared

    embedder = property(lambda self: self.shared.embedder)
    engine = property(lambda self: self.shared.engine)
    catalog = property(lambda self: self.shared.catalog)
    keyword = property(lambda self: self.shared.keyword)
    vectors = property(lambda self: self.shared.vectors)
    stores = property(lambda self: self.shared.stores)
    gate_calibration = property(lambda self: self.shared.gate_calibration)
    gate = property(lambda self: self.shared.gate)

    @property
    def reranker_choice(self):  # noqa: ANN201 - rag.rerank.RerankerChoice
        """The shared cross-encoder, unless this session turned reranking on or off."""
        if self.settings.reranker == self.shared.settings.reranker:
            return self.shared.reranker_choice
        if "_reranker_choice" not in self.__dict__:
            self.__dict__["_reranker_choice"] = Workspace.reranker_choice.func(self)  # type: ignore[attr-defined]
        return self.__dict__["_reranker_choice"]

    def close(self) -> None:
        """Drop this session's own parts; the shared ones belong to the shared workspace."""
        for name in ("retriever", "answerer", "_reranker_choice"):
            self.__dict__.pop(name, None)


def session_workspace(shared: Workspace, overrides: dict[str, Any]) -> Workspace:
    """``shared`` itself when nothing is overridden, else a :class:`SessionWorkspace`."""
    changed = {k: v for k, v in overrides.items() if getattr(shared.settings, k) != v}
    return SessionWorkspace(shared, **changed) if changed else shared
