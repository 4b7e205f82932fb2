"""The answer pipeline: retrieve -> gate -> (refuse) -> grounded prompt -> engine -> citations -> grounding.

- A follow-up in a conversation is first rewritten into a standalone query (:mod:`rag.conversation`).
- When retrieval finds nothing, or the relevance gate says the evidence is insufficient, the fixed refusal
  sentence is returned at once: the model is neither loaded nor called.
- Otherwise the model reads the numbered passages (:mod:`rag.prompting`) and its answer streams out. Then
  its [n] markers are checked and uncited sentences attributed (:mod:`rag.citations`), every sentence gets a
  support score (:mod:`rag.grounding`), and ``min_support`` can turn a badly supported answer into a refusal.
  When no sentence of the reply is supported (and it is not a bare yes or no), the answer quotes the passage
  that supports the question best instead (:mod:`rag.evidence`; ``quote_unsupported``); ``reason`` says so.
  A model reply that is itself a refusal, or that is not in the language of a Chinese question, becomes the
  fixed refusal too.

:meth:`Answerer.ask` returns an :class:`AnswerStream`: iterate it for the text as it streams; once it is
exhausted, ``stream.answer`` is the final :class:`Answer`. The final ``answer.answer`` can differ from the
streamed text: citation markers are corrected, and a late refusal or a quote replaces the whole text.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator, Sequence

import numpy as np

from llm.chat_format import contains_control_tags
from llm.protocol import ChatEngine, GenerationParams
from rag.analysis import contains_cjk
from rag.citations import attribute, rewrite_markers, snippet, split_sentences
from rag.context import Passage, assemble, within_budget
from rag.conversation import Conversation, RewriteMode, Turn, looks_like_follow_up, rewrite_query
from rag.errors import InvalidQuestion
from rag.evidence import closest_evidence, gives_way_to_a_quote, quoted_answer
from rag.grounding import Grounding, PassageEmbedder, SupportConfig, assess, content_tokens, support_table
from rag.prompting import grounded_prompt
from rag.refusal import is_refusal, question_language, refusal_sentence
from rag.retrieval import SearchResult
from rag.settings import Settings
from rag.types import Hit

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000

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


@dataclass(frozen=True)
class AnswerConfig:
    """What the pipeline needs of the settings."""

    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 384
    seed: int = 0
    gate: bool = True
    min_support: float = 0.0
    quote_unsupported: bool = True
    history_turns: int = 6
    context_words: int = 350
    rewrite: RewriteMode = "auto"
    support: SupportConfig = field(default_factory=SupportConfig)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "AnswerConfig":
        values: dict[str, Any] = dict(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_new_tokens=settings.max_new_tokens,
            seed=settings.seed,
            gate=settings.gate,
            min_support=settings.min_support,
            quote_unsupported=settings.quote_unsupported,
            history_turns=settings.history_turns,
            context_words=settings.answer_context_words,
        )
        values.update(overrides)
        return cls(**values)

    @property
    def params(self) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, seed=self.seed
        )


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
    refused: bool
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

    @property
    def quoted(self) -> bool:
        """The answer quotes the passages instead of the model's unsupported reply."""
        return not self.refused and self.reason == QUOTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "reason": self.reason,
            "citations": [c.as_dict() for c in self.citations],
            "grounding": self.grounding.as_dict(),
            "timings": {key: round(float(self.timings.get(key, 0.0)), 4) for key in TIMING_KEYS},
        }


TIMING_KEYS = ("retrieve", "rerank", "first_token", "total")
_WORD = re.compile(r"\w+")


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


Search = Callable[[str], SearchResult]
EngineSource = Callable[[], ChatEngine]


def check_question(question: str) -> str:
    """The question, stripped; raises :class:`InvalidQuestion` for empty, huge or tag-carrying questions."""
    text = (question or "").strip()
    if not text:
        raise InvalidQuestion("the question is empty; ask something about your documents")
    if len(text) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is {len(text)} characters long; keep it under {MAX_QUESTION_CHARS}")
    if contains_control_tags(text):
        raise InvalidQuestion(
            "the question contains chat control tags such as [INST], <<SYS>> or </s>; remove them and ask again"
        )
    return text


class Answerer:
    """Answers questions from a search function, a chat engine (loaded only when needed) and an embedder."""

    def __init__(
        self,
        search: Search,
        engine: EngineSource | ChatEngine,
        embedder: PassageEmbedder | None,
        config: AnswerConfig = AnswerConfig(),
    ) -> None:
        self._search = search
        if hasattr(engine, "stream"):  # an engine, rather than a function that opens one when first needed
            self._engine_source: EngineSource = lambda: engine  # type: ignore[assignment,return-value]
        else:
            self._engine_source = engine  # type: ignore[assignment]
        self.embedder = embedder
        self.config = config

    @property
    def engine(self) -> ChatEngine:
        return self._engine_source()

    def ask(self, question: str, conversation: Conversation | None = None) -> AnswerStream:
        """Start answering; raises :class:`InvalidQuestion` at once for a question that cannot be asked."""
        text = check_question(question)
        return AnswerStream(self._run(text, conversation))

    def ask_once(self, question: str, conversation: Conversation | None = None) -> Answer:
        return self.ask(question, conversation).answer

    # --- the pipeline ------------------------------------------------------------------------------
    def _run(self, question: str, conversation: Conversation | None) -> Generator[str, None, Answer]:
        started = time.perf_counter()
        config = self.config
        language = question_language(question)
        timings = {key: 0.0 for key in TIMING_KEYS}

        needs_model = (
            conversation is not None and len(conversation) > 0 and config.rewrite in ("auto", "model")
            and looks_like_follow_up(question)
        )
        query, how = rewrite_query(
            question, conversation, engine=self.engine if needs_model else None, mode=config.rewrite
        )
        if how != "as-is":
            log.info("follow-up %r searched as %r (%s)", question, query, how)

        result = self._search(query)
        # retrieve: the whole search (fusion, hydration, relevance gate) except reranking, reported apart
        timings["rerank"] = float(result.timings.get("rerank", 0.0))
        searched = float(result.timings.get("total", result.timings.get("retrieve", 0.0)))
        timings["retrieve"] = max(0.0, searched - timings["rerank"])
        passages = within_budget(assemble(result.hits), config.context_words)
        answer = Answer(question=question, answer="", refused=False, query=query, language=language,
                        notes=list(result.notes), timings=timings)

        reason = ""
        if not passages:
            reason = NO_PASSAGES
        elif config.gate and result.answerable is False:
            reason = result.reason or "the documents do not hold enough evidence to answer"
        if reason:
            yield from self._refuse(answer, reason, started)
            self._remember(conversation, answer)
            return answer

        engine = self.engine
        history = conversation.history(config.history_turns) if conversation is not None else []
        prompt_question = question if how == "as-is" or history else query
        prompt = grounded_prompt(
            prompt_question, passages, engine, config.max_new_tokens, history=history, language=language
        )
        if prompt.masked_sentences:
            answer.notes.append(
                f"{prompt.masked_sentences} instruction-like sentence(s) in the passages were not shown to the model"
            )
        if prompt.plan.dropped_passages or prompt.plan.dropped_history:
            log.info("budget: dropped %d passages and %d history exchanges",
                     prompt.plan.dropped_passages, prompt.plan.dropped_history)

        pieces: list[str] = []
        answer.model_called = True
        answer.passages = list(prompt.passages)
        guard = RepetitionGuard()
        generation = engine.stream(prompt.messages, config.params)
        try:
            for piece in generation:
                if not piece:
                    continue
                if not pieces:
                    timings["first_token"] = time.perf_counter() - started
                pieces.append(piece)
                yield piece
                if guard.looping("".join(pieces)):
                    log.info("the model started repeating itself; generation stopped")
                    break
        finally:
            close = getattr(generation, "close", None)
            if close is not None:
                close()
        text = guard.cut("".join(pieces)).strip()
        self._finish(answer, text, result.hits)
        timings["total"] = time.perf_counter() - started
        if not timings["first_token"]:
            timings["first_token"] = timings["total"]
        self._remember(conversation, answer)
        return answer

    def _refuse(self, answer: Answer, reason: str, started: float) -> Iterator[str]:
        answer.answer = refusal_sentence(answer.language)
        answer.refused = True
        answer.reason = reason
        answer.timings["first_token"] = time.perf_counter() - started
        yield answer.answer
        answer.timings["total"] = time.perf_counter() - started

    def _finish(self, answer: Answer, text: str, hits: Sequence[Hit] = ()) -> None:
        """Citations, grounding and late refusals for the model's reply ``text`` to ``answer.passages``."""
        passages = answer.passages
        refusal = refusal_sentence(answer.language)
        if not text:
            answer.answer, answer.refused, answer.reason = refusal, True, EMPTY_ANSWER
            return
        if is_refusal(text):
            answer.answer, answer.refused, answer.reason = refusal, True, MODEL_REFUSED
            return
        if answer.language == "zh" and not contains_cjk(text):
            answer.answer, answer.refused, answer.reason = refusal, True, NOT_IN_LANGUAGE
            return
        support = self.config.support
        sentences = split_sentences(text)
        table = support_table([s.text for s in sentences], [p.text for p in passages], self.embedder, support,
                              question=f"{answer.question} {answer.query}")
        answer.grounding = assess([s.text for s in sentences], table, support)
        min_support = self.config.min_support
        if min_support > 0 and answer.grounding.supported < min_support:
            answer.answer, answer.refused = refusal, True
            answer.reason = (
                f"only {answer.grounding.supported:.0%} of the answer is supported by the passages "
                f"(min_support is {min_support:.0%})"
            )
            return
        if self.config.quote_unsupported and gives_way_to_a_quote(text, answer.grounding):
            if self._quote(answer, hits, table.piece_vectors):
                return
        attribution = attribute(sentences, table, support)
        answer.answer = rewrite_markers(text, sentences, attribution.per_sentence)
        first_citing = {}
        for s, numbers in enumerate(attribution.per_sentence):
            for n in numbers:
                first_citing.setdefault(n, s)
        for n in attribution.cited:
            passage = passages[n - 1]
            quote = table.snippets[first_citing[n]][n - 1] or passage.text
            claims = " ".join(s.text for s, numbers in zip(sentences, attribution.per_sentence) if n in numbers)
            answer.citations.append(citation(n, passage, hits, quote, claims))

    def _quote(self, answer: Answer, hits: Sequence[Hit], piece_vectors: np.ndarray | None) -> bool:
        """Answer with the window of ``answer.passages`` closest to the question, cited; False when none
        qualifies."""
        passages = answer.passages
        evidence = closest_evidence(answer.query or answer.question, [p.text for p in passages], self.embedder,
                                    self.config.support, piece_vectors)
        if evidence is None:
            return False
        answer.answer = quoted_answer(evidence, answer.language)
        answer.reason = QUOTED
        n = evidence.passage + 1
        answer.citations = [citation(n, passages[evidence.passage], hits, evidence.sentence, evidence.text)]
        return True

    @staticmethod
    def _remember(conversation: Conversation | None, answer: Answer) -> None:
        if conversation is not None:
            conversation.add(Turn(answer.question, answer.query, answer.answer, answer.refused))


def citation(n: int, passage: Passage, hits: Sequence[Hit], quote: str, claims: str) -> Citation:
    """Citation ``n`` of ``passage``: its pages (:func:`cited_pages`) and ``quote`` as the snippet."""
    return Citation(
        n=n,
        doc=passage.doc_id,
        title=passage.title or passage.file,
        pages=cited_pages(passage, hits, quote, claims),
        snippet=snippet(quote),
        file=passage.file,
    )


def cited_pages(passage: Passage, hits: Sequence[Hit], quote: str, claims: str) -> list[int]:
    """The pages a citation points to: those of the passage's chunk that holds the quoted sentence (the
    chunk spanning the fewest pages when several do), else of the chunk that shares most words with what the
    answer claims, else the whole passage's pages."""
    chunks = [h.chunk for h in hits if h.chunk_id in passage.chunk_ids]
    if not chunks:
        return passage.pages
    needle = " ".join(quote.split())
    holding = [c for c in chunks if needle and needle in " ".join(c.text.split())]
    if holding:
        best = min(holding, key=lambda c: (c.page_end - c.page_start, c.page_start))
        return best.pages
    wanted = content_tokens(claims) | content_tokens(quote)
    overlap = [(len(wanted & content_tokens(c.text)), -(c.page_end - c.page_start), c) for c in chunks]
    best_overlap, _, best = max(overlap, key=lambda item: (item[0], item[1]))
    return best.pages if best_overlap else passage.pages


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
