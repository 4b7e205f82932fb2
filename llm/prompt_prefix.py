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

:class:`SavedStarts` also keeps evaluated starts on disk (llama.cpp's state of the sequence, 2.5 MB for SmolLM2's
system turn), so a new process (every ``rag ask``) restores the system turn in milliseconds instead of reading
it again: the same numbers as evaluating it, since they are the ones it evaluated.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from llm.chat_format import B_INST, B_SYS, E_SYS

log = logging.getLogger(__name__)


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
    import llama_cpp  # heavy: loaded on first use, not when the module is imported

    vocab = llama._model.vocab

    def is_end_of_turn(token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(vocab, token))

    if not llama2:
        return StableStart(is_end_of_turn)
    tokenize = lambda text: llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # noqa: E731
    return StableStart(is_end_of_turn, llama2_system_close(tokenize))


_MAGIC = b"groundrag stable start 1\n"


def _header(ids: Sequence[int]) -> bytes:
    """What a saved start's file begins with: a mark, then its token ids (checked again when it is read)."""
    return _MAGIC + struct.pack(f"<I{len(ids)}i", len(ids), *ids)


KEEP_SAVED_STARTS = 8  # files kept per folder: the most recently used (a system prompt per language and model)


@dataclass(frozen=True)
class SavedStarts:
    """Evaluated stable starts kept in ``folder``, one file per start, named by a hash of ``identity`` (the
    model file and every setting that shapes the numbers: threads, batch size, context, llama.cpp's version)
    and the start's token ids. A file that is missing, unreadable or for other tokens is simply not used; the
    ``keep`` most recently used files are kept, older ones removed when a new one is saved."""

    folder: Path
    identity: str
    keep: int = KEEP_SAVED_STARTS

    def path(self, ids: Sequence[int]) -> Path:
        digest = hashlib.sha256(self.identity.encode("utf-8") + _header(ids)).hexdigest()
        return self.folder / f"{digest[:32]}.state"

    def restore(self, llama: Any, ids: Sequence[int]) -> bool:
        """Put the saved state of ``ids`` into llama's (cleared) cache; False when there is none to use."""
        import llama_cpp  # heavy: loaded on first use, not when the module is imported

        path, header = self.path(ids), _header(ids)
        try:
            data = path.read_bytes()
        except OSError:
            return False
        if len(data) <= len(header) or not data.startswith(header):
            return False
        state = (ctypes.c_uint8 * (len(data) - len(header))).from_buffer_copy(data, len(header))
        memory = llama_cpp.llama_get_memory(llama.ctx)
        llama_cpp.llama_memory_seq_rm(memory, -1, -1, -1)
        if llama_cpp.llama_state_seq_set_data(llama.ctx, state, len(state), 0) != len(state):
            llama_cpp.llama_memory_seq_rm(memory, -1, -1, -1)
            log.warning("could not restore the saved prompt start %s; evaluating it", path.name)
            return False
        llama.input_ids[: len(ids)] = ids
        llama.n_tokens = len(ids)
        try:
            os.utime(path)  # recently used: kept when older files are removed
        except OSError:
            pass
        return True

    def store(self, llama: Any, ids: Sequence[int]) -> None:
        """Save the state of sequence 0, which holds exactly ``ids`` (written whole or not at all)."""
        import llama_cpp  # heavy: loaded on first use, not when the module is imported

        size = llama_cpp.llama_state_seq_get_size(llama.ctx, 0)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llama.ctx, state, size, 0)
        if not written:
            return
        partial: Path | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".partial", delete=False) as out:
                partial = Path(out.name)
                out.write(_header(ids))
                out.write(memoryview(state)[:written])
            os.replace(partial, self.path(ids))
        except OSError as exc:
            if partial is not None:
                partial.unlink(missing_ok=True)
            log.warning("could not save the prompt start in %s: %s", self.folder, exc)
            return
        self._remove_least_recent()

    def _remove_least_recent(self) -> None:
        """Keep the ``keep`` most recently used files (starts of other models or settings age out)."""
        try:
            files = sorted(self.folder.glob("*.state"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
            for old in files[self.keep :]:
                old.unlink(missing_ok=True)
        except OSError as exc:  # another process removed one first, or the folder is read-only
            log.debug("could not prune %s: %s", self.folder, exc)


def start_from(llama: Any, ids: Sequence[int], stable: int, saved: SavedStarts | None = None) -> bool:
    """Leave exactly the prompt's stable start (``stable`` tokens) evaluated, so that llama-cpp-python's
    ``generate`` evaluates just the rest; True when the start was already there (in the cache, or restored
    from ``saved``). ``stable`` 0: nothing kept."""
    start = list(ids[:stable])
    if stable and llama.n_tokens >= stable and list(llama.input_ids[:stable]) == start:
        llama.n_tokens = stable  # generate() finds exactly this prefix, drops the cache after it, reads the rest
        return True
    llama.reset()
    if not stable:
        return False
    if saved is not None and saved.restore(llama, start):
        return True
    llama.eval(start)
    if saved is not None:
        saved.store(llama, start)
    return False
