"""The Llama 2 chat format, exactly as Meta's reference ``chat_completion`` builds it, and prompt hygiene.

Meta's reference (``llama/generation.py``) folds the system prompt into the first user turn, then encodes
every finished exchange as ``[BOS] + sp.encode(f"[INST] {user.strip()} [/INST] {assistant.strip()} ") + [EOS]``
and the last user turn as ``[BOS] + sp.encode(f"[INST] {user.strip()} [/INST]")``, each piece tokenized on
its own by SentencePiece. :func:`llama2_prompt_ids` reproduces that with BOS/EOS as special ids;
:func:`llama2_prompt_text` gives the same prompt as text with ``<s>``/``</s>`` for servers that parse them.

Hygiene, applied by :func:`prepare_messages` before any engine formats a prompt:

- user and system messages containing ``[INST]``, ``[/INST]``, ``<<SYS>>`` or ``<</SYS>>`` are refused
  (:class:`~llm.errors.ChatFormatError`), as Meta's reference refuses them;
- assistant messages (model output kept as history) are passed through :func:`neutralise`, since the user
  did not write them and refusing them would break every follow-up question;
- literal special-token strings (``<s>``, ``</s>``, ChatML ``<|im_start|>`` …) in user and system text are
  defanged, because servers that take prompt text parse them as control tokens. This is the one deliberate
  difference from the reference, which never meets a text-parsing server; it only touches such strings.

Retrieved passages must go through :func:`neutralise` before they are put into a message.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from llm.errors import ChatFormatError
from llm.protocol import Message

B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"
BOS_TEXT, EOS_TEXT = "<s>", "</s>"

#: The tags Meta's reference refuses in any message.
SPECIAL_TAGS: tuple[str, ...] = (B_INST, E_INST, "<<SYS>>", "<</SYS>>")

LLAMA2 = "llama-2"

_ROLES = ("system", "user", "assistant")

# Everything that could open or close a turn, in any prompt format this package produces or a server parses.
_LLAMA_TAG = re.compile(r"\[\s*/?\s*inst\s*\]|<<\s*/?\s*sys\s*>>", re.IGNORECASE)
_SPECIAL_TOKEN = re.compile(r"<\s*/?\s*s\s*>|<\|[^<>|\n]{0,64}\|>", re.IGNORECASE)
_DEFANG = str.maketrans({"[": "(", "]": ")", "<": "\u2039", ">": "\u203a"})


def _defang(pattern: re.Pattern[str], text: str) -> str:
    # Replacing brackets can never create a new match, but loop to be sure the result is clean.
    while True:
        new = pattern.sub(lambda m: m.group().translate(_DEFANG), text)
        if new == text:
            return new
        text = new


def neutralise_special_tokens(text: str) -> str:
    """Defang literal special-token strings (``<s>``, ``</s>``, ``<|im_start|>``, ``<|eot_id|>`` …)."""
    return _defang(_SPECIAL_TOKEN, text)


def neutralise(text: str) -> str:
    """Make text safe to embed in any prompt: it can no longer open or close a turn or a system block.

    ``[INST]`` becomes ``(INST)``, ``<<SYS>>`` becomes ``‹‹SYS››``, ``</s>`` becomes ``‹/s›`` and
    ``<|im_end|>`` becomes ``‹|im_end|›`` (case-insensitive, tolerant of inner spaces); everything else is
    left exactly as it was. Idempotent.
    """
    return neutralise_special_tokens(_defang(_LLAMA_TAG, text))


def contains_control_tags(text: str) -> bool:
    """True when :func:`neutralise` would change the text."""
    return neutralise(text) != text


def validate_roles(messages: Sequence[Message]) -> None:
    """system?, then user/assistant alternating starting with user, ending with user."""
    if not messages:
        raise ChatFormatError("no messages: a chat needs at least one user message")
    for i, m in enumerate(messages):
        if m.role not in _ROLES:
            raise ChatFormatError(f"message {i} has unknown role {m.role!r}; use system, user or assistant")
        if not isinstance(m.content, str):
            raise ChatFormatError(f"message {i} ({m.role}) content must be text, not {type(m.content).__name__}")
    turns = messages[1:] if messages[0].role == "system" else messages
    if not turns:
        raise ChatFormatError("a system message must be followed by a user message")
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m.role != expected:
            where = i + (len(messages) - len(turns))
            raise ChatFormatError(
                f"message {where} is {m.role!r} but {expected!r} was expected: "
                "roles must be system?, then user/assistant alternating, ending with user"
            )
    if turns[-1].role != "user":
        raise ChatFormatError("the last message must be from the user")


def refuse_control_tags(messages: Iterable[Message]) -> None:
    """Raise if a user or system message holds a Llama 2 control tag, as Meta's reference does."""
    for m in messages:
        if m.role == "assistant":
            continue
        found = [tag for tag in SPECIAL_TAGS if tag in m.content]
        if found:
            raise ChatFormatError(
                f"the {m.role} message contains {', '.join(found)}; these Llama 2 control tags are not allowed "
                "in a message (remove them)"
            )


def prepare_messages(messages: Sequence[Message]) -> list[Message]:
    """Validate and clean messages for any engine (see the module docstring). Returns new messages."""
    messages = list(messages)
    validate_roles(messages)
    refuse_control_tags(messages)
    cleaned = []
    for m in messages:
        content = neutralise(m.content) if m.role == "assistant" else neutralise_special_tokens(m.content)
        cleaned.append(m if content == m.content else Message(m.role, content))
    return cleaned


def llama2_segments(messages: Sequence[Message]) -> list[tuple[str, bool]]:
    """The text pieces Meta's reference tokenizes one by one, each with whether it ends with EOS.

    Every piece is preceded by BOS. ``messages`` are validated (roles, tags) but used verbatim otherwise:
    call :func:`prepare_messages` first for the full hygiene.
    """
    messages = list(messages)
    validate_roles(messages)
    refuse_control_tags(messages)
    if messages[0].role == "system":
        first = Message("user", B_SYS + messages[0].content + E_SYS + messages[1].content)
        messages = [first] + messages[2:]
    segments = [
        (f"{B_INST} {prompt.content.strip()} {E_INST} {answer.content.strip()} ", True)
        for prompt, answer in zip(messages[0:-1:2], messages[1::2])
    ]
    segments.append((f"{B_INST} {messages[-1].content.strip()} {E_INST}", False))
    return segments


def llama2_prompt_ids(
    messages: Sequence[Message],
    tokenize: Callable[[str], list[int]],
    bos_id: int,
    eos_id: int,
) -> list[int]:
    """Token ids of the Llama 2 chat prompt, BOS/EOS as special ids.

    ``tokenize`` must encode plain text the way SentencePiece does (dummy-prefix space, no BOS, control
    strings such as ``<s>`` treated as text): e.g. llama.cpp's ``tokenize(b, add_bos=False, special=False)``.
    """
    ids: list[int] = []
    for text, closed in llama2_segments(messages):
        ids.append(bos_id)
        ids.extend(tokenize(text))
        if closed:
            ids.append(eos_id)
    return ids


def llama2_prompt_text(messages: Sequence[Message], *, leading_bos: bool = True) -> str:
    """The Llama 2 chat prompt as text, BOS/EOS written as ``<s>``/``</s>``.

    For a server that parses special tokens in prompt text and adds BOS itself (llama.cpp, vLLM, TGI), pass
    ``leading_bos=False``: it then tokenizes this text to exactly :func:`llama2_prompt_ids`.
    """
    parts = []
    for text, closed in llama2_segments(messages):
        parts.append(BOS_TEXT + text + (EOS_TEXT if closed else ""))
    prompt = "".join(parts)
    return prompt if leading_bos else prompt[len(BOS_TEXT) :]


_LLAMA2_CHAT_NAME = re.compile(r"llama[-_ ]?2.*(chat|instruct)", re.IGNORECASE)


def looks_like_llama2_chat(name: str) -> bool:
    """True for names such as ``llama-2-7b-chat.Q4_0.gguf`` or ``meta-llama/Llama-2-13b-chat-hf``."""
    return bool(_LLAMA2_CHAT_NAME.search(name))


TEMPLATE = "template"
CHAT_FORMATS: tuple[str, ...] = ("auto", LLAMA2, TEMPLATE)
_ALIASES = {"llama2": LLAMA2, "llama_2": LLAMA2, "gguf": TEMPLATE, "model": TEMPLATE}


def normalise_chat_format(value: str | None) -> str:
    """``auto``, ``llama-2`` or ``template`` (the model's own template); raises ValueError otherwise."""
    name = (value or "auto").strip().lower()
    name = _ALIASES.get(name, name)
    if name not in CHAT_FORMATS:
        raise ValueError(f"unknown chat format {value!r}; use one of {', '.join(CHAT_FORMATS)}")
    return name


def resolve_chat_format(requested: str | None, model_name: str, has_template: bool) -> str:
    """Decide the chat format of a model: ``"llama-2"`` or ``"template"``.

    ``"auto"`` picks ``llama-2`` for Llama 2 chat models (recognised by name), else the model's own template
    when it has one, else ``llama-2`` (the product's reference format).
    """
    name = normalise_chat_format(requested)
    if name != "auto":
        return name
    if looks_like_llama2_chat(model_name):
        return LLAMA2
    return TEMPLATE if has_template else LLAMA2
