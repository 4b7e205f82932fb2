"""How llama.cpp's OpenMP threads are told to wait (llm.cpu_threads)."""

from __future__ import annotations

import os

import pytest

from llm.cpu_threads import SPIN_COUNT, configure_openmp, default_threads


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


@pytest.mark.parametrize("command", [["ask", "why?"], ["chat"], ["serve-llm"], ["web"]])
def test_commands_that_write_answers_set_it_before_loading_anything(command, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):  # unset here, and as before after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    monkeypatch.setenv("RAG_LLM_CONTEXT", "1")  # a bad setting: the command stops right after
    result = CliRunner().invoke(app, command, input="")
    assert result.exit_code != 0
    assert os.environ.get("GOMP_SPINCOUNT") == SPIN_COUNT


def test_ingesting_keeps_openmp_defaults_for_torch(monkeypatch, tmp_path):
    # torch's own thread waits are faster with OpenMP's default spinning (embedding 6-9% here)
    from typer.testing import CliRunner

    from app.cli import app

    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):  # unset here, and as before after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    monkeypatch.setenv("RAG_LLM_CONTEXT", "1")
    CliRunner().invoke(app, ["ingest", str(tmp_path)])
    assert "GOMP_SPINCOUNT" not in os.environ


def test_the_web_page_sets_it_before_importing_anything_of_the_product():
    """`streamlit run app/web/page.py` (without `rag web`) still configures OpenMP before NLTK, scikit-learn
    or torch can load the runtime: the call comes before the first import of our own packages."""
    import ast
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "app" / "web" / "page.py"
    body = ast.parse(page.read_text(encoding="utf-8")).body
    configured = next(i for i, node in enumerate(body) if isinstance(node, ast.Expr)
                      and getattr(getattr(node.value, "func", None), "id", "") == "configure_openmp")
    ours = [i for i, node in enumerate(body) if isinstance(node, ast.ImportFrom) and node.module
            and node.module.split(".")[0] in ("app", "rag", "ingest")]
    assert ours and min(ours) > configured

