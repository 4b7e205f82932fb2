"""A faster copy of a GGUF for llama.cpp's CPU backend: Q4_1 / Q5_0 / Q5_1 weights re-stored as Q8_0, once.

llama.cpp has no repacked (AVX2/AVX-512 tiled) CPU kernels for Q4_1, Q5_0 and Q5_1, so it reads a prompt about
half as fast with them as with Q8_0 (the packaged SmolLM2-135M Q4_1: 255 vs 485 prompt tokens/s on 2 cores).
Those formats hold at most 5 bits a weight; Q8_0 stores them again with 8, so the copy is the same model to
within rounding (greedy next-token agreement with the original 0.98, mean KL 0.003 on grounded prompts; an F16
copy scores 0.99). Going down to Q4_0 instead would be faster still but changes the model (agreement 0.90).

The copy goes under ``cache_dir`` (``home/models`` in the application), named by the source's path, size and
modification time, written to a temporary file and renamed, so concurrent processes and interrupted runs never
see half a file. The source is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Callable

from llm.errors import EngineError
from llm.native_logs import quiet_native_logs

log = logging.getLogger(__name__)

# llama.cpp's enum llama_ftype values (stable since GGUF v3): the file types that get a Q8_0 copy.
SLOW_ON_CPU = {3: "Q4_1", 8: "Q5_0", 9: "Q5_1"}
Q8_0 = 7
FAST_COPY_MAX_BYTES = 1 << 30  # 1 GiB: larger models are loaded as they are (see needs_fast_copy)


def file_type(metadata: dict[str, str]) -> int | None:
    """The GGUF's ``general.file_type`` (llama.cpp's llama_ftype), if it records one."""
    value = metadata.get("general.file_type")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def needs_fast_copy(metadata: dict[str, str], size: int) -> bool:
    """Whether a model of ``size`` bytes is small and in a format llama.cpp's CPU backend reads slowly.

    Only small models get the copy: they are compute-bound while writing too, so Q8_0 costs them little
    there (SmolLM2: 44 vs 50 tokens/s on one thread) and halves the prompt time. A large model writes at the
    speed of memory, where 8-bit weights are slower than 4- or 5-bit ones, and its copy would take gigabytes
    of disk and RAM (a 7B Q5_1 of 5 GB would become 7 GB): those are loaded as they are.
    """
    return file_type(metadata) in SLOW_ON_CPU and size <= FAST_COPY_MAX_BYTES


def source_key(path: Path) -> str:
    """16 hex digits naming this version of the file (path, size, modification time): a changed model gets a
    new copy, and no start-up pays for hashing gigabytes."""
    stat = path.stat()
    identity = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def fast_copy_path(path: Path, cache_dir: Path) -> Path:
    return cache_dir / f"{path.stem}.{source_key(path)}.Q8_0.gguf"


def fast_cpu_model(path: Path, cache_dir: Path, read_metadata: Callable[[Path], dict[str, str]]) -> Path:
    """The GGUF to load for ``path``: itself, or its Q8_0 copy under ``cache_dir`` (made on first use).

    ``read_metadata`` is only called for files small enough to get a copy: a large model's load pays nothing.
    """
    size = path.stat().st_size
    if size > FAST_COPY_MAX_BYTES:
        return path
    metadata = read_metadata(path)
    if not needs_fast_copy(metadata, size):
        return path
    target = fast_copy_path(path, cache_dir)
    if target.is_file():
        return target
    kind = SLOW_ON_CPU[file_type(metadata) or 0]
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    started = time.perf_counter()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _requantize(path, partial, Q8_0)
        os.replace(partial, target)
    except OSError as exc:
        raise EngineError(f"cannot write a Q8_0 copy of {path.name} to {cache_dir}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):  # gone already, or its folder could not be made
            partial.unlink()
    log.info(
        "stored %s (%s) again as Q8_0 in %s (%.1f s, once): llama.cpp reads Q8_0 prompts about 2x faster on CPU",
        path.name, kind, target, time.perf_counter() - started,
    )  # fmt: skip
    return target


def _requantize(source: Path, target: Path, ftype: int) -> None:
    import llama_cpp  # heavy: loaded on first use, not when the module is imported

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 0  # all cores
    with quiet_native_logs():
        status = llama_cpp.llama_model_quantize(
            str(source).encode("utf-8"), str(target).encode("utf-8"), ctypes.byref(params)
        )
    if status != 0 or not target.is_file():
        raise OSError(f"llama.cpp's quantizer failed with status {status}")
