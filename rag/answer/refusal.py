"""The refusal: one fixed sentence per language, and recognising it (or a paraphrase) in model output.

The product refuses in code (the relevance gate, the grounding check) and also tells the model to reply with
exactly this sentence when the passages do not hold the answer. Whatever the path, users always see the same
sentence, in the language of their question: Chinese for questions that contain Chinese characters, English
otherwise.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Sequence

from rag.analysis import contains_cjk

Language = Literal["en", "zh"]

REFUSALS: dict[str, str] = {
    "en": "I can't find the answer to that in your documents.",
    "zh": "我在您的文档中找不到这个问题的答案。",
}

# Ways models say "the passages don't say" at the start of an answer (normalised text, see _normalise).
_REFUSAL_PATTERNS = re.compile(
    r"^(?:"
    r"i (?:can ?not|cant|could ?not|couldnt|am unable to|was unable to|do not|dont) (?:find|see|locate|answer|know)"
    r"|(?:the )?(?:provided )?(?:passages|documents|context|texts?) (?:do not|dont|does not|doesnt) "
    r"(?:contain|mention|say|provide|include|answer|state)"
    r"|there is no (?:information|mention|answer)"
    r"|no (?:information|answer) (?:is|was) (?:given|found|provided)"
    r")"
    r"|^(?:我|抱歉|对不起)?.{0,6}(?:找不到|无法找到|没有找到|无法回答|未找到|没有提到|没有相关)"
)


def question_language(question: str) -> Language:
    """``zh`` for questions containing CJK characters, ``en`` otherwise."""
    return "zh" if contains_cjk(question) else "en"


_CLOSING_MARKS = "?？!！。.;；:： "


def in_question_language(reply: str, question: str) -> bool:
    """Whether ``reply`` is in the language of ``question``: for a Chinese question, whether it holds Chinese
    beyond copies of the question itself ("The answer is: <the question>" is an English reply)."""
    if question_language(question) != "zh":
        return True
    core = " ".join(question.split()).rstrip(_CLOSING_MARKS)
    rest = re.sub(r"\s+".join(re.escape(word) for word in core.split()), " ", reply, flags=re.IGNORECASE) if core else reply
    return contains_cjk(rest)


def across_scripts(question: str, passages: Sequence[Any]) -> bool:
    """Whether a Chinese question meets passages with no Chinese in them (``passages``: anything with a
    ``text``), where word overlap, and so the grounding check's support, cannot be measured."""
    return question_language(question) == "zh" and not any(contains_cjk(p.text) for p in passages)


def refusal_sentence(language: str) -> str:
    """The fixed refusal sentence of ``language`` (English for any language without its own sentence)."""
    return REFUSALS.get(language, REFUSALS["en"])


def refusal_for(question: str) -> str:
    """The refusal sentence in the language of ``question``."""
    return refusal_sentence(question_language(question))


def _normalise(text: str) -> str:
    text = text.strip().lower().replace("\u2019", "'").replace("'", "")
    text = re.sub(r"\[\d+\]", " ", text)
    return re.sub(r"\s+", " ", text).strip(" \"'“”「」")


# "... is not mentioned in the passages", "the text does not provide any information about ..."
_NOT_IN_SOURCES = re.compile(
    r"\bnot (?:mentioned|stated|specified|given|provided|found|available|included|listed) (?:in|by) (?:the |any |these )?"
    r"(?:provided )?(?:passages?|documents?|texts?|context|sources?)\b"
    r"|\b(?:passages?|documents?|texts?|context|sources?) (?:do|does|did) not (?:mention|provide|say|state|specify|"
    r"contain|include|give|tell)\b"
)
_FIRST_SENTENCE = re.compile(r"^.*?(?:[.!?。！？](?:\s|$)|\n|$)", re.DOTALL)


def is_refusal(text: str) -> bool:
    """True when model output is a refusal: it starts with the fixed sentence or a common paraphrase, or its
    first sentence says the passages do not hold the answer."""
    normalised = _normalise(text)
    if not normalised:
        return False
    for sentence in REFUSALS.values():
        fixed = _normalise(sentence).rstrip(".。")
        if normalised.startswith(fixed):
            return True
    if _REFUSAL_PATTERNS.search(normalised) is not None:
        return True
    first = _FIRST_SENTENCE.match(normalised)
    return bool(first) and _NOT_IN_SOURCES.search(first.group()) is not None
