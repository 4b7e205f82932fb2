"""The protocol every chat engine implements, and the types at that seam."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Literal, Protocol, Sequence, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0  # 0 is greedy and deterministic
    top_p: float = 0.95
    max_new_tokens: int = 384
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int = 0


@runtime_checkable
class ChatEngine(Protocol):
    """A chat model. ``messages`` is system?, then user/assistant alternating, ending with user."""

    name: str  # e.g. "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"

    @property
    def context_length(self) -> int: ...

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> str: ...

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...
