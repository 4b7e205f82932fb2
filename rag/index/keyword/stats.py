"""Term statistics of the keyword index: BM25's IDF, and which query terms no chunk contains."""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

# (number of chunks, {term: number of chunks containing it}) for the given analyzer tokens.
TermStats = Callable[[Sequence[str]], tuple[int, Mapping[str, int]]]

CJK_TOKEN = re.compile(r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+$")


def idf(doc_freq: int, doc_count: int) -> float:
    """BM25's IDF (Lucene's form, always positive)."""
    return math.log(1.0 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5))


def foreign_terms(terms: Sequence[str], doc_freq: Mapping[str, int]) -> list[str]:
    """The CJK terms of a query when no chunk contains any of them (a Chinese question over English
    documents: BM25 cannot match them, only a multilingual embedding model reads them); else none."""
    cjk = [t for t in terms if CJK_TOKEN.match(t)]
    if cjk and all(doc_freq.get(t, 0) == 0 for t in cjk):
        return cjk
    return []


def foreign_share(terms: Sequence[str], doc_freq: Mapping[str, int], doc_count: int) -> float:
    """The share of a query's IDF weight that lies on its :func:`foreign_terms`."""
    n = max(doc_count, 1)
    weights = {t: idf(doc_freq.get(t, 0), n) for t in terms}
    total = sum(weights.values()) or 1.0
    return sum(weights[t] for t in foreign_terms(terms, doc_freq)) / total
