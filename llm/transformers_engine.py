"""Chat engine on Hugging Face transformers: a model directory or a hub id already in the local cache.

- ``llama-2``: Meta's exact format as token ids (:func:`llm.chat_format.llama2_prompt_ids`), BOS/EOS as the
  tokenizer's special ids, each piece encoded as plain text (special-token strings are not parsed).
- ``template``: the tokenizer's own chat template.

Streaming uses ``TextIteratorStreamer`` with generation in a worker thread; it ends at the model's EOS,
at ``max_new_tokens``, at a stop string, or when the consumer stops reading.
"""

from __future__ import annotations

import logging
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
from llm.errors import ChatFormatError, EngineError, ModelNotFound, PromptTooLong
from llm.protocol import GenerationParams, Message
from llm.stops import StopScanner

log = logging.getLogger(__name__)


class TransformersEngine:
    """A causal LM run by transformers on a GPU when there is one, else the CPU. One generation at a time.

    ``dtype="auto"`` keeps the checkpoint's dtype (float16 for Meta's Llama 2 chat weights).
    """

    def __init__(
        self,
        model: str | Path,
        *,
        context_length: int | None = None,
        threads: int | None = None,
        chat_format: str = "auto",
        seed: int = 0,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        import torch  # heavy: loaded on first use, not when the module is imported
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: loaded on first use, not when the module is imported

        source = str(model).strip()
        if source in ("", "auto"):
            raise ModelNotFound(
                "the transformers backend needs llm_model set to a model directory or a Hugging Face id in the "
                "local cache, e.g. meta-llama/Llama-2-7b-chat-hf"
            )
        local = Path(source).expanduser()
        if local.exists():
            source = str(local)
        requested = normalise_chat_format(chat_format)
        if threads:
            torch.set_num_threads(threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"transformers cannot load {source!r} ({str(exc).splitlines()[0]}); give a model directory, or "
                "download the model into the Hugging Face cache first"
            ) from exc
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(device)
        self.model.eval()
        self.device = device
        self.seed = seed
        self._torch = torch
        max_positions = getattr(self.model.config, "max_position_embeddings", None) or context_length or 4096
        self._context_length = min(context_length, max_positions) if context_length else max_positions
        name = f"{source} {getattr(self.model.config, '_name_or_path', '')}"
        self.chat_format = resolve_chat_format(requested, name, bool(getattr(self.tokenizer, "chat_template", None)))
        if self.chat_format == TEMPLATE and not getattr(self.tokenizer, "chat_template", None):
            raise ChatFormatError(f"{source} has no chat template; set the chat format to 'llama-2'")
        if self.chat_format == LLAMA2 and (self.tokenizer.bos_token_id is None or self.tokenizer.eos_token_id is None):
            raise ChatFormatError(f"{source}'s tokenizer has no BOS/EOS tokens; the Llama 2 format needs both")
        self._eos_ids = self._collect_eos_ids()
        self.name = f"transformers:{Path(source).name if local.exists() else source}"
        self._lock = threading.Lock()

    # --- protocol ----------------------------------------------------------------------------------

    @property
    def context_length(self) -> int:
        return self._context_length

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> str:
        return "".join(self.stream(messages, params))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer  # heavy: loaded on first use, not when the module is imported

        torch = self._torch
        ids = self.prompt_ids(messages)
        room = self.context_length - len(ids)
        if room < 1:
            raise PromptTooLong(
                f"the prompt takes {len(ids)} tokens but the context holds {self.context_length}; "
                "shorten it or raise the context length"
            )
        cancel = threading.Event()

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max(1, min(params.max_new_tokens, room)),
            "streamer": streamer,
            "eos_token_id": self._eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self._eos_ids[0],
            "stopping_criteria": StoppingCriteriaList([_Cancel()]),
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                torch.manual_seed(params.seed)
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
                failure.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
            worker.start()
            scanner = StopScanner(params.stop)
            try:
                for delta in streamer:
                    out = scanner.feed(delta)
                    if out:
                        yield out
                    if scanner.stopped:
                        break
                else:
                    rest = scanner.flush()
                    if rest:
                        yield rest
            finally:
                cancel.set()
                worker.join()
        if failure:
            raise EngineError(f"transformers generation failed: {failure[0]}") from failure[0]

    # --- helpers -----------------------------------------------------------------------------------

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The exact token ids the model is given for these messages."""
        prepared = prepare_messages(messages)
        if self.chat_format == LLAMA2:
            return llama2_prompt_ids(
                prepared, self._encode, bos_id=self.tokenizer.bos_token_id, eos_id=self.tokenizer.eos_token_id
            )
        text = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in prepared], add_generation_prompt=True, tokenize=False
        )
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_ids(messages))

    def _encode(self, text: str) -> list[int]:
        # Plain text: strings such as "</s>" stay text, as SentencePiece treats them.
        return list(self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True))

    def _collect_eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in ([configured] if isinstance(configured, int) else configured or []) + [
            self.tokenizer.eos_token_id
        ]:
            if value is not None and value not in ids:
                ids.append(int(value))
        if not ids:
            raise ChatFormatError("the model defines no end-of-sequence token; generation could not stop")
        return ids
