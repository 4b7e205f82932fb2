"""Stop strings over streamed text: nothing from the stop on is emitted, however the text is split."""

from __future__ import annotations

import pytest

from llm.stops import StopScanner, apply_stops


def split_every(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_text_before_the_first_stop_is_emitted_whatever_the_chunking(size):
    text = "Answer: forty-two.\nUser: next question"
    assert "".join(apply_stops(split_every(text, size), ["\nUser:"])) == "Answer: forty-two."


def test_without_stops_everything_passes():
    assert list(apply_stops(["a", "b"], [])) == ["a", "b"]


def test_a_partial_stop_at_the_end_is_released_when_the_stream_ends():
    assert "".join(apply_stops(["hello wor"], ["world"])) == "hello wor"


def test_earliest_of_several_stops_wins():
    assert "".join(apply_stops(["x END y STOP z"], ["STOP", "END"])) == "x "


def test_consumption_stops_at_the_stop_string():
    seen = []

    def deltas():
        for d in ["a", "S", "TOP", "never"]:
            seen.append(d)
            yield d

    assert "".join(apply_stops(deltas(), ["STOP"])) == "a"
    assert "never" not in seen


def test_scanner_reports_stopped_and_ignores_later_text():
    scanner = StopScanner(["</answer>"])
    assert scanner.feed("yes</ans") == "yes"
    assert scanner.feed("wer> tail") == ""
    assert scanner.stopped
    assert scanner.feed("more") == "" and scanner.flush() == ""
