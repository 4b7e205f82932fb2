"""What kind of answer a question asks for, and whether a piece of text holds one.

A "how many / how much / what percentage / which year" question is answered by a figure; a "who / which
organisation" question by a name. A passage can share every word of such a question and still not answer
it ("BERT is pre-trained on unlabeled text" for "How many parameters does BERT-LARGE have?"). The gate uses
this check on the passages' sentences, and a quote must pass it before it may stand in for an answer.

Pure functions over text; English and Chinese question forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class AnswerType(str, Enum):
    FIGURE = "figure"  # a number: a count, an amount, a size, a percentage, a year, a duration
    NAME = "name"  # a person, an organisation, a product
    ANY = "any"  # anything: what, why, how, describe ...


@dataclass(frozen=True)
class Expectation:
    kind: AnswerType
    unit: str = ""  # the unit the question names ("dBi", "ms", "GB", "%"), lower case; "" for none

    @property
    def typed(self) -> bool:
        return self.kind is not AnswerType.ANY


_FIGURE_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|large|big|high|low|fast|slow|often|old|far|wide|tall|heavy|deep|small)\b"
    r"|\bwhat\s+(?:percentage|percent|proportion|fraction|share|ratio|number|amount|year|size|price|cost)\b"
    r"|\b(?:which|what)\s+(?:year|month|date)\b"
    r"|\bwhat\s+(?:[\w@-]+\s+){0,3}?(?:score|accuracy|rate|length|size|price|cost|count|speed|latency|"
    r"frequency|voltage|temperature|capacity|budget)s?\b"
    r"|\bin\s+(?:what|which)\s+year\b"
    r"|多少|几(?!乎)[\u4e00-\u9fff]|多[长大高久重远宽快]|百分之|比例|占比|哪一?年|何年",
    re.IGNORECASE,
)
_NAME_QUESTION = re.compile(
    r"^\s*who\b|\bwho\s+(?:is|was|are|were|wrote|made|built|developed|published|created|founded|funded)\b"
    r"|\b(?:which|what)\s+(?:company|companies|organi[sz]ations?|institutions?|universit(?:y|ies)|authors?|"
    r"person|people|agency|vendor|manufacturer|lab|laboratory)\b"
    r"|谁|哪家|哪个(?:公司|机构|组织)",
    re.IGNORECASE,
)
# Units a question can name; the key is how it is written, the value what to look for in the text.
_UNITS = {
    "%": r"%|percent|per\s*cent",
    "percent": r"%|percent|per\s*cent",
    "percentage": r"%|percent|per\s*cent",
    "dbi": r"dbi", "dbm": r"dbm", "db": r"db",
    "ms": r"\d\s*ms\b|millisecond", "milliseconds": r"\d\s*ms\b|millisecond",
    "seconds": r"\d\s*s\b|second", "minutes": r"minute|\bmin\b", "hours": r"hour|\bh\b", "days": r"\bday",
    "gb": r"\d\s*gb\b|gigabyte", "mb": r"\d\s*mb\b|megabyte", "kb": r"\d\s*kb\b|kilobyte", "tb": r"\d\s*tb\b",
    "ghz": r"ghz", "mhz": r"mhz", "khz": r"khz", "hz": r"hz",
    "volts": r"\d\s*[mkµu]?v\b|volt|伏", "mw": r"mw", "ma": r"\d\s*ma\b", "watts": r"\d\s*w\b|watt",
    "tokens": r"token", "parameters": r"param|\d\s*[mbk]\b", "bits": r"bit", "bytes": r"byte",
    "dollars": r"\$|dollar|usd", "usd": r"\$|dollar|usd",
    "degrees": r"°|℃|℉|degrees?|kelvin|\d\s*k\b",
    "hertz": r"hz|赫兹",
}
# A quantity the question names implies the unit of its figure ("storage temperature" -> degrees).
_QUANTITY_UNITS = (
    (re.compile(r"temperature|温度", re.IGNORECASE), "degrees"),
    (re.compile(r"voltage|电压", re.IGNORECASE), "volts"),
    (re.compile(r"frequency|频率", re.IGNORECASE), "hertz"),
)
_UNIT_IN_QUESTION = re.compile(
    r"\bin\s+(%|percent(?:age)?|dbi|dbm|db|ms|milliseconds|seconds|minutes|hours|days|gb|mb|kb|tb|ghz|mhz|khz|"
    r"hz|volts|mw|ma|watts|tokens|bits|bytes|dollars|usd)\b|(?<=\s)(%)(?=\s|$)",
    re.IGNORECASE,
)
# A number standing as a figure: not the digit of a name ("GPT-2", "H100") nor a page number a line break
# glued into a word ("lan-8 guage"); a unit may follow ("340M", "5 ms").
_NUMBER = re.compile(r"(?<![A-Za-z0-9\-])\d+(?:[.,]\d+)*")
_CHINESE_FIGURE = re.compile(r"[零一二三四五六七八九十百千万亿两]+(?:[个位年天次种项条层块%％]|万|亿)")  # "六个", "三万"
_NAME = re.compile(r"\b[A-Z][\w&.-]*[A-Za-z]|[\u4e00-\u9fff]{2,}")


def expectation(question: str) -> Expectation:
    """What the question asks for (FIGURE before NAME: "how many authors" wants a figure)."""
    unit = _UNIT_IN_QUESTION.search(question)
    if unit:
        return Expectation(AnswerType.FIGURE, (unit.group(1) or unit.group(2)).lower())
    if _FIGURE_QUESTION.search(question):
        implied = next((u for pattern, u in _QUANTITY_UNITS if pattern.search(question)), "")
        return Expectation(AnswerType.FIGURE, implied)
    if _NAME_QUESTION.search(question):
        return Expectation(AnswerType.NAME)
    return Expectation(AnswerType.ANY)


# Numbers that are not figures a reader could take as an answer: a citation "(Vaswani et al., 2017)",
# "[12]", a reference to a figure, table or section ("Table 2", "图 5"), a section number opening the text
# ("6 RELATED WORKS", "3.2 Training") or heading a section inside it ("3.2.3 Applications of Attention").
_FIGURE_REFERENCE = re.compile(r"(?:\b(?:Figure|Fig\.|Table|Section|Chapter|Appendix)|图|表|章节|第)\s*\d+(?:\.\d+)*", re.IGNORECASE)
_CITATION = re.compile(r"\([^()]*\bet al\.?[^()]*\)|\([A-Z][\w'-]+(?:,| and [A-Z][\w'-]+,?)? (?:19|20)\d\d[a-z]?\)|\[\d+(?:[,-]\s*\d+)*\]")
_SECTION_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+(?=[A-Z])|(?<![\w.])\d+(?:\.\d+){2,}\s+(?=[A-Z][a-z])")


def _without_references(text: str) -> str:
    return _SECTION_NUMBER.sub(" ", _FIGURE_REFERENCE.sub(" ", _CITATION.sub(" ", text)))


def holds(expected: Expectation, text: str, question: str = "") -> bool:
    """Whether ``text`` holds an answer of the expected kind that the question does not already state: a
    figure (with the question's unit, when it names one) for FIGURE, a name for NAME; always for ANY."""
    if expected.kind is AnswerType.ANY:
        return True
    if expected.kind is AnswerType.FIGURE:
        text = _without_references(text)
        asked = set(_NUMBER.findall(question))
        new = [n for n in _NUMBER.findall(text) if n not in asked] or _CHINESE_FIGURE.findall(text)
        if not new:
            return False
        if expected.unit:
            return re.search(_UNITS.get(expected.unit, re.escape(expected.unit)), text, re.IGNORECASE) is not None
        return True
    asked_words = {w.lower() for w in re.findall(r"\w+", question)}
    return any(m.group().lower() not in asked_words for m in _NAME.finditer(text))


def describe(expected: Expectation) -> str:
    """What is missing, in words, for a refusal: "a figure", "a figure in dBi", "a name"."""
    if expected.kind is AnswerType.FIGURE:
        return f"a figure in {expected.unit}" if expected.unit else "a figure"
    if expected.kind is AnswerType.NAME:
        return "a name"
    return "an answer"
