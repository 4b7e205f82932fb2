"""Read a prompt's system turn once and keep it, without making answers depend on the previous prompt.

llama-cpp-python reuses whatever start the next prompt shares with the last one and evaluates the rest in
one go. Where the rest begins then depends on the previous request, and a batch of another shape changes the
logits in their last bits, which can flip a greedy choice: the same question could get another answer at
temperature 0. So the engines used to evaluate every prompt from scratch.

Here every prompt is evaluated in two parts split at a point that depends on the prompt alone, its *stable
start*: through its first end-of-turn token (ChatML's ``<|im_end|>`` after the system message, Llama 3's
``<|eot_id|>``), or, in the Llama 2 format, where the system prompt folded into the first turn ends
(``\\n<</SYS>>\\n\\n``), whichever comes first. The start is evaluated on its own and kept; the next prompt
that begins with the same tokens evaluates only the rest. Each part is always evaluated in the same batches,
so a prompt gets the same logits whatever was asked before, and the system prompt of grounded answers (111 of
about 550 tokens on SmolLM2) is read once instead of for every question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from llm.chat_format import B_INST, B_SYS, E_SYS


@dataclass(frozen=True)
class StableStart:
    """Where a prompt's stable start ends, from its token ids."""

    is_end_of_turn: Callable[[int], bool]
    system_close: tuple[int, ...] = ()  # Llama 2's E_SYS as tokenized inside a prompt (empty: other formats)

    def length(self, ids: Sequence[int]) -> int:
        """Tokens of the stable start; 0 when the prompt has none or nothing follows it."""
        end = next((i + 1 for i, token in enumerate(ids) if self.is_end_of_turn(token)), len(ids))
        close = self.system_close
        if close:
            for i in range(1, min(end, len(ids) - len(close) + 1)):
                if tuple(ids[i : i + len(close)]) == close:
                    end = i + len(close)
                    break
        return end if end < len(ids) else 0


def llama2_system_close(tokenize: Callable[[str], list[int]]) -> tuple[int, ...]:
    """The ids of ``E_SYS`` inside a Llama 2 prompt (SentencePiece writes it differently at a text's start)."""
    head = tokenize(f"{B_INST} {B_SYS}x")
    first, second = tokenize(f"{B_INST} {B_SYS}x{E_SYS}y"), tokenize(f"{B_INST} {B_SYS}x{E_SYS}z")
    shared = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second)))
    if first[: len(head)] != head or shared <= len(head):
        return ()
    return tuple(first[len(head) : shared])


def stable_start_for(llama: Any, llama2: bool) -> StableStart:
    """The stable-start rule of a loaded ``llama_cpp.Llama`` (``llama2``: the prompt is in Llama 2's format)."""
    import llama_cpp

    vocab = llama._model.vocab

    def is_end_of_turn(token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(vocab, token))

    if not llama2:
        return StableStart(is_end_of_turn)
    tokenize = lambda text: llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # noqa: E731
    return StableStart(is_end_of_turn, llama2_system_close(tokenize))


def start_from(llama: Any, ids: Sequence[int], stable: int) -> bool:
    """Leave exactly the prompt's stable start (``stable`` tokens) evaluated, so that llama-cpp-python's
    ``generate`` evaluates just the rest; True when the start was already there. ``stable`` 0: nothing kept."""
    if stable and llama.n_tokens >= stable and list(llama.input_ids[:stable]) == list(ids[:stable]):
        llama.n_tokens = stable  # generate() finds exactly this prefix, drops the cache after it, reads the rest
        return True
    llama.reset()
    if stable:
        llama.eval(list(ids[:stable]))
    return False
