"""How the served model is driven (llm.server._prepare_served_model); the real server is tested end to end in
tests/integration/test_openai_engine.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")

from llama_cpp.server import app as server_app  # noqa: E402

from llm.prompt_prefix import StableStart  # noqa: E402
from llm.server import _prepare_served_model  # noqa: E402


END_OF_TURN = 0  # the stand-in's end-of-turn token: a prompt's stable start runs through the first 0


class RecordingLlama:
    """Stands in for llama_cpp.Llama: a token cache as llama-cpp-python keeps it, and a record of what was
    evaluated (``reset``, ``eval`` of a stable start, ``read`` of the rest by generate) and on which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[int, ...], int]] = []
        self.input_ids: list[int] = []
        self.n_tokens = 0

    def _record(self, name: str, tokens=()) -> None:
        self.events.append((name, tuple(tokens), threading.get_ident()))

    def reset(self) -> None:
        self.n_tokens = 0
        self._record("reset")

    def eval(self, tokens) -> None:
        self.input_ids[self.n_tokens :] = list(tokens)
        self.n_tokens += len(tokens)
        self._record("eval", tokens)

    def generate(self, tokens, *args, **kwargs):
        kept = 0  # llama-cpp-python keeps the longest prefix the cache shares with the new prompt
        while kept < min(self.n_tokens, len(tokens) - 1) and self.input_ids[kept] == tokens[kept]:
            kept += 1
        self.input_ids[kept:] = list(tokens[kept:])
        self.n_tokens = len(tokens)
        self._record("read", tokens[kept:])
        for token in tokens:
            self._record("step")
            yield token


class Proxy:
    def __init__(self, llama: RecordingLlama) -> None:
        self._current_model = llama


@pytest.fixture
def served(monkeypatch) -> RecordingLlama:
    llama = RecordingLlama()
    monkeypatch.setattr(server_app, "_llama_proxy", Proxy(llama), raising=False)
    _prepare_served_model(llama2=False, stable_start=StableStart(lambda token: token == END_OF_TURN))
    return llama


def evaluated(llama: RecordingLlama) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tokens) for name, tokens, _ in llama.events if name != "step"]


def test_every_step_runs_on_one_thread_whichever_thread_asks_for_it(served):
    tokens = served.generate([1, 2, 3, 4, 5, 6])
    with ThreadPoolExecutor(max_workers=4) as askers:  # the server hands the iterator between pool threads
        received = [askers.submit(next, tokens).result() for _ in range(6)]
    assert received == [1, 2, 3, 4, 5, 6]
    assert len({thread for _, _, thread in served.events}) == 1
    assert threading.get_ident() not in {thread for _, _, thread in served.events}


def test_a_stable_start_is_evaluated_on_its_own_once_and_kept_for_the_next_prompt(served):
    list(served.generate([5, 6, END_OF_TURN, 7, 8]))
    list(served.generate([5, 6, END_OF_TURN, 9]))
    assert evaluated(served) == [("reset", ()), ("eval", (5, 6, 0)), ("read", (7, 8)), ("read", (9,))]


def test_a_prompt_with_another_start_is_evaluated_from_an_empty_cache(served):
    list(served.generate([5, END_OF_TURN, 7]))
    list(served.generate([6, END_OF_TURN, 7]))
    assert evaluated(served)[3:] == [("reset", ()), ("eval", (6, 0)), ("read", (7,))]


def test_a_prompt_sharing_more_than_the_stable_start_still_reads_the_rest_in_full(served):
    list(served.generate([5, END_OF_TURN, 7, 8, 9]))
    list(served.generate([5, END_OF_TURN, 7, 8, 10]))
    assert evaluated(served)[-1] == ("read", (7, 8, 10))


def test_a_prompt_without_a_stable_start_is_evaluated_whole_from_an_empty_cache(served):
    list(served.generate([1, 2, 3]))
    list(served.generate([1, 2, 4]))
    assert evaluated(served) == [("reset", ()), ("read", (1, 2, 3)), ("reset", ()), ("read", (1, 2, 4))]


def test_a_generation_closed_early_stops_stepping(served):
    tokens = served.generate([1, 2, 3])
    assert next(tokens) == 1
    tokens.close()
    assert [name for name, _, _ in served.events] == ["reset", "read", "step"]
