"""A passage cut into sentences: what grounding compares answer sentences with, what a quote shows, and where
the gate looks for a question's answer next to its key terms."""

from __future__ import annotations

import re

from rag.analysis import analyze

_PASSAGE_SPLIT = re.compile(r"(?<=[.!?;。！？；])\s+|(?<=[。！？；])|\n{2,}|\n(?=\s*[-•*\d]+[.)]?\s)")
MAX_PASSAGE_SENTENCE_CHARS = 400


def passage_sentences(text: str) -> list[str]:
    """A passage cut into sentences (long ones cut further), for sentence-level comparison and snippets."""
    pieces: list[str] = []
    for raw in _PASSAGE_SPLIT.split(text):
        sentence = " ".join(raw.split())
        while len(sentence) > MAX_PASSAGE_SENTENCE_CHARS:
            cut = sentence.rfind(" ", 0, MAX_PASSAGE_SENTENCE_CHARS)
            cut = cut if cut > MAX_PASSAGE_SENTENCE_CHARS // 2 else MAX_PASSAGE_SENTENCE_CHARS
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return [p for p in pieces if analyze(p)] or ([" ".join(text.split())] if text.strip() else [])
