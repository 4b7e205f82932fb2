"""Is a page's text layer usable? And which scripts does a text use? (pure functions of the text)

A PDF's text layer can be absent (a scan), or present but useless: glyphs in the Unicode private-use area,
``(cid:N)`` codes, replacement characters (U+FFFD), control characters, or a broken ToUnicode map that
turns every glyph into the wrong character (mojibake: ``"Ã©tÃ©"``, symbol soup such as ``"#$%&'()"``, or
letters shifted to other letters: ``"Wkh txlfn eurzq ira"``). ``assess_text`` tells which, so that such
pages can be read by OCR instead, and ``script_shares`` gives the share of each writing system (CJK vs
Latin, ...) for the report of what was read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_CHARACTERS = 20  # fewer letters and digits than this: the page has no usable text layer
MAX_SUSPICIOUS_SHARE = 0.25  # private-use, (cid:N), U+FFFD, controls, unassigned: more than this is garbage
MAX_CONTROL_SHARE = 0.03  # control characters alone: real text layers hold none (glyph ids leaking through)
MAX_SYMBOL_SHARE = 0.5  # punctuation and symbols among visible characters (runs like "....." count once)
MIN_LATIN_FOR_VOWELS = 60  # ASCII letters needed before the vowel share means anything
MIN_VOWEL_SHARE = 0.2  # English, French, German, Spanish, ...: 0.3-0.45; shifted glyphs: about 0.19
MAX_WORDS_WITHOUT_VOWELS = 0.35  # lower-case words of 3+ letters without a vowel (y counts)
MOJIBAKE_SHARE = 0.05  # UTF-8 read as Latin-1 ("Ã©", "â€™") per visible character

_CID_RE = re.compile(r"\(cid:\d+\)")
_MOJIBAKE_RE = re.compile("[ÃÂ][\u0080-\u00bf]|â€[\u0080-\u00bf™œž“”˜šŸ]|Ã[©¨ª«¼½¶¤¥§]")
_RUN_RE = re.compile(r"(.)\1{2,}")
_LOWER_WORD_RE = re.compile(r"\b[a-z]{3,}\b")
_VOWELS = frozenset("aeiouyAEIOUY")


@dataclass(frozen=True)
class TextQuality:
    """How usable a page's text is.

    ``characters``: visible (non-space) characters; ``meaningful``: letters and digits outside the private-use
    area; ``suspicious``: private-use, ``(cid:N)``, U+FFFD, control and unassigned characters; ``garbled``:
    the text is there but is not the page's words, and ``reason`` says why ("" when not garbled)."""

    characters: int
    meaningful: int
    suspicious: int
    garbled: bool
    reason: str = ""

    @property
    def has_text(self) -> bool:
        """Enough letters and digits to be a text layer at all (garbled or not)."""
        return self.meaningful >= MIN_CHARACTERS

    @property
    def usable(self) -> bool:
        """A text layer worth indexing: present and not garbled."""
        return self.has_text and not self.garbled


_HYPHEN_MARKERS = "\x02\ufffe"  # pdfium's marks of a hyphen at a line end (see ingest.cleaning)
_CONTROLS = "control characters"


def _suspicious(ch: str) -> str | None:
    """The kind of garbage ``ch`` is, or None."""
    if ch in _HYPHEN_MARKERS:
        return None
    if ch == "\ufffd":
        return "replacement characters (U+FFFD)"
    category = unicodedata.category(ch)
    if category == "Co":
        return "private-use glyphs"
    if category == "Cn":
        return "unassigned code points"
    if category in ("Cc", "Cs") and ch not in "\n\r\t\f":
        return _CONTROLS
    return None


def assess_text(text: str) -> TextQuality:
    """How usable ``text`` (one page's text layer) is: see :class:`TextQuality`."""
    cids = _CID_RE.findall(text)
    rest = _CID_RE.sub(" ", text)
    visible = [ch for ch in rest if not ch.isspace()]
    cid_chars = sum(len(c) for c in cids)
    characters = len(visible) + cid_chars
    kinds: dict[str, int] = {}
    meaningful = 0
    for ch in visible:
        kind = _suspicious(ch)
        if kind is not None:
            kinds[kind] = kinds.get(kind, 0) + 1
        elif ch.isalnum():
            meaningful += 1
    if cids:
        kinds["(cid:N) codes"] = cid_chars
    suspicious = sum(kinds.values())

    def verdict(reason: str) -> TextQuality:
        return TextQuality(characters, meaningful, suspicious, bool(reason), reason)

    if characters == 0:
        return verdict("")
    if suspicious / characters > MAX_SUSPICIOUS_SHARE:
        return verdict(max(kinds, key=lambda k: kinds[k]))
    if kinds.get(_CONTROLS, 0) / characters > MAX_CONTROL_SHARE:
        return verdict(_CONTROLS)
    collapsed = _RUN_RE.sub(r"\1", "".join(visible))  # leader dots ". . . ." count once
    symbols = sum(1 for ch in collapsed if unicodedata.category(ch)[0] in "PS")
    if len(collapsed) >= MIN_CHARACTERS and symbols / len(collapsed) > MAX_SYMBOL_SHARE:
        return verdict("mostly symbols (a broken font encoding)")
    if meaningful < MIN_CHARACTERS:
        return verdict("")  # too little text to judge; has_text is False anyway
    if len(_MOJIBAKE_RE.findall(rest)) / characters > MOJIBAKE_SHARE:
        return verdict("mojibake (UTF-8 read as Latin-1)")
    if _shifted_letters(rest):
        return verdict("letters that spell no words (a broken ToUnicode map)")
    return verdict("")


def _shifted_letters(text: str) -> bool:
    """Lower-case Latin words whose vowels are too rare to be words of a European language: glyphs mapped to
    the wrong letters. Only all-lower-case words of 3+ letters count: units and acronyms ("dBm", "MHz",
    "GPIO") have few vowels in any language."""
    words = _LOWER_WORD_RE.findall(text)
    letters = sum(len(w) for w in words)
    if letters < MIN_LATIN_FOR_VOWELS or len(words) < 10:
        return False
    vowels = sum(1 for w in words for ch in w if ch in _VOWELS)
    if vowels / letters < MIN_VOWEL_SHARE:
        return True
    without = sum(1 for w in words if not (_VOWELS & set(w)))
    return without / len(words) > MAX_WORDS_WITHOUT_VOWELS


# ------------------------------------------------------------------------------------------ scripts

SCRIPTS = ("latin", "cjk", "cyrillic", "greek", "arabic", "hebrew", "other")
MIN_SCRIPT_SHARE = 0.05  # scripts below this share of a document's letters are not reported


def script_of(ch: str) -> str | None:
    """The writing system of a letter (None for digits, punctuation, spaces and symbols)."""
    if not ch.isalpha():
        return None
    code = ord(ch)
    if code < 0x250 or 0x1E00 <= code <= 0x1EFF or 0xFF21 <= code <= 0xFF5A:
        return "latin"
    if (
        0x2E80 <= code <= 0x9FFF  # radicals, kana, bopomofo, Hangul compatibility, CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFFDC  # half-width kana and Hangul
        or 0x20000 <= code <= 0x3FFFF
    ):
        return "cjk"
    if 0x400 <= code <= 0x52F:
        return "cyrillic"
    if 0x370 <= code <= 0x3FF or 0x1F00 <= code <= 0x1FFF:
        return "greek"
    if 0x600 <= code <= 0x6FF or 0x750 <= code <= 0x77F:
        return "arabic"
    if 0x590 <= code <= 0x5FF:
        return "hebrew"
    return "other"


def script_counts(text: str) -> dict[str, int]:
    """Letters of ``text`` per writing system."""
    counts: dict[str, int] = {}
    for ch in text:
        script = script_of(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def script_shares(counts: dict[str, int], minimum: float = MIN_SCRIPT_SHARE) -> dict[str, float]:
    """Each writing system's share of the letters (two decimals), largest first; shares below ``minimum``
    are left out. Empty when there are no letters."""
    total = sum(counts.values())
    if not total:
        return {}
    shares = {s: round(n / total, 2) for s, n in counts.items() if n / total >= minimum}
    return dict(sorted(shares.items(), key=lambda item: (-item[1], SCRIPTS.index(item[0]))))
