"""Silence llama.cpp's own log lines for a moment (metadata reads, re-quantizing).

llama-cpp-python prints llama.cpp's log lines to stderr unless the ``llama-cpp-python`` logger's level is above
the line's mapped level, and ``Llama(verbose=False)`` only hides the model load itself: creating the context
still prints warnings such as "llama_context: n_ctx_seq (512) > n_ctx_train (0)" on every vocabulary-only
load, and the quantizer logs every tensor. Inside :func:`quiet_native_logs` standard output and error go to
the null device (file descriptors included, so C code is silenced too). Errors still surface: llama-cpp-python
raises them as exceptions.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    from llama_cpp._utils import suppress_stdout_stderr  # the redirect llama-cpp-python uses for verbose=False

    with suppress_stdout_stderr(disable=False):
        yield
