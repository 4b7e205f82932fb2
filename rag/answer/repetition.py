"""Stopping a small model that loops, and cutting the loop from its answer."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


class RepetitionGuard:
    """Notices when a small model starts looping ("a metal structure that holds a boiler, which is a metal
    structure that holds a boiler ..."), so generation can stop and the loop be cut from the answer."""

    def __init__(self, ngram: int = 10) -> None:
        self.ngram = ngram
        self._loop_start: int | None = None

    def _words(self, text: str) -> list[re.Match[str]]:
        return list(_WORD.finditer(text))

    def looping(self, text: str) -> bool:
        """True once the last ``ngram`` words already occurred earlier in ``text`` (numbers count as one
        word, so numbered lists of the same line loop too)."""
        words = self._words(text)
        if len(words) < 2 * self.ngram:
            return False
        lowered = ["#" if w.group().isdigit() else w.group().lower() for w in words]
        tail = lowered[-self.ngram :]
        for i in range(len(lowered) - 2 * self.ngram + 1):
            if lowered[i : i + self.ngram] == tail:
                # the loop began where the repeat of the earlier occurrence began
                repeat_start = len(lowered) - self.ngram
                first = i
                while first > 0 and repeat_start > i + self.ngram and lowered[first - 1] == lowered[repeat_start - 1]:
                    first -= 1
                    repeat_start -= 1
                self._loop_start = words[repeat_start].start()
                return True
        return False

    def cut(self, text: str) -> str:
        """``text`` without the loop: cut at the last sentence end before the repetition began."""
        if self._loop_start is None:
            return text
        head = text[: self._loop_start]
        end = max(head.rfind(mark) for mark in (". ", "! ", "? ", ".\n", "\u3002", "\uff01", "\uff1f"))
        return head[: end + 1] if end > 0 else head
