"""A question's key phrases: a name with its version, size or year, read as one unit.

"Which Bluetooth 5 features does the ESP32 support?" over a datasheet that says "Bluetooth v4.2" and, pages
later, "5 µA": every token of the question is in the passages, scattered. What the question is about is
"Bluetooth 5", and no passage says that. A key phrase is found only when its tokens stand together (within
two extra tokens) in one passage or its document's title.

Key phrases, from the question as written:
- a name followed by one or more words with a digit: "Bluetooth 5", "Llama 2-Chat", "Top 10 2021",
  "Mistral 8x22B", "Python 3.13", "WMT 2016";
- one word of letters and digits that the analyzer splits into several tokens: "HTTP/3", "GPT-4".
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from rag.analysis import question_terms

WORD = re.compile(r"[^\W_]+(?:[-.@/][^\W_]+)*")
SLACK = 2  # tokens that may stand between a phrase's tokens ("Llama 2 (7B)" still holds "Llama 2")


_SENTENCE_ENDS = ".?!:;。？！"


def words_of(question: str) -> list[tuple[str, bool]]:
    """The question's words as written, each with whether it starts a sentence ("What ...? Answer from the
    income statement.": both "What" and "Answer" do), where a capital says nothing about a name."""
    words: list[tuple[str, bool]] = []
    for match in WORD.finditer(question):
        before = question[: match.start()].rstrip()
        words.append((match.group(), not before or before[-1] in _SENTENCE_ENDS))
    return words


def _digits(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def looks_like_a_name(word: str, first: bool) -> bool:
    """A name, code or number as written in a question: a digit ("H100", "2016"), several capitals ("BEIR",
    "ColBERTv2"), an inner capital ("nDCG"), or a capital that does not just start the question ("Romanian")."""
    if _digits(word):
        return True
    capitals = sum(ch.isupper() for ch in word)
    if capitals >= 2:
        return True
    return capitals == 1 and (not word[0].isupper() or not first)


def key_phrases(question: str) -> list[str]:
    """The question's key phrases as written (see the module docstring), each with two tokens or more."""
    written = words_of(question)
    words = [w for w, _ in written]
    phrases: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if not _digits(word) and looks_like_a_name(word, written[i][1]):
            j = i + 1
            while j < len(words) and _digits(words[j]):
                j += 1
            if j > i + 1:
                phrases.append(" ".join(words[i:j]))
                i = j
                continue
        elif _digits(word) and any(ch.isalpha() for ch in word) and len(question_terms(word)) >= 2:
            phrases.append(word)
        i += 1
    return [p for p in phrases if len(question_terms(p)) >= 2]


def together(phrase_tokens: Sequence[str], text_tokens: Sequence[str]) -> bool:
    """Whether every token of the phrase occurs within one span of ``len(phrase) + SLACK`` text tokens."""
    wanted = set(phrase_tokens)
    if not wanted or not wanted <= set(text_tokens):
        return False
    span = len(phrase_tokens) + SLACK
    for start, token in enumerate(text_tokens):
        if token in wanted and wanted <= set(text_tokens[start : start + span]):
            return True
    return False


_VERSION_TOKEN = re.compile(r"v?\d[\w.]*|[a-z]{1,2}\d[\w.]*")


def _version_like(token: str) -> bool:
    """A number, a "v4"-style version or a short code with a digit ("x2", "h100"); not "newstest2014"."""
    return _VERSION_TOKEN.fullmatch(token) is not None


def _version(tokens: Sequence[str]) -> tuple[str, ...]:
    """Digit tokens as a version, a leading "v" dropped: ["v4", "2"] -> ("4", "2")."""
    return tuple(t[1:] if t[:1] == "v" and t[1:2].isdigit() else t for t in tokens)


def _leading_number(version: tuple[str, ...]) -> float | None:
    match = re.match(r"\d+(?:\.\d+)?", version[0]) if version else None
    return float(match.group()) if match else None


def versions_beside(name: str, text_tokens: Sequence[str]) -> set[tuple[str, ...]]:
    """The versions written right after ``name`` in the text, as token tuples ("quillmq 4.2" -> ("4.2",);
    "bluetooth v4.2" -> ("4", "2"): a leading "v" is dropped)."""
    seen = set()
    for position, token in enumerate(text_tokens):
        if token != name:
            continue
        digits = []
        for following in text_tokens[position + 1 : position + 4]:
            if not _version_like(following):
                break
            digits.append(following)
        if digits:
            seen.add(_version(digits))
    return seen


def _compatible(seen: tuple[str, ...], asked: tuple[str, ...]) -> bool:
    """The same version, or one written shorter ("4.0" for "4.0.3"; one token each)."""
    if seen == asked:
        return True
    if len(seen) == len(asked) == 1:
        a, b = seen[0], asked[0]
        return a.startswith(b + ".") or b.startswith(a + ".")
    return ".".join(seen) == ".".join(asked)


def with_another_version(phrase_tokens: Sequence[str], texts: Sequence[Sequence[str]]) -> bool:
    """Whether the texts name the phrase's thing only with other versions: "QuillMQ 4.2" for "QuillMQ 4.1",
    "Bluetooth v4.2" for "Bluetooth 5", "Top 10 2017" for "Top 10 2021". Not when a version written there
    is the same or a shorter form of it ("ASVS 4.0" for "ASVS 4.0.3"), nor when the asked one lies within the
    range the texts list ("Level 1" and "Level 3" for "Level 2": an enumeration that surely holds it)."""
    first_digit = next((i for i, t in enumerate(phrase_tokens) if _digits(t)), None)
    if not first_digit:  # no name before the version ("HTTP/3" has one; "2-Chat" alone has none)
        return False
    name = phrase_tokens[first_digit - 1]
    asked = _version([t for t in phrase_tokens[first_digit:] if _digits(t)])
    seen = set().union(*(versions_beside(name, t) for t in texts)) if texts else set()
    if not seen:
        return False
    if any(_compatible(v, asked) for v in seen):
        return False
    number = _leading_number(asked)
    others = [n for n in (_leading_number(v) for v in seen) if n is not None]
    if number is not None and others and min(others) < number < max(others):
        return False
    return True


def phrases_missing(question: str, texts: Iterable[Sequence[str]], titles: Iterable[Sequence[str]] = ()) -> list[str]:
    """The key phrases of ``question`` that stand together in none of ``texts`` and ``titles`` (analyzer token
    lists) while their name stands in the texts with another version: the question asks about a version,
    size or year of something the documents cover, but not that one. A version that a title states ("...
    Verification Standard 4.0.3") is the document's own: the phrase is not missing then."""
    texts, titles = list(texts), list(titles)
    missing = []
    for phrase in key_phrases(question):
        tokens = question_terms(phrase)
        version = {t for t in tokens if _digits(t)}
        if any(together(tokens, t) for t in texts + titles) or any(version <= set(t) for t in titles):
            continue
        if with_another_version(tokens, texts):
            missing.append(phrase)
    return missing
