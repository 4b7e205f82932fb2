"""The passage text closest to a question, quoted when none of the model's sentences is supported.

A small model often writes an answer that no passage supports ("The answer is: The answer is:", a figure the
passages don't hold). Showing that text, even flagged, is what users of other tools complain about most: an
answer from outside their documents. When retrieval found evidence (the gate passed) but the model's reply
states nothing the passages hold (or nothing beyond the question, unless it is a bare yes or no), the answer
shows instead the passage window (one or two consecutive sentences, in any passage read) that supports the
*question* best, quoted and cited, measured with the same support score that checks answers
(:mod:`rag.answer.grounding`). Only a window that holds the kind of answer the question asks for may be
quoted (a figure for "how many", a name for "who": :mod:`rag.gate.answer_type`, the gate's own check): a
sentence that shares the question's words but not its answer is an answer from outside the documents by
another route. A window below the ``cite`` level supports nothing: no quote then, and the answer is refused.

Pure functions: the embedder is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.answer.grounding import Grounding, SupportConfig, SupportTable, support_table
from rag.gate.answer_type import AnswerType, describe, expectation, holds
from rag.index.embeddings import PassageEmbedder

QUOTE_INTROS = {
    "en": "The passage closest to your question says:",
    "zh": "文档中与您的问题最相关的内容：",
}


@dataclass(frozen=True)
class Quote:
    """A quote from one passage: ``passage`` is its 0-based index, ``text`` the window, ``sentence`` its
    sentence closest to the question, ``support`` the window's support of the question (0..1)."""

    passage: int
    text: str
    sentence: str
    support: float


# A bare "Yes." / "No, ..." / "是的。": it claims nothing the passages could hold, yet answers a yes/no question.
_YES_OR_NO = re.compile(r"^\W*(?:yes|no|是的?|不是|对|不对|否)(?=$|[\s,.!;:\uff0c\u3002\uff01\uff1b\uff1a])", re.IGNORECASE)


def gives_way_to_a_quote(reply: str, grounding: Grounding) -> bool:
    """Whether a model's reply should be replaced by a quote: none of its sentences is supported, and it is
    not a bare yes or no. A reply that claims nothing beyond the question ("The answer is:", an echo of the
    question) gives way too: it says nothing a reader can use."""
    if any(s.supported for s in grounding.sentences):
        return False
    claims_something = any(s.supported is not None for s in grounding.sentences)
    return claims_something or not _YES_OR_NO.match(reply)


def answers_the_question(question: str) -> Callable[[str], bool]:
    """Whether a window holds the kind of answer ``question`` asks for (a figure for "how many", a name for
    "who"; anything for other questions): the same check as the relevance gate's."""
    expected = expectation(question)
    return lambda text: holds(expected, text, question)


def closest_quote(
    question: str,
    passages: Sequence[str],
    embedder: PassageEmbedder | None,
    config: SupportConfig = SupportConfig(),
    piece_vectors: np.ndarray | None = None,
) -> Quote | None:
    """The passage window that supports ``question`` best among those that hold the kind of answer it asks
    for, in any passage; None when none reaches ``config.cite`` (or the question has too few content words to
    be compared). ``piece_vectors``: the passages' sentence embeddings from the grounding check's table, when
    it computed them (then only the question is embedded)."""
    table = support_table([question], passages, embedder, config, piece_vectors=piece_vectors,
                          window_ok=answers_the_question(question))
    p, support = table.best(0)
    if p is None or support is None or support < config.cite:
        return None
    return Quote(passage=p, text=table.windows[0][p], sentence=table.snippets[0][p], support=support)


def supporting_quote(
    table: SupportTable, grounding: Grounding, config: SupportConfig = SupportConfig(), question: str = ""
) -> Quote | None:
    """The passage window that supports the reply best, judged on the reply's supported sentences (rows of
    ``table``), or None when no sentence is supported at the ``cite`` level. This is how a reply that cannot
    be shown (written in another language than the question) still points at its evidence: support is
    measured between the reply and the passages, where a question in another script shares no words with
    them. With ``question``, the window must also hold the kind of answer it asks for."""
    acceptable = answers_the_question(question)  # no question: anything is acceptable
    best: Quote | None = None
    for s, sentence in enumerate(grounding.sentences):
        if not sentence.supported:
            continue
        p, support = table.best(s)
        if p is None or support is None or support < config.cite or not acceptable(table.windows[s][p]):
            continue
        if best is None or support > best.support:
            best = Quote(passage=p, text=table.windows[s][p], sentence=table.snippets[s][p], support=support)
    return best


def quoted_answer(quote: Quote, language: str) -> str:
    """The answer text that quotes ``quote`` and cites its passage number."""
    intro = QUOTE_INTROS.get(language, QUOTE_INTROS["en"])
    space = "" if intro.endswith("\uff1a") else " "  # no space after a full-width colon
    return f"{intro}{space}\u201c{quote.text}\u201d [{quote.passage + 1}]"


def lacks_the_figure(reply: str, question: str) -> bool:
    """Whether a question asks for a figure (:mod:`rag.gate.answer_type`) and the reply gives none ("The
    Transformer uses a sliding window attention architecture." for "How many attention heads ...?"): such a
    reply does not answer, however well the passages support its words."""
    expected = expectation(question)
    return expected.kind is AnswerType.FIGURE and not holds(expected, reply, question)


def nothing_to_quote(question: str, why: str) -> str:
    """The refusal reason when the model's reply does not answer (``why``) and no passage window may be quoted."""
    expected = expectation(question)
    if expected.kind is AnswerType.ANY:
        return f"{why}, and no passage supports the question"
    return f"{why}, and no passage sentence close to the question gives {describe(expected)}"
