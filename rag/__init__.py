"""Grounded question answering over your own PDFs: the shared library."""

import llm as _llm  # noqa: F401  - sets how OpenMP threads wait before torch or llama.cpp loads (llm.cpu_threads)

__version__ = "0.1.0"
