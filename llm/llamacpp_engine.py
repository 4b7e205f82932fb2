"""Chat engine on llama.cpp in-process (llama-cpp-python): a GGUF file, CPU threads, no server.

The prompt is always built here as token ids and generated with ``create_completion``:

- ``llama-2``: Meta's exact format (:func:`llm.chat_format.llama2_prompt_ids`), BOS/EOS as special ids and
  every piece tokenized as plain text, exactly as SentencePiece would;
- ``template``: the GGUF's own chat template (``tokenizer.chat_template``, e.g. ChatML for SmolLM2),
  rendered and tokenized the way llama-cpp-python's server does it, so in-process and served prompts agree.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from llm.chat_format import (
    LLAMA2,
    TEMPLATE,
    llama2_prompt_ids,
    normalise_chat_format,
    prepare_messages,
    resolve_chat_format,
)
from llm.cpu_threads import configure_openmp, default_threads
from llm.errors import ChatFormatError, EngineError, ModelNotFound, PromptTooLong
from llm.gguf_copy import fast_cpu_model
from llm.native_logs import quiet_native_logs
from llm.prompt_prefix import SavedStarts, stable_start_for, start_from
from llm.protocol import GenerationParams, Message

log = logging.getLogger(__name__)

def _require_llama_cpp() -> Any:
    configure_openmp(os.environ)  # in time unless torch has loaded the (shared) OpenMP runtime already
    try:
        import llama_cpp  # heavy: loaded on first use, not when the module is imported
    except ImportError as exc:  # pragma: no cover - llama-cpp-python is a dependency
        raise EngineError(
            "llama-cpp-python is not installed; install it (pip install 'llama-cpp-python[server]') "
            "or choose another LLM backend"
        ) from exc
    return llama_cpp


def cpu_load_plan(
    path: Path,
    threads: int | None,
    decode_threads: int | None,
    fast_copy_dir: str | Path | None,
    metadata: dict[str, str] | None = None,
) -> tuple[Path, int, int]:
    """(the GGUF to load, threads reading prompts, threads generating): the same choice in-process and served.
    Generation uses every prompt thread unless told otherwise: one fixed count, see :mod:`llm.cpu_threads`.
    ``metadata``: the GGUF's, when the caller has read it already."""
    load_path = path
    if fast_copy_dir is not None:
        read = read_gguf_metadata if metadata is None else (lambda _: metadata)
        load_path = fast_cpu_model(path, Path(fast_copy_dir).expanduser(), read)
    threads = threads or default_threads()
    return load_path, threads, decode_threads or threads


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """The GGUF's key-value metadata, read with its vocabulary only (no weights)."""
    llama_cpp = _require_llama_cpp()
    if not path.is_file():
        raise ModelNotFound(f"GGUF model file not found: {path}")
    try:
        with quiet_native_logs():
            vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelNotFound(f"llama.cpp cannot read {path}: {exc}") from exc
    try:
        return dict(vocab.metadata)
    finally:
        vocab.close()


def model_display_name(path: Path, metadata: dict[str, str]) -> str:
    """The name used to recognise a model: the file name plus the GGUF's ``general.name``."""
    return f"{path.name} {metadata.get('general.name', '')}".strip()


def gguf_chat_format(model_path: str | Path, requested: str = "auto", metadata: dict[str, str] | None = None) -> str:
    """Resolve the chat format of a GGUF without loading its weights (reads the vocabulary and metadata,
    unless the caller passes the ``metadata`` it has read)."""
    requested = normalise_chat_format(requested)
    path = Path(model_path)
    metadata = read_gguf_metadata(path) if metadata is None else metadata
    has_template = "tokenizer.chat_template" in metadata
    resolved = resolve_chat_format(requested, model_display_name(path, metadata), has_template)
    if resolved == TEMPLATE and not has_template:
        raise ChatFormatError(f"{path.name} has no chat template; set the chat format to 'llama-2'")
    return resolved


class LlamaCppEngine:
    """A GGUF model run in this process by llama.cpp. Thread-safe: one generation at a time."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        context_length: int = 4096,
        threads: int | None = None,
        chat_format: str = "auto",
        seed: int = 0,
        n_batch: int = 512,
        decode_threads: int | None = None,
        fast_copy_dir: str | Path | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        llama_cpp = _require_llama_cpp()
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFound(f"GGUF model file not found: {path}")
        requested = normalise_chat_format(chat_format)
        load_path, threads, decode_threads = cpu_load_plan(path, threads, decode_threads, fast_copy_dir)
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(load_path),
                n_ctx=context_length,
                n_batch=min(n_batch, context_length),
                n_threads=decode_threads,
                n_threads_batch=threads,
                seed=seed,
                flash_attn=True,  # about 15% faster prompt evaluation on CPU; same setting as the server
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFound(f"llama.cpp cannot load {path}: {exc}") from exc
        self.model_path = path
        self.loaded_path = load_path  # ``path`` itself, or its faster Q8_0 copy
        self.threads = threads
        self.decode_threads = decode_threads
        self.seed = seed
        self.metadata: dict[str, str] = dict(self._llama.metadata)
        template = self.metadata.get("tokenizer.chat_template")
        self.chat_format = resolve_chat_format(requested, model_display_name(path, self.metadata), bool(template))
        if self.chat_format == TEMPLATE and not template:
            raise ChatFormatError(f"{path.name} has no chat template; set the chat format to 'llama-2'")
        self._formatter = None
        if self.chat_format == TEMPLATE:
            eos, bos = self._llama.token_eos(), self._llama.token_bos()
            self._formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=self._llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=self._llama._model.token_get_text(bos) if bos != -1 else "",
            )
        self._stable_start = stable_start_for(self._llama, llama2=self.chat_format == LLAMA2)
        self._saved_starts = None
        if state_dir is not None:
            weights = load_path.stat()
            identity = (
                f"{load_path.resolve()} {weights.st_size} {weights.st_mtime_ns}; llama-cpp-python "
                f"{llama_cpp.__version__}; threads {threads}; batch {self._llama.n_batch}; context {context_length}"
            )
            self._saved_starts = SavedStarts(Path(state_dir).expanduser(), identity)
        self.name = f"llamacpp:{path.name}"
        self._lock = threading.Lock()
        log.info(
            "loaded %s (chat format %s, %d threads, %d generating, context %d)",
            load_path, self.chat_format, threads, self.decode_threads, self.context_length,
        )  # fmt: skip

    # --- protocol ----------------------------------------------------------------------------------

    @property
    def context_length(self) -> int:
        return int(self._llama.n_ctx())

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> str:
        return "".join(self.stream(messages, params))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str]:
        ids, stops = self._prompt(messages)
        max_tokens = self._room(len(ids), params.max_new_tokens)
        stop = list(dict.fromkeys([*params.stop, *stops]))
        with self._lock:
            # The prompt's stable start (its system turn) is kept from the last prompt or evaluated on its own,
            # then the rest: the same batches whatever was asked before, so temperature 0 stays deterministic.
            start_from(self._llama, ids, self._stable_start.length(ids), self._saved_starts)
            chunks = self._llama.create_completion(
                prompt=ids,
                max_tokens=max_tokens,
                temperature=max(params.temperature, 0.0),
                top_p=params.top_p,
                stop=stop,
                seed=params.seed,
                stream=True,
            )
            try:
                for chunk in chunks:
                    text = chunk["choices"][0].get("text") or ""
                    if text:
                        yield text
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    # --- helpers -----------------------------------------------------------------------------------

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The exact token ids the model is given for these messages."""
        return self._prompt(messages)[0]

    def kept_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """How many tokens at the start of this prompt (its system turn) are kept for the next prompt."""
        return self._stable_start.length(self.prompt_ids(messages))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """How many tokens the formatted prompt of these messages takes."""
        return len(self.prompt_ids(messages))

    def _prompt(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        prepared = prepare_messages(messages)
        if self.chat_format == LLAMA2:
            ids = llama2_prompt_ids(
                prepared,
                tokenize=lambda text: self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False),
                bos_id=self._llama.token_bos(),
                eos_id=self._llama.token_eos(),
            )
            return ids, []
        assert self._formatter is not None
        result = self._formatter(messages=[{"role": m.role, "content": m.content} for m in prepared])
        ids = self._llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return ids, [s for s in stops if s]

    def _room(self, prompt_tokens: int, max_new_tokens: int) -> int:
        room = self.context_length - prompt_tokens
        if room < 1:
            raise PromptTooLong(
                f"the prompt takes {prompt_tokens} tokens but the context holds {self.context_length}; "
                "shorten it or raise the context length"
            )
        return max(1, min(max_new_tokens, room))

    def close(self) -> None:
        self._llama.close()
