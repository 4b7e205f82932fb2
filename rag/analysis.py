"""The one keyword analyzer, used at indexing and at query time by every keyword backend.

Unicode-normalise (NFKC), lower-case, split on non-alphanumerics (keeping decimal numbers such as
``41.8`` whole), drop English stopwords, Porter-stem, and turn runs of CJK characters into overlapping
character bigrams. Both BM25 backends index and search exactly these tokens, so switching backends does not
change what users get.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from nltk.stem.porter import PorterStemmer  # pure code: needs no NLTK data files

# NLTK's English stopword list, written out so no data download is ever needed.
STOPWORDS = frozenset(
    """
    a about above after again against ain all am an and any are aren aren't as at be because been before
    being below between both but by can couldn couldn't d did didn didn't do does doesn doesn't doing don
    don't down during each few for from further had hadn hadn't has hasn hasn't have haven haven't having
    he her here hers herself him himself his how i if in into is isn isn't it it's its itself just ll m ma
    me mightn mightn't more most mustn mustn't my myself needn needn't no nor not now o of off on once only
    or other our ours ourselves out over own re s same shan shan't she she's should should've shouldn
    shouldn't so some such t than that that'll the their theirs them themselves then there these they this
    those through to too under until up ve very was wasn wasn't we were weren weren't what when where which
    while who whom why will with won won't wouldn wouldn't y you you'd you'll you're you've your yours
    yourself yourselves
    """.split()
)

_CJK = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\uac00-\ud7af"  # Hangul syllables
)
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<num>\d+(?:[.,]\d+)+)|(?P<word>[^\W_]+)")
_stemmer = PorterStemmer()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem of one lower-case word (cached: the vocabulary of a corpus repeats)."""
    return _stemmer.stem(word)


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a CJK run; a single character stands alone."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def analyze(text: str) -> list[str]:
    """Text to the keyword tokens both backends index and query."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        if match.lastgroup == "cjk":
            tokens.extend(cjk_bigrams(match.group()))
        elif match.lastgroup == "num":
            tokens.append(match.group().replace(",", ""))
        else:
            word = match.group()
            if word in STOPWORDS:
                continue
            tokens.append(stem(word))
    return tokens


_CJK_CHAR = re.compile(f"[{_CJK}]")


def contains_cjk(text: str) -> bool:
    """True when the text holds any CJK character (used to pick the answer language)."""
    return _CJK_CHAR.search(text) is not None


def cjk_share(text: str) -> float:
    """The share of the text's letters and digits that are CJK characters (0 for text without any)."""
    letters = [c for c in text if c.isalnum()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK_CHAR.match(c)) / len(letters)
