"""How many CPU threads llama.cpp uses, and how its OpenMP threads wait.

llama.cpp's CPU threads are OpenMP threads that meet at dozens of barriers per generated token. How they wait
there decides the speed (SmolLM2-135M, 941-token prompt, 2 cores):

- spinning without end (OpenMP's ``ACTIVE``): 66 tokens/s on an idle machine, but when other processes compete
  for the cores a spinning thread starves the one doing the work: 0.3-7 tokens/s with two busy processes;
- sleeping at once (``PASSIVE``): every barrier wakes a sleeping thread: 29 tokens/s on two threads, 37 on one;
- spinning briefly, then sleeping (libgomp's ``GOMP_SPINCOUNT=1000``, what :func:`configure_openmp` sets):
  60 tokens/s on two threads when the machine is idle, and no collapse under load (24 tokens/s with two busy
  processes, as one thread gets).

Tokens are generated on every thread by default. With one busy process beside it, one generating thread would
be faster (33 tokens/s on one thread, 25 on two: the second thread waits for its core at every barrier), but the
thread count cannot follow the load: llama.cpp's flash attention splits its work by thread count when it
generates, so a different count changes the logits in their last bits and can flip a greedy choice. A fixed
count keeps temperature 0 deterministic; ``RAG_LLM_DECODE_THREADS=1`` suits a machine that is always busy.
"""

from __future__ import annotations

import os
from typing import MutableMapping

SPIN_COUNT = "1000"  # libgomp spin iterations before a waiting thread sleeps (a few microseconds)


def default_threads() -> int:
    """All CPUs the process may use (llama-cpp-python's own default is half of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def configure_openmp(environ: MutableMapping[str, str]) -> None:
    """Brief spinning, then sleep, for OpenMP threads that wait (see the module docstring).

    libgomp reads this once, when it loads, and torch ships a libgomp that llama.cpp then shares: processes
    that generate call this before anything imports torch (``rag ask``/``chat``/``web``/``serve-llm``, the web
    app); ``LlamaCppEngine`` calls it too, in time when torch is not loaded yet. Processes that only embed
    (``rag ingest``) keep OpenMP's default: torch's own waits are 6-9% faster with long spinning. A wait
    policy or spin count the user set wins."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return
    environ["GOMP_SPINCOUNT"] = SPIN_COUNT
