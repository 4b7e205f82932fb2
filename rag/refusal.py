"""The refusal: one fixed sentence per language, and recognising it (or a paraphrase) in model output.

The product refuses in code (the relevance gate, the grounding check) and also tells the model to reply with
exactly this sentence when the passages do not hold the answer. Whatever the path, users always see the same
sentence, in the language of their question: Chinese for questions that contain Chinese characters, English
otherwise.
"""

from __future__ import annotations

import re
from typing import Literal

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


def is_refusal(text: str) -> bool:
    """True when model output is (or starts with) a refusal: the fixed sentence or a common paraphrase."""
    normalised = _normalise(text)
    if not normalised:
        return False
    for sentence in REFUSALS.values():
        fixed = _normalise(sentence).rstrip(".。")
        if normalised.startswith(fixed):
            return True
    return _REFUSAL_PATTERNS.search(normalised) is not None
