"""Serve a GGUF over an OpenAI-compatible API with llama-cpp-python's server (blocking).

``rag serve-llm`` calls :func:`serve`; ``python -m llm.server --model PATH --port N`` does the same from a shell.
For Llama 2 chat models the server's ``/v1/chat/completions`` uses this package's exact Llama 2 format
(registered with llama-cpp-python as ``groundrag-llama-2``); other models use their GGUF chat template, as the
in-process engine does, so a prompt is the same token ids in-process and served.
"""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

from llm.chat_format import LLAMA2, llama2_prompt_text, prepare_messages
from llm.config import EngineConfig
from llm.errors import ChatFormatError, EngineError
from llm.factory import resolve_model_path
from llm.llamacpp_engine import cpu_load_plan, gguf_chat_format, read_gguf_metadata
from llm.prompt_prefix import StableStart, stable_start_for, start_from
from llm.protocol import Message

log = logging.getLogger(__name__)

EXACT_LLAMA2_FORMAT = "groundrag-llama-2"
_registered = False


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text")
    raise ChatFormatError(f"unsupported message content of type {type(value).__name__}")


def exact_llama2_prompt(messages: list[dict[str, Any]]) -> str:
    """OpenAI-style messages to the exact Llama 2 prompt text a server tokenizes (it adds the leading BOS)."""
    msgs = [Message(m["role"], _content(m.get("content"))) for m in messages]
    return llama2_prompt_text(prepare_messages(msgs), leading_bos=False)


def register_exact_llama2_format() -> str:
    """Register the exact Llama 2 chat format with llama-cpp-python (once) and return its name."""
    global _registered
    if not _registered:
        from llama_cpp import llama_chat_format  # heavy: loaded on first use, not when the module is imported

        def exact_llama2(messages: list[dict[str, Any]], **_: Any) -> Any:
            # Tokenized by llama-cpp-python with special tokens parsed and BOS added (added_special=False).
            return llama_chat_format.ChatFormatterResponse(prompt=exact_llama2_prompt(messages), added_special=False)

        llama_chat_format.register_chat_format(EXACT_LLAMA2_FORMAT)(exact_llama2)
        _registered = True
    return EXACT_LLAMA2_FORMAT


def build_app(model_path: str | Path, config: EngineConfig, *, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """The ASGI app llama-cpp-python builds for this model (loads the model), with the context, threads, chat
    format, API key and Q8_0 copy folder of ``config``.

    Threads and the Q8_0 copy are chosen as the in-process engine chooses them (:class:`LlamaCppEngine`).
    """
    from llama_cpp.server.app import create_app  # heavy: loaded on first use, not when the module is imported
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    path = Path(model_path).expanduser()
    metadata = read_gguf_metadata(path)
    resolved = gguf_chat_format(path, config.chat_format, metadata)
    server_format = register_exact_llama2_format() if resolved == LLAMA2 else "chat_template.default"
    load_path, threads, decode_threads = cpu_load_plan(
        path, config.threads, config.decode_threads, config.fast_copy_dir, metadata
    )
    model_settings = ModelSettings(
        model=str(load_path),
        model_alias=path.name,
        n_ctx=config.context_length,
        n_threads=decode_threads,
        n_threads_batch=threads,
        chat_format=server_format,
        logits_all=False,
        flash_attn=True,  # as the in-process engine, so both evaluate prompts identically
        verbose=False,
    )
    server_settings = ServerSettings(host=host, port=port, api_key=config.api_key)
    log.info(
        "serving %s on http://%s:%d/v1 (chat format %s, %d threads, %d generating)",
        load_path, host, port, resolved, threads, decode_threads,
    )  # fmt: skip
    app = create_app(server_settings=server_settings, model_settings=[model_settings])
    _prepare_served_model(llama2=resolved == LLAMA2)
    return app


def _prepare_served_model(llama2: bool, stable_start: StableStart | None = None) -> None:
    """Make the served model generate as the in-process engine does.

    - A prompt's stable start (its system turn, :mod:`llm.prompt_prefix`) is kept from the last prompt or
      evaluated on its own, then the rest: llama-cpp-python alone would reuse whatever prefix the previous
      prompt shared, evaluate the remainder in a batch of another shape, and a greedy choice could flip. So
      answers stay deterministic and equal to the in-process engine's. ``stable_start``: the rule, built from
      the served model when not given; ``llama2``: prompts are in Llama 2's format.
    - One thread drives every step: the server moves the token iterator between thread-pool threads, each
      thread that drives llama.cpp has its own OpenMP thread team, and a team left for another falls asleep,
      so tokens paid wake-ups (SmolLM2 on 2 cores: 29-55 tokens/s from run to run before, 49-59 after).
    """
    from llama_cpp.server import app as server_app  # heavy: loaded on first use, not when the module is imported

    proxy = getattr(server_app, "_llama_proxy", None)
    llama = getattr(proxy, "_current_model", None)
    if llama is None or not hasattr(llama, "generate"):  # pragma: no cover - a different llama-cpp-python layout
        log.warning("cannot reach the served model; answers may depend on the previous request's cache")
        return
    generate = llama.generate
    rule = stable_start or stable_start_for(llama, llama2)
    stepper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-generate")

    def generate_from_stable_start(tokens: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        def start() -> Iterator[Any]:
            ids = list(tokens)
            start_from(llama, ids, rule.length(ids))
            return generate(ids, *args, **kwargs)

        inner = stepper.submit(start).result()
        try:
            while True:
                try:
                    token = stepper.submit(next, inner).result()
                except StopIteration:
                    return
                yield token
        finally:
            stepper.submit(inner.close).result()

    llama.generate = generate_from_stable_start


def serve(model_path: str | Path, config: EngineConfig, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve ``model_path`` at ``http://{host}:{port}/v1`` as :func:`build_app` builds it, until interrupted."""
    import uvicorn  # the ASGI server: only `rag serve-llm` needs it

    uvicorn.run(build_app(model_path, config, host=host, port=port), host=host, port=port, log_level="warning")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llm.server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="auto", help="GGUF path; 'auto' serves the packaged SmolLM2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--decode-threads", type=int, default=None, help="threads generating tokens (default: auto)")
    parser.add_argument("--fast-copy-dir", default=None, help="folder for a Q8_0 copy of Q4_1/Q5_x models")
    parser.add_argument("--chat-format", default="auto", help="auto, llama-2 or template")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = EngineConfig(
            context_length=args.context_length,
            threads=args.threads,
            chat_format=args.chat_format,
            api_key=args.api_key,
            decode_threads=args.decode_threads,
            fast_copy_dir=args.fast_copy_dir,
        )
        serve(resolve_model_path(args.model), config, host=args.host, port=args.port)
    except (EngineError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
