"""How the served model is driven (llm.server._prepare_served_model); the real server is tested end to end in
tests/integration/test_openai_engine.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")

from llama_cpp.server import app as server_app  # noqa: E402

from llm.server import _prepare_served_model  # noqa: E402


class RecordingLlama:
    """Stands in for llama_cpp.Llama: records which thread runs each step of a generation."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def reset(self) -> None:
        self.events.append(("reset", threading.get_ident()))

    def generate(self, tokens, *args, **kwargs):
        for token in tokens:
            self.events.append(("step", threading.get_ident()))
            yield token


class Proxy:
    def __init__(self, llama: RecordingLlama) -> None:
        self._current_model = llama


@pytest.fixture
def served(monkeypatch) -> RecordingLlama:
    llama = RecordingLlama()
    monkeypatch.setattr(server_app, "_llama_proxy", Proxy(llama), raising=False)
    _prepare_served_model()
    return llama


def test_every_step_runs_on_one_thread_whichever_thread_asks_for_it(served):
    tokens = served.generate([1, 2, 3, 4, 5, 6])
    with ThreadPoolExecutor(max_workers=4) as askers:  # the server hands the iterator between pool threads
        received = [askers.submit(next, tokens).result() for _ in range(6)]
    assert received == [1, 2, 3, 4, 5, 6]
    assert len({thread for _, thread in served.events}) == 1
    assert threading.get_ident() not in {thread for _, thread in served.events}


def test_every_generation_starts_from_an_empty_cache(served):
    list(served.generate([7, 8]))
    list(served.generate([9]))
    assert [name for name, _ in served.events] == ["reset", "step", "step", "reset", "step"]


def test_a_generation_closed_early_stops_stepping(served):
    tokens = served.generate([1, 2, 3])
    assert next(tokens) == 1
    tokens.close()
    assert [name for name, _ in served.events] == ["reset", "step"]
