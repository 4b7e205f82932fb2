"""The Llama 2 chat engine: chat format, engines (llama.cpp, OpenAI-compatible HTTP, transformers), server."""

import os as _os

from llm.cpu_threads import configure_openmp as _configure_openmp

# Before any OpenMP runtime loads: torch ships a libgomp that llama.cpp then shares, and libgomp reads its
# settings once, when it loads (see llm.cpu_threads).
_configure_openmp(_os.environ)
