"""How llama.cpp's OpenMP threads are told to wait (llm.cpu_threads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llm.cpu_threads import SPIN_COUNT, configure_openmp, default_threads

ROOT = Path(__file__).resolve().parents[2]


def test_waiting_threads_spin_briefly_then_sleep_when_nothing_is_set():
    environ: dict[str, str] = {}
    configure_openmp(environ)
    assert environ == {"GOMP_SPINCOUNT": SPIN_COUNT}


def test_a_wait_policy_the_user_set_wins():
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    configure_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_a_spin_count_the_user_set_wins():
    environ = {"GOMP_SPINCOUNT": "50000"}
    configure_openmp(environ)
    assert environ == {"GOMP_SPINCOUNT": "50000"}


def test_default_threads_are_the_cpus_this_process_may_use():
    assert default_threads() == len(os.sched_getaffinity(0))


def test_the_setting_is_in_place_before_torch_loads_its_openmp_runtime():
    # torch ships a libgomp that llama.cpp then shares; libgomp reads its settings once, when it loads.
    probe = (
        "import sys, os\n"
        "import rag\n"
        "assert 'torch' not in sys.modules and 'llama_cpp' not in sys.modules\n"
        "print(os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    environ = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environ, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == SPIN_COUNT
