"""Stop strings over a stream of text: emit everything up to the first stop, never a stop's beginning."""

from __future__ import annotations

from typing import Iterable, Iterator


class StopScanner:
    """Feed text deltas; get back text that is safe to emit and whether a stop string was reached.

    Text that could be the beginning of a stop string is held back until the next delta decides it.
    The stop string itself is never emitted (OpenAI semantics).
    """

    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return delta
        text = self._held + delta
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(text)), keep, -1):
                if text.endswith(s[:n]):
                    keep = n
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The held-back text once the stream has ended without reaching a stop."""
        held, self._held = self._held, ""
        return "" if self.stopped else held


def apply_stops(deltas: Iterable[str], stops: Iterable[str]) -> Iterator[str]:
    """Yield non-empty deltas up to (not including) the first stop string, then stop consuming."""
    scanner = StopScanner(stops)
    for delta in deltas:
        out = scanner.feed(delta)
        if out:
            yield out
        if scanner.stopped:
            return
    rest = scanner.flush()
    if rest:
        yield rest
