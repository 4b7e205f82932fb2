"""What the answer pipeline produces: an answer with its citations, and the stream it arrives in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generator, Iterator

from rag.answer.context import Passage
from rag.answer.grounding import Grounding
from rag.types import DocumentRecord, documents_as_json

TIMING_KEYS = ("retrieve", "rerank", "first_token", "total")

# Reasons for refusing (the ``reason`` field).
NO_PASSAGES = "no passage of your documents matches the question"
MODEL_REFUSED = "the model found no answer in the passages"
EMPTY_ANSWER = "the model returned no answer"
NOT_IN_LANGUAGE = "the model did not answer in the language of the question"
# Why an answer is a quote of the passages rather than the model's text (``reason`` of an answer not refused).
QUOTED = (
    "no sentence of the model's answer is supported by the passages: the passage closest to the question is "
    "quoted instead"
)
QUOTED_NO_FIGURE = (
    "the question asks for a figure and the model's answer gives none: the passage closest to the question that "
    "gives one is quoted instead"
)
QUOTED_OTHER_LANGUAGE = (
    "the model did not answer in the language of the question: the passage closest to the question is quoted "
    "instead"
)


class AnswerKind(str, Enum):
    """What an answer is: the model's (checked) reply, a quote of the passages, or the refusal sentence."""

    ANSWERED = "answered"
    QUOTED = "quoted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Citation:
    n: int  # the passage number the answer's [n] markers use
    doc: str  # document id
    title: str
    pages: list[int]
    snippet: str  # the passage's sentence closest to what the answer says
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "doc": self.doc, "title": self.title, "pages": list(self.pages), "snippet": self.snippet}


@dataclass
class Answer:
    """A finished answer. :meth:`as_dict` is the JSON contract of ``rag ask --json``."""

    question: str
    answer: str
    kind: AnswerKind = AnswerKind.ANSWERED
    reason: str = ""
    citations: list[Citation] = field(default_factory=list)
    grounding: Grounding = field(default_factory=Grounding)
    timings: dict[str, float] = field(default_factory=dict)  # retrieve, rerank, first_token, total (seconds)
    query: str = ""  # the standalone query retrieval used
    language: str = "en"
    model_called: bool = False
    notes: list[str] = field(default_factory=list)
    # the passages the model read, numbered as in its prompt (citation n is passages[n - 1]); empty when refused
    # before the model was called. Not part of the JSON contract.
    passages: list[Passage] = field(default_factory=list, repr=False)
    docs: list[DocumentRecord] | None = None  # the documents the question was restricted to (None: all)

    @property
    def refused(self) -> bool:
        """The answer is the fixed refusal sentence (``reason`` says why)."""
        return self.kind is AnswerKind.REFUSED

    @property
    def quoted(self) -> bool:
        """The answer quotes the passages instead of the model's unsupported reply."""
        return self.kind is AnswerKind.QUOTED

    def refuse(self, sentence: str, reason: str) -> None:
        """Make this the refusal ``sentence``, for ``reason``."""
        self.answer, self.kind, self.reason = sentence, AnswerKind.REFUSED, reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "reason": self.reason,
            "citations": [c.as_dict() for c in self.citations],
            "grounding": self.grounding.as_dict(),
            "timings": {key: round(float(self.timings.get(key, 0.0)), 4) for key in TIMING_KEYS},
            "docs": documents_as_json(self.docs),
        }


class AnswerStream:
    """The text of an answer as it streams; ``.answer`` is the final :class:`Answer` once it is exhausted.

    Reading ``.answer`` before the end consumes the rest of the stream.
    """

    def __init__(self, steps: Generator[str, None, Answer]) -> None:
        self._steps = steps
        self._answer: Answer | None = None
        self.pieces: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._answer is not None:
            raise StopIteration
        try:
            piece = next(self._steps)
        except StopIteration as stop:
            self._answer = stop.value
            raise StopIteration from None
        self.pieces.append(piece)
        return piece

    @property
    def done(self) -> bool:
        return self._answer is not None

    @property
    def answer(self) -> Answer:
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer

    @property
    def text(self) -> str:
        """What has streamed so far."""
        return "".join(self.pieces)

    def close(self) -> None:
        """Stop early (the model stops generating); no answer is recorded."""
        self._steps.close()
