"""What a document is called, indexed with every one of its chunks.

A question often names the document it is about: the company and fiscal year of a filing ("Apple's FY2016
revenue"), the paper ("the LoRA paper"), the product and version of a manual. Page by page, the filings of one
company's different years look alike, and a table page rarely repeats the company's name; the file name and
the title say which filing it is. So the keyword index adds the analyzer tokens of a document's *label* (its
file name, split at ``_``, ``-`` and ``.``, and its title) to every chunk of it, ``LABEL_WEIGHT`` times each:
BM25 then weighs a named company, year or paper by its rarity, like a boosted title field, and a question that
names no document is ranked as before, up to the slightly longer chunks. The embedding model reads the label
too, on a line before each chunk (:func:`passage_to_embed`).

File names often close names up ("GENERALMILLS_2019_10K.pdf", "AMERICANWATERWORKS"), where a question writes
"General Mills": a closed-up word of the label also gives the two or three words it is made of, when the
document itself uses each of them (its own vocabulary decides, not a dictionary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Collection, Iterable, Mapping, Sequence

from rag.analysis import STOPWORDS, analyze, normalize
from rag.types import Chunk

# Each label term counts as this many occurrences in every chunk (a field boost, as BM25F gives a title field).
# Chosen on 98 of the 165 questions bench/filings_questions.py writes over ../shared/corpus-scale (the filings of
# Activision Blizzard, Adobe, Amazon, Apple, Costco: right filing in the top 5 0.89 / 0.93 / 0.93 at weight
# 1 / 2 / 3, MRR 0.157 / 0.195 / 0.208), reported on the other 67 (eBay, General Mills, Microsoft, Netflix,
# Nike: 0.79 / 0.85 / 0.91), with the label in BM25 only; dev and dev2 move by less than 0.01 MRR between 1 and 3.
LABEL_WEIGHT = 3
MAX_LABEL_TERMS = 16  # a long title adds no more than this many terms (chunks stay about the length they were)
MAX_LABEL_WORDS_EMBEDDED = 24  # nor more than this many words to what the embedding model reads
_NAME_SEPARATORS = re.compile(r"[_\s]+")
_PLAIN_WORD = re.compile(r"[a-z]+")
_MIN_PART = 3  # letters in each word of a closed-up name
_MIN_CLOSED_UP = 2 * _MIN_PART


def plain_words(texts: Iterable[str]) -> set[str]:
    """The lower-case runs of Latin letters in some texts (a document's vocabulary, for :func:`split_closed_up`)."""
    return {word for text in texts for word in _PLAIN_WORD.findall(normalize(text))}


def split_closed_up(word: str, vocabulary: Collection[str]) -> list[str]:
    """The two or three words of ``vocabulary`` that ``word`` is made of ("generalmills" -> general, mills),
    fewest parts first, then the longest first part; none when it is not made of them. The closed-up word may
    be in the vocabulary too (a filing's web address: www.generalmills.com)."""
    if len(word) < _MIN_CLOSED_UP:
        return []

    def known(part: str) -> bool:
        return len(part) >= _MIN_PART and part in vocabulary and part not in STOPWORDS

    for cut in range(len(word) - _MIN_PART, _MIN_PART - 1, -1):
        if known(word[:cut]) and known(word[cut:]):
            return [word[:cut], word[cut:]]
    for first in range(len(word) - 2 * _MIN_PART, _MIN_PART - 1, -1):
        if known(word[:first]):
            rest = word[first:]
            for cut in range(len(rest) - _MIN_PART, _MIN_PART - 1, -1):
                if known(rest[:cut]) and known(rest[cut:]):
                    return [word[:first], rest[:cut], rest[cut:]]
    return []


@dataclass(frozen=True)
class DocumentLabel:
    """A document's file name and title: what its chunks are indexed with besides their own text."""

    file_name: str = ""
    title: str = ""

    @property
    def text(self) -> str:
        """The file name (without its extension, separators as spaces) and the title, as one text."""
        stem = PurePath(self.file_name).stem if self.file_name else ""
        return f"{_NAME_SEPARATORS.sub(' ', stem)} {self.title}".strip()

    def terms(self, vocabulary: Collection[str] = ()) -> list[str]:
        """The distinct analyzer tokens of the file name (without its extension) and the title, and of the
        words each closed-up word of them is made of (:func:`split_closed_up` over ``vocabulary``)."""
        named = self.text
        parts = [p for word in set(_PLAIN_WORD.findall(normalize(named))) for p in split_closed_up(word, vocabulary)]
        return list(dict.fromkeys(analyze(named) + analyze(" ".join(sorted(parts)))))[:MAX_LABEL_TERMS]


def label_terms(chunks: Sequence[Chunk], labels: Mapping[str, DocumentLabel]) -> dict[str, list[str]]:
    """doc_id -> label terms for the documents of ``chunks`` that have a label, each split over the words of
    its own chunks given here (a document's chunks are written together)."""
    texts: dict[str, list[str]] = {}
    for chunk in chunks:
        if chunk.doc_id in labels:
            texts.setdefault(chunk.doc_id, []).append(chunk.text)
    return {doc_id: labels[doc_id].terms(plain_words(t)) for doc_id, t in texts.items()}


def passage_to_embed(label: DocumentLabel, text: str) -> str:
    """What the embedding model reads for one chunk: its document's label on a line of its own, then the chunk.
    The model reads at most its token limit, so a chunk that fills the budget loses a few tokens at its end
    (the next chunk's overlap holds them): embedding costs the same, and a page that never names its company,
    year or paper is embedded as that document's page."""
    head = " ".join(label.text.split()[:MAX_LABEL_WORDS_EMBEDDED])
    return f"{head}\n{text}" if head else text


def chunk_terms(text: str, label: Sequence[str] = ()) -> list[str]:
    """The tokens one chunk is indexed with: its text's, then its document's label terms ``LABEL_WEIGHT``
    times each."""
    return analyze(text) + list(label) * LABEL_WEIGHT
