"""Multi-turn conversations: the turns kept, the history the model sees, and follow-up rewriting.

A follow-up such as "and the 70B one?" cannot be searched on its own. Before retrieval it is rewritten into a
standalone query:

- by the model when it is able: asked for a standalone question, its reply is accepted only when it keeps
  every content word of the follow-up and brings in context from the conversation (small models often
  reply with something else entirely);
- otherwise by a rule: the follow-up plus the previous query's key terms, leaving out terms of the same
  kind the follow-up replaces ("7B" gives way to "70B").

The model sees history in its own multi-turn format (see :func:`rag.answer.prompting.build_messages`): each earlier
question as the user asked it and each earlier answer without its citation markers; refused exchanges are
left out of the prompt (they would teach the model to refuse) but still inform rewriting.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Literal, Sequence

from llm.chat_format import neutralise
from llm.protocol import ChatEngine, GenerationParams, Message
from rag.analysis import STOPWORDS, analyze, contains_cjk
from rag.answer.citations import strip_markers
from rag.answer.prompting import Exchange

log = logging.getLogger(__name__)

RewriteMode = Literal["auto", "model", "rule", "off"]


@dataclass(frozen=True)
class Turn:
    question: str  # as the user asked it
    query: str  # the standalone query retrieval used
    answer: str  # final answer text (the refusal sentence when refused)
    refused: bool = False


@dataclass
class Conversation:
    """The turns of one conversation. Safe to share between threads; updated when an answer finishes."""

    turns: list[Turn] = field(default_factory=list)
    max_turns: int = 50  # turns remembered (the prompt takes at most ``history_turns`` of them)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, turn: Turn) -> None:
        with self._lock:
            self.turns.append(turn)
            del self.turns[: max(0, len(self.turns) - self.max_turns)]

    def reset(self) -> None:
        with self._lock:
            self.turns.clear()

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def history(self, limit: int) -> list[Exchange]:
        """The latest ``limit`` answered exchanges, oldest first, as the model sees them again."""
        if limit <= 0:
            return []
        with self._lock:
            answered = [t for t in self.turns if not t.refused]
        return [
            Exchange(question=t.question, answer=" ".join(strip_markers(t.answer).split()))
            for t in answered[-limit:]
        ]

    def __len__(self) -> int:
        return len(self.turns)


# --- is it a follow-up? ---------------------------------------------------------------------------
_FOLLOW_UP_START = re.compile(
    r"^\s*(?:and|but|or|also|then|so|what about|how about|same for|and what about|and how about)\b", re.IGNORECASE
)
_ANAPHORA = frozenset(
    "it its it's they them their theirs these those one ones he she him his her former latter same "
    "that's this".split()
)
_CJK_FOLLOW_UP = re.compile(r"它|它们|这个|那个|这些|那些|该|其|呢[？?]?\s*$|那么|还有")
_WORD = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
SHORT_QUESTION_TOKENS = 2


def looks_like_follow_up(question: str) -> bool:
    """True for questions that lean on the conversation ("and the 70B one?", "what about its size?")."""
    if _FOLLOW_UP_START.search(question):
        return True
    if contains_cjk(question):
        return bool(_CJK_FOLLOW_UP.search(question)) or len(analyze(question)) <= SHORT_QUESTION_TOKENS
    words = {w.lower() for w in _WORD.findall(question)}
    if words & _ANAPHORA:
        return True
    return len(analyze(question)) <= SHORT_QUESTION_TOKENS


# --- rule-based rewriting -------------------------------------------------------------------------
_FILLER = frozenset(
    "what which who whom whose when where why how many much does did do is are was were can could would should "
    "tell explain describe give list please say said use used using according paper document documents".split()
)


def _shape(word: str) -> str:
    """The kind of a token with digits: ``7B`` and ``70B`` are both ``0a``; words without digits have none."""
    if not re.search(r"\d", word):
        return ""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+(?:[.,]\d+)*", "0", word.lower()))


def key_terms(text: str) -> list[str]:
    """The content words of a question as written (stopwords and question words left out), in order."""
    terms: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group()
        lowered = word.lower()
        if lowered in STOPWORDS or lowered in _FILLER or not analyze(word):
            continue
        terms.append(word)
    return list(dict.fromkeys(terms))


def rule_rewrite(question: str, previous_query: str) -> str:
    """The follow-up with the previous query's key terms it does not already carry.

    Terms the follow-up replaces are left out: a previous term with digits gives way when the follow-up has a
    term of the same shape ("7B" -> "70B").
    """
    own_tokens = set(analyze(question))
    own_shapes = {_shape(w) for w in _WORD.findall(question)} - {""}
    carried = []
    for term in key_terms(previous_query):
        if set(analyze(term)) <= own_tokens:
            continue
        if _shape(term) and _shape(term) in own_shapes:
            continue
        carried.append(term)
    if contains_cjk(previous_query) and not carried:
        carried = [run for run in re.findall(r"[\u3400-\u9fff]{2,}", previous_query) if run not in question]
    if not carried:
        return question.strip()
    return f"{question.strip()} {' '.join(carried)}"


# --- model-based rewriting ------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _generic() -> frozenset[str]:
    return frozenset(analyze("one ones thing things about also else part"))


REWRITE_SYSTEM = (
    "You rewrite a follow-up question from a conversation into one standalone question that can be "
    "understood without the conversation. Keep every name, number and technical term. Reply with the "
    "rewritten question only."
)
REWRITE_PARAMS = GenerationParams(temperature=0.0, max_new_tokens=64, stop=("\n",))
_ANSWER_CHARS = 300
_PREFIX = re.compile(r"^\s*(?:standalone question|rewritten question|question|query)\s*[:：]\s*", re.IGNORECASE)


def rewrite_messages(question: str, previous: Sequence[Turn]) -> list[Message]:
    lines = []
    for turn in previous:
        answer = " ".join(strip_markers(turn.answer).split())
        if len(answer) > _ANSWER_CHARS:
            answer = answer[:_ANSWER_CHARS] + "…"
        lines.append(f"Question: {turn.question.strip()}\nAnswer: {answer}")
    context = neutralise("\n\n".join(lines))
    return [
        Message("system", REWRITE_SYSTEM),
        Message(
            "user",
            f"Conversation:\n{context}\n\nFollow-up question: {question.strip()}\n\n"
            "Standalone question:",
        ),
    ]


def accept_rewrite(reply: str, question: str, previous_query: str) -> str | None:
    """The model's rewrite when it is usable, else None.

    Usable: one line, not absurdly long, keeps every number-like token of the follow-up ("70B") and most of
    its other content words, and adds at least one content token of the previous query (it really brought
    the context in).
    """
    line = next((ln for ln in reply.strip().splitlines() if ln.strip()), "")
    line = _PREFIX.sub("", line).strip().strip("\"'“”")
    if not line or len(line) > max(300, 4 * len(question)):
        return None
    tokens = set(analyze(line))
    own = set(analyze(question)) - _generic()
    numeric = {t for t in own if re.search(r"\d", t)}
    if not numeric <= tokens:
        return None
    words = own - numeric
    if words and len(words & tokens) * 2 < len(words):
        return None
    brought = (set(analyze(previous_query)) - set(analyze(question))) & tokens
    if not brought:
        return None
    return neutralise(line)


def rewrite_query(
    question: str,
    conversation: Conversation | None,
    *,
    engine: ChatEngine | None = None,
    mode: RewriteMode = "auto",
    turns: int = 3,
) -> tuple[str, str]:
    """(standalone query, how it was made: ``as-is``, ``model`` or ``rule``) for ``question``."""
    previous = conversation.turns[-turns:] if conversation is not None and turns > 0 else []
    if mode == "off" or not previous or not looks_like_follow_up(question):
        return question.strip(), "as-is"
    previous_query = previous[-1].query
    if mode in ("auto", "model") and engine is not None:
        try:
            reply = engine.generate(rewrite_messages(question, previous), REWRITE_PARAMS)
        except Exception as exc:  # a failing rewrite must not fail the question: fall back to the rule
            log.warning("query rewriting by the model failed (%s); using the rule", exc)
            reply = ""
        accepted = accept_rewrite(reply, question, previous_query)
        if accepted is not None:
            return accepted, "model"
        log.info("model rewrite %r not usable; using the rule", reply[:200])
    return rule_rewrite(question, previous_query), "rule"
