"""The answer pipeline: search (retrieval and the relevance gate) -> (refuse) -> grounded prompt -> engine ->
citations -> grounding.

- A follow-up in a conversation is first rewritten into a standalone query (:mod:`rag.answer.conversation`).
- When retrieval finds nothing, or the relevance gate says the evidence is insufficient, the fixed refusal
  sentence is returned at once: the model is neither loaded nor called.
- Otherwise the model reads the numbered passages (:mod:`rag.answer.prompting`) and its answer streams out.
  Then its [n] markers are checked and uncited sentences attributed (:mod:`rag.answer.citations`), every
  sentence gets a support score (:mod:`rag.answer.grounding`), and ``min_support`` can turn a badly supported
  answer into a refusal. When no sentence of the reply is supported (and it is not a bare yes or no), the
  answer quotes the passage window that supports the question best and holds the kind of answer it asks for
  instead (:mod:`rag.answer.quote`; ``quote_unsupported``), or is refused when there is none; ``reason`` says
  so. A reply that is not in the language of a Chinese question gives
  way to that quote too, with a Chinese lead-in, and to the refusal when no passage supports the question. A
  model reply that is itself a refusal becomes the fixed refusal.

:meth:`Answerer.ask` returns an :class:`AnswerStream`: iterate it for the text as it streams; once it is
exhausted, ``stream.answer`` is the final :class:`Answer`. The final ``answer.answer`` can differ from the
streamed text: citation markers are corrected, and a late refusal or a quote replaces the whole text.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator, Protocol, Sequence

import numpy as np

from llm.chat_format import contains_control_tags
from llm.protocol import ChatEngine, GenerationParams
from rag.answer.citations import attribute, citation, rewrite_markers, split_sentences
from rag.answer.context import assemble, within_budget
from rag.answer.conversation import (
    Conversation,
    RewriteMode,
    Turn,
    looks_like_follow_up,
    rewrite_query,
)
from rag.answer.grounding import SupportConfig, assess, support_table
from rag.answer.prompting import grounded_prompt
from rag.answer.quote import (
    Quote,
    closest_quote,
    gives_way_to_a_quote,
    lacks_the_figure,
    nothing_to_quote,
    quoted_answer,
    supporting_quote,
)
from rag.answer.refusal import (
    across_scripts,
    in_question_language,
    is_refusal,
    question_language,
    refusal_sentence,
)
from rag.answer.repetition import RepetitionGuard
from rag.answer.result import (
    EMPTY_ANSWER,
    MODEL_REFUSED,
    NO_PASSAGES,
    NOT_IN_LANGUAGE,
    QUOTED,
    QUOTED_NO_FIGURE,
    QUOTED_OTHER_LANGUAGE,
    TIMING_KEYS,
    Answer,
    AnswerKind,
    AnswerStream,
)
from rag.errors import InvalidQuestion, engine_errors
from rag.index.embeddings import PassageEmbedder
from rag.retrieve.retriever import SearchResult
from rag.types import DocumentRecord, Hit

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000


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

    @property
    def params(self) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, seed=self.seed
        )


class Search(Protocol):
    """Retrieval and the relevance gate: ``docs`` restricts them to those documents (None: all)."""

    def __call__(self, query: str, *, docs: Sequence[DocumentRecord] | None = None) -> SearchResult: ...


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

    def ask(
        self,
        question: str,
        conversation: Conversation | None = None,
        docs: Sequence[DocumentRecord] | None = None,
    ) -> AnswerStream:
        """Start answering from ``docs`` (None: every document); raises :class:`InvalidQuestion` at once for a
        question that cannot be asked."""
        text = check_question(question)
        return AnswerStream(self._guarded(text, conversation, docs))

    def ask_once(
        self, question: str, conversation: Conversation | None = None, docs: Sequence[DocumentRecord] | None = None
    ) -> Answer:
        return self.ask(question, conversation, docs).answer

    # --- the pipeline ------------------------------------------------------------------------------
    def _guarded(
        self, question: str, conversation: Conversation | None, docs: Sequence[DocumentRecord] | None
    ) -> Generator[str, None, Answer]:
        """:meth:`_run`, with the chat engine's failures turned into :class:`RagError` (the one place where
        the pipeline meets the engine)."""
        with engine_errors():
            return (yield from self._run(question, conversation, docs))

    def _run(
        self, question: str, conversation: Conversation | None, docs: Sequence[DocumentRecord] | None
    ) -> Generator[str, None, Answer]:
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

        result = self._search(query, docs=docs)
        # retrieve: the whole search (fusion, hydration, relevance gate) except reranking, reported apart
        timings["rerank"] = float(result.timings.get("rerank", 0.0))
        searched = float(result.timings.get("total", result.timings.get("retrieve", 0.0)))
        timings["retrieve"] = max(0.0, searched - timings["rerank"])
        passages = within_budget(assemble(result.hits), config.context_words)
        answer = Answer(question=question, answer="", query=query, language=language,
                        notes=list(result.notes), timings=timings, docs=result.docs)

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
        answer.refuse(refusal_sentence(answer.language), reason)
        answer.timings["first_token"] = time.perf_counter() - started
        yield answer.answer
        answer.timings["total"] = time.perf_counter() - started

    def _finish(self, answer: Answer, text: str, hits: Sequence[Hit] = ()) -> None:
        """Citations, grounding and late refusals for the model's reply ``text`` to ``answer.passages``."""
        passages = answer.passages
        refusal = refusal_sentence(answer.language)
        if not text:
            answer.refuse(refusal, EMPTY_ANSWER)
            return
        if is_refusal(text):
            answer.refuse(refusal, MODEL_REFUSED)
            return
        support = self.config.support
        sentences = split_sentences(text)
        table = support_table([s.text for s in sentences], [p.text for p in passages], self.embedder, support,
                              question=f"{answer.question} {answer.query}")
        answer.grounding = assess([s.text for s in sentences], table, support)
        if not in_question_language(text, answer.question):
            # A small model often answers a Chinese question in English. Its text is not shown; the passage
            # that supports it (else the one that supports the question) is, with a Chinese lead-in.
            quote = (supporting_quote(table, answer.grounding, support, answer.query or answer.question)
                     or self._closest(answer, table.piece_vectors))
            if not (self.config.quote_unsupported and self._quote(answer, hits, quote, QUOTED_OTHER_LANGUAGE)):
                answer.refuse(refusal, NOT_IN_LANGUAGE)
            return
        min_support = self.config.min_support
        if min_support > 0 and answer.grounding.supported < min_support:
            answer.refuse(refusal, (
                f"only {answer.grounding.supported:.0%} of the answer is supported by the passages "
                f"(min_support is {min_support:.0%})"
            ))
            return
        question = answer.query or answer.question
        unsupported = gives_way_to_a_quote(text, answer.grounding)
        if self.config.quote_unsupported and (unsupported or lacks_the_figure(text, question)):
            quoted_for, why = (QUOTED, "no sentence of the model's answer is supported by the passages") if unsupported \
                else (QUOTED_NO_FIGURE, "the model's answer gives no figure")
            if self._quote(answer, hits, self._closest(answer, table.piece_vectors), quoted_for):
                return
            if not across_scripts(answer.question, passages):
                answer.refuse(refusal, nothing_to_quote(question, why))
                return
            # A Chinese reply over English passages: support cannot be measured across scripts, so the reply
            # is shown with its sentences flagged as unsupported rather than refused.
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

    def _closest(self, answer: Answer, piece_vectors: np.ndarray | None) -> Quote | None:
        """The window of ``answer.passages`` that supports the question best (None when none qualifies)."""
        return closest_quote(answer.query or answer.question, [p.text for p in answer.passages], self.embedder,
                             self.config.support, piece_vectors)

    def _quote(self, answer: Answer, hits: Sequence[Hit], quote: Quote | None, reason: str) -> bool:
        """Make the answer ``quote``, cited, for ``reason``; False (nothing changes) when there is no quote."""
        if quote is None:
            return False
        answer.answer = quoted_answer(quote, answer.language)
        answer.kind, answer.reason = AnswerKind.QUOTED, reason
        n = quote.passage + 1
        answer.citations = [citation(n, answer.passages[quote.passage], hits, quote.sentence, quote.text)]
        return True

    @staticmethod
    def _remember(conversation: Conversation | None, answer: Answer) -> None:
        if conversation is not None:
            conversation.add(Turn(answer.question, answer.query, answer.answer, answer.refused))


