"""Grounding: how well each answer sentence is supported by the passages the model read.

Support is local. Each passage is read in windows of two consecutive sentences; the support of an answer
sentence by a passage is that of its best window, combining on that window

- lexical support: half the share of the sentence's *claim* tokens (its content tokens — the keyword
  analyzer's stemmed words, numbers, CJK bigrams — that do not merely restate the question) found in the
  window, half the share of all its content tokens;
- embedding support: the cosine similarity between the sentence and the window's closest sentence, mapped
  from ``[cos_floor, cos_ceiling]`` onto ``[0, 1]``;
- a number check: numbers the sentence claims that the window does not contain scale the support down by
  the share that is missing (invented figures are the most harmful error of a small model).

``support = (lexical_weight * lexical + (1 - lexical_weight) * embedding) * numbers_found``. Sentences that
claim nothing beyond the question ("Yes.", a list bullet, an echo of the question) are not scored. The
grounding of an answer is the share of its scored content (sentences weighted by their claim tokens) whose
best support reaches ``supported``; sentences below it are reported as unsupported. The ``min_support``
setting refuses answers whose grounding is below it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from rag.analysis import analyze
from rag.index.embeddings import PassageEmbedder
from rag.sentences import passage_sentences

_NUMBER = re.compile(r"\d")
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")  # "1. " or "- " opening a list item claims nothing


@dataclass(frozen=True)
class SupportConfig:
    lexical_weight: float = 0.5
    cos_floor: float = 0.25  # cosine at or below which embeddings add no support (MiniLM: unrelated text)
    cos_ceiling: float = 0.75  # cosine at or above which embeddings add full support (a paraphrase)
    supported: float = 0.5  # a sentence whose best support reaches this is supported
    cite: float = 0.35  # a passage can be cited for a sentence when its support reaches this


# Words that carry no claim of their own ("Sure!", "Yes.", "The answer is: ...").
@lru_cache(maxsize=1)
def _discourse() -> frozenset[str]:
    return frozenset(analyze("yes sure okay ok certainly indeed answer question passage passages text"))


def content_tokens(text: str) -> set[str]:
    """The content tokens of a text (the keyword analyzer's output as a set, without discourse words)."""
    return set(analyze(text)) - _discourse()


def _is_number(token: str) -> bool:
    return bool(_NUMBER.search(token))


# --- the support table ----------------------------------------------------------------------------
@dataclass
class SupportTable:
    """Support of every answer sentence (rows) by every passage (columns).

    ``scores[s, p]`` is NaN for sentences that are not scored (no content tokens). ``snippets[s][p]`` is the
    passage sentence closest to answer sentence ``s``; ``windows[s][p]`` the window (one or two consecutive
    passage sentences) that support was measured on.
    """

    scores: np.ndarray
    snippets: list[list[str]]
    weights: list[int]  # content tokens per answer sentence (0: not scored)
    windows: list[list[str]] = field(default_factory=list)
    piece_vectors: np.ndarray | None = None  # embeddings of the passages' sentences, in order (when computed)

    def scored(self, s: int) -> bool:
        return self.weights[s] > 0

    def best(self, s: int) -> tuple[int | None, float | None]:
        """(passage index, support) of the passage that supports sentence ``s`` best."""
        if not self.scored(s) or self.scores.shape[1] == 0:
            return None, None
        p = int(np.nanargmax(self.scores[s]))
        return p, float(self.scores[s, p])


def lexical_support(sentence_tokens: set[str], passage_tokens: set[str]) -> float:
    if not sentence_tokens:
        return 0.0
    return len(sentence_tokens & passage_tokens) / len(sentence_tokens)


_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}


def numbers_found(sentence_tokens: set[str], passage_tokens: set[str], passage_text: str) -> float:
    """Share of the sentence's numbers that the passage contains (1.0 when it states none).

    A passage that spells a small number out ("eight") contains it.
    """
    numbers = {t for t in sentence_tokens if _is_number(t)}
    if not numbers:
        return 1.0
    passage_tokens = passage_tokens | {_NUMBER_WORDS[t] for t in passage_tokens if t in _NUMBER_WORDS}
    compact = passage_text.replace(",", "").lower()
    found = sum(
        1 for t in numbers if t in passage_tokens or re.search(rf"(?<![\w.]){re.escape(t)}(?![\w]|\.\d)", compact)
    )
    return found / len(numbers)


MIN_SENTENCE_TOKENS = 2  # content tokens a sentence needs before a passage can support it


def claim_tokens(sentence: str, question_tokens: set[str]) -> set[str]:
    """The sentence's content tokens that do not merely restate the question (empty for a sentence that only
    echoes the question: it claims nothing and is not scored)."""
    return content_tokens(_LIST_MARK.sub("", sentence)) - question_tokens


def support_table(
    sentences: Sequence[str],
    passages: Sequence[str],
    embedder: PassageEmbedder | None = None,
    config: SupportConfig = SupportConfig(),
    question: str = "",
    piece_vectors: np.ndarray | None = None,
    window_ok: Callable[[str], bool] | None = None,
) -> SupportTable:
    """Score every answer sentence against every passage (see the module docstring).

    Support is local: each passage is read in windows of two consecutive sentences, and a sentence's support
    by a passage is that of its best window, where lexical overlap (half the claim tokens, half all tokens),
    embedding similarity and the number check are all measured on the same window. A number that appears
    somewhere else in the passage does not support a claim.

    With ``question``, claims are what a sentence adds to the question: restating the question's terms,
    which the retrieved passages contain by construction, earns nothing.

    ``piece_vectors``: the embeddings of the same passages' sentences from an earlier table
    (``SupportTable.piece_vectors``), so that only ``sentences`` are embedded.

    ``window_ok``: only windows whose text it accepts count (a quote must hold the kind of answer the question
    asks for); a passage with no such window supports nothing.
    """
    question_tokens = content_tokens(question)
    all_tokens = [content_tokens(_LIST_MARK.sub("", s)) for s in sentences]
    claims = [claim_tokens(s, question_tokens) for s in sentences]
    weights = [len(c) for c in claims]
    pieces = [passage_sentences(p) for p in passages]
    piece_tokens = [[content_tokens(x) for x in ps] for ps in pieces]

    cosines: list[np.ndarray] | None = None  # per passage: [sentences, pieces]
    scored = [i for i, w in enumerate(weights) if w]
    if embedder is not None and scored and any(pieces):
        flat = [x for ps in pieces for x in ps]
        if piece_vectors is None:
            vectors = embedder.embed_passages([sentences[i] for i in scored] + flat)
            answer_vectors, piece_vectors = vectors[: len(scored)], vectors[len(scored) :]
        elif len(piece_vectors) != len(flat):
            raise ValueError(f"piece_vectors has {len(piece_vectors)} rows for {len(flat)} passage sentences")
        else:
            answer_vectors = embedder.embed_passages([sentences[i] for i in scored])
        full = np.zeros((len(sentences), len(flat)), dtype=np.float32)
        full[scored] = answer_vectors @ piece_vectors.T
        cosines, offset = [], 0
        for ps in pieces:
            cosines.append(full[:, offset : offset + len(ps)])
            offset += len(ps)

    scores = np.full((len(sentences), len(passages)), np.nan, dtype=np.float32)
    snippets: list[list[str]] = [["" for _ in passages] for _ in sentences]
    windows: list[list[str]] = [["" for _ in passages] for _ in sentences]
    span = max(config.cos_ceiling - config.cos_floor, 1e-6)
    for s in range(len(sentences)):
        claim, every = claims[s], all_tokens[s]
        for p in range(len(passages)):
            n = len(pieces[p])
            if not n:
                scores[s, p] = 0.0 if claim else np.nan
                continue
            row = cosines[p][s] if cosines is not None and claim else None
            best_score, best_piece, best_window = -1.0, 0, ""
            for j in range(n):
                window = range(j, min(j + 2, n))
                tokens = set().union(*(piece_tokens[p][k] for k in window))
                if claim:
                    lexical = 0.5 * lexical_support(claim, tokens) + 0.5 * lexical_support(every, tokens)
                else:
                    lexical = lexical_support(every, tokens)
                if row is not None:
                    cos = float(max(row[k] for k in window))
                    embedding = float(np.clip((cos - config.cos_floor) / span, 0.0, 1.0))
                    combined = config.lexical_weight * lexical + (1.0 - config.lexical_weight) * embedding
                    piece = max(window, key=lambda k: row[k])
                else:
                    combined = lexical
                    piece = max(window, key=lambda k: lexical_support(every, piece_tokens[p][k]))
                text = " ".join(pieces[p][k] for k in window)
                if window_ok is not None and not window_ok(text):
                    continue
                combined *= numbers_found(claim, tokens, text)
                if combined > best_score:
                    best_score, best_piece, best_window = combined, piece, text
            if best_score < 0:  # no window was acceptable
                scores[s, p] = 0.0 if claim else np.nan
                continue
            snippets[s][p] = pieces[p][best_piece]
            windows[s][p] = best_window
            if claim:
                # a bare figure ("The answer is: 2.") says too little to be checked: it is never supported
                scores[s, p] = best_score if len(every) >= MIN_SENTENCE_TOKENS else 0.0
    return SupportTable(scores=scores, snippets=snippets, weights=weights, windows=windows, piece_vectors=piece_vectors)


# --- the grounding of an answer -------------------------------------------------------------------
@dataclass(frozen=True)
class SentenceSupport:
    text: str
    support: float | None  # None: not scored (no content tokens)
    passage: int | None  # 0-based index of the passage that supports it best
    supported: bool | None


@dataclass
class Grounding:
    """``supported``: share of the answer's scored content that the passages support (0..1)."""

    supported: float = 0.0
    unsupported_sentences: list[str] = field(default_factory=list)
    sentences: list[SentenceSupport] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"supported": round(float(self.supported), 4), "unsupported_sentences": list(self.unsupported_sentences)}


def assess(sentences: Sequence[str], table: SupportTable, config: SupportConfig = SupportConfig()) -> Grounding:
    """Per-sentence support and the answer's grounding from a support table."""
    results: list[SentenceSupport] = []
    total = supported_weight = 0
    for s, text in enumerate(sentences):
        passage, support = table.best(s)
        if support is None:
            results.append(SentenceSupport(text, None, None, None))
            continue
        ok = support >= config.supported
        results.append(SentenceSupport(text, round(support, 4), passage, ok))
        total += table.weights[s]
        supported_weight += table.weights[s] if ok else 0
    return Grounding(
        supported=(supported_weight / total) if total else 0.0,
        unsupported_sentences=[r.text for r in results if r.supported is False],
        sentences=results,
    )
