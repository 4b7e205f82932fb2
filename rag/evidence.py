"""The passage text closest to a question, quoted when none of the model's sentences is supported.

A small model often writes an answer that no passage supports ("The answer is: The answer is:", a figure the
passages don't hold). Showing that text, even flagged, is what users of other tools complain about most: an
answer from outside their documents. When retrieval found evidence (the gate passed) but the model's reply
states nothing the passages hold, the answer shows instead the passage window (one or two consecutive
sentences) that supports the *question* best, quoted and cited, measured with the same support score that
checks answers (:mod:`rag.grounding`). A window below the ``cite`` level supports nothing: no quote then.

Pure functions: the embedder is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.grounding import PassageEmbedder, SupportConfig, support_table

QUOTE_INTROS = {
    "en": "The passage closest to your question says:",
    "zh": "与您的问题最相关的原文：",
}


@dataclass(frozen=True)
class Evidence:
    """A quote from one passage: ``passage`` is its 0-based index, ``text`` the window, ``sentence`` its
    sentence closest to the question, ``support`` the window's support of the question (0..1)."""

    passage: int
    text: str
    sentence: str
    support: float


def closest_evidence(
    question: str,
    passages: Sequence[str],
    embedder: PassageEmbedder | None,
    config: SupportConfig = SupportConfig(),
) -> Evidence | None:
    """The passage window that supports ``question`` best, or None when none reaches ``config.cite`` (or the
    question has too few content words to be compared)."""
    table = support_table([question], passages, embedder, config)
    p, support = table.best(0)
    if p is None or support is None or support < config.cite:
        return None
    return Evidence(passage=p, text=table.windows[0][p], sentence=table.snippets[0][p], support=support)


def quoted_answer(evidence: Evidence, language: str) -> str:
    """The answer text that quotes ``evidence`` and cites its passage number."""
    intro = QUOTE_INTROS.get(language, QUOTE_INTROS["en"])
    space = "" if intro.endswith("\uff1a") else " "  # no space after a full-width colon
    return f"{intro}{space}\u201c{evidence.text}\u201d [{evidence.passage + 1}]"
