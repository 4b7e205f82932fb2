"""The one keyword analyzer, used at indexing and at query time by every keyword backend.

Text is read as written, so a question meets the passage however either spells a term:

- Unicode-normalised (NFKC: ligatures, full-width forms, sub- and superscripts ``W₀`` -> ``w0``) and
  lower-cased;
- a Greek letter standing alone (a symbol: ``ε = 10−9``, ``λ``, ``β1``) becomes its English name (``epsilon``),
  and common math symbols become words (``≤`` -> ``leq``, ``≈`` -> ``approximately``, ``3×`` -> ``3x``); runs
  of Greek letters (Greek words) stay as they are;
- numbers keep their decimals (``41.8``), lose thousands separators and a zero fraction (``1,577``,
  ``$1,577.00`` and ``1577`` give ``1577``);
- hyphenated words give their parts and the joined word (``pre-trained`` -> ``pre``, ``train``,
  ``pretrain``), so either spelling finds the other; names with digits (``ESP32-WROOM-32``, ``GPT-3``) give
  their parts only, since the joined form would make a product name count twice in every question naming it;
- a year written against letters gives the year too (``FY2019`` -> ``fy2019``, ``2019``; ``2023Q2`` ->
  ``2023q2``, ``2023``), so a question's fiscal year meets the "2019" of a page or a file name;
- CJK runs become overlapping character bigrams wherever they occur, also inside a token with Latin letters
  or digits (``65B模型`` -> ``65b``, ``模型``);
- English stopwords are dropped and words Porter-stemmed.

Both BM25 backends index and search exactly these tokens, so switching backends does not change what users
get. ``ANALYZER_VERSION`` names this behaviour: documents indexed by another version are re-ingested.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

ANALYZER_VERSION = 3  # 1: no symbol words, CJK bigrams only at the start of a token, no joined compounds;
# 2: no year split off letters (FY2019), chunks indexed without their document's label (rag.index.labels)

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

# Lower-case Greek letters (after NFKC: µ -> μ, ϵ -> ε, ϑ -> θ, ϕ -> φ) and their names.
GREEK_NAMES = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
    "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi",
    "ο": "omicron", "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}  # fmt: skip
# Math symbols as the words a question would use for them (arrows, operators like − and = only separate).
SYMBOL_WORDS = {
    "×": "x", "≤": "leq", "⩽": "leq", "≥": "geq", "⩾": "geq", "≠": "neq", "≈": "approximately",
    "≃": "approximately", "∼": "approximately", "±": "plusminus", "∓": "plusminus", "∞": "infinity",
    "√": "sqrt", "∑": "sum", "∏": "product", "∂": "partial", "∇": "nabla", "∝": "proportional",
    "°": "degrees",
}  # fmt: skip
_GREEK_LETTER = "\u0370-\u03ff\u1f00-\u1fff"  # Greek and Coptic, Greek Extended (accented letters)
_LONE_GREEK = re.compile(rf"(?<![{_GREEK_LETTER}])[{''.join(GREEK_NAMES)}](?![{_GREEK_LETTER}])")
# "3×" is written "3x" as often: the × of a multiplier joins its number; any other × is a word of its own.
_MULTIPLIER = re.compile(r"(?<=\d)×(?![^\W_])")
_SYMBOL = re.compile(f"[{''.join(SYMBOL_WORDS)}]")

_WORD = rf"[^\W_{_CJK}]+"  # letters and digits, CJK excluded (CJK runs are bigrammed on their own)
_NUMBER = r"\d+(?:[.,]\d+)+"
_PART = rf"(?:{_NUMBER}|{_WORD})"
_HYPHEN = r"[-\u2010](?:[ \t]*\r?\n[ \t]*)?"  # also a compound hyphenated across a line break ("task-\nspecific")
_TOKEN = re.compile(
    rf"(?P<cjk>[{_CJK}]+)|(?P<compound>{_PART}(?:{_HYPHEN}{_PART})+)|(?P<num>{_NUMBER})|(?P<word>{_WORD})"
)
_PARTS = re.compile(rf"{_NUMBER}|{_WORD}")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_ZERO_FRACTION = re.compile(r"^(\d+)\.0+$")
_GLUED_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")  # in a word that also has letters: FY2019, 2023Q2


@lru_cache(maxsize=1)
def _porter():  # noqa: ANN202
    # heavy: importing nltk takes ~1.3 s (it imports scipy), so it is loaded on the first word stemmed, not by
    # commands that never analyse text (`rag docs list`); the stemmer is pure code and needs no NLTK data files
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem of one lower-case word (cached: the vocabulary of a corpus repeats)."""
    return _porter().stem(word)


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a CJK run; a single character stands alone."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def number_tokens(number: str) -> list[str]:
    """A number as written (digits joined by ``.`` or ``,``) to its tokens: thousands separators and a zero
    fraction dropped (``1,577.00`` -> ``1577``), decimals and versions kept (``41.8``, ``1.7.1``); commas that
    do not separate thousands separate numbers (``1,2`` -> ``1``, ``2``)."""
    if _THOUSANDS.fullmatch(number):
        number = number.replace(",", "")
    elif "," in number:
        return [token for part in number.split(",") for token in number_tokens(part)]
    zero = _ZERO_FRACTION.match(number)
    return [zero.group(1) if zero else number]


def normalize(text: str) -> str:
    """NFKC, lower case, lone Greek letters and math symbols spelled as words (spaced, so they stand alone)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _LONE_GREEK.sub(lambda m: f" {GREEK_NAMES[m.group()]} ", text)
    text = _MULTIPLIER.sub("x", text)
    return _SYMBOL.sub(lambda m: f" {SYMBOL_WORDS[m.group()]} ", text)


def _word_tokens(word: str) -> list[str]:
    if word in STOPWORDS:
        return []
    if is_glued_year(word):
        return [stem(word), _GLUED_YEAR.search(word).group()]  # type: ignore[union-attr]
    return [stem(word)]


def _part_tokens(part: str) -> list[str]:
    return number_tokens(part) if part[0].isdigit() and ("." in part or "," in part) else _word_tokens(part)


def analyze(text: str) -> list[str]:
    """Text to the keyword tokens both backends index and query."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(normalize(text)):
        kind, value = match.lastgroup, match.group()
        if kind == "cjk":
            tokens.extend(cjk_bigrams(value))
        elif kind == "num":
            tokens.extend(number_tokens(value))
        elif kind == "word":
            tokens.extend(_word_tokens(value))
        else:  # a hyphenated compound: its parts, and the joined word when every part is a word of letters
            parts = _PARTS.findall(value)
            for part in parts:
                tokens.extend(_part_tokens(part))
            if all(part.isalpha() for part in parts):
                tokens.extend(_word_tokens("".join(parts)))
    return tokens


def is_glued_year(token: str) -> bool:
    """Whether a token is a word with a year glued to letters (``fy2019``, ``2023q2``), which :func:`analyze`
    follows with the year itself: what a passage must hold is the year, not the glued spelling."""
    if token.isalpha() or token.isdigit():  # most words: decided without the pattern (analyze calls this per word)
        return False
    return _GLUED_YEAR.search(token) is not None and any(ch.isalpha() for ch in token)


def question_terms(text: str) -> list[str]:
    """The tokens the relevance gate requires of the passages: :func:`analyze`'s, without glued years
    ("FY2019" is covered by a passage that says 2019)."""
    return [t for t in analyze(text) if not is_glued_year(t)]


def query_terms(text: str) -> list[str]:
    """A query's distinct tokens, in order: what every keyword backend searches (a repeated word counts once)."""
    return list(dict.fromkeys(analyze(text)))


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
