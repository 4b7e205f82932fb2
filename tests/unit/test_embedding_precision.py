"""Which number format the embedding model runs in."""

from __future__ import annotations

import pytest

from rag.index.embeddings import choose_precision, cpu_has_amx


def test_auto_runs_bfloat16_where_the_cpu_has_amx():
    assert choose_precision("auto", "torch", amx=True) == "bfloat16"


def test_auto_keeps_float32_without_amx():
    assert choose_precision("auto", "torch", amx=False) == "float32"


@pytest.mark.parametrize("requested", ["float32", "bfloat16"])
def test_an_explicit_precision_is_used_as_asked(requested):
    assert choose_precision(requested, "torch", amx=False) == requested
    assert choose_precision(requested, "torch", amx=True) == requested


def test_other_backends_keep_their_own_format():
    assert choose_precision("auto", "onnx", amx=True) == "float32"


def test_a_onednn_cap_below_amx_means_no_amx(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert cpu_has_amx() is False
