"""`rag docs list` stays one line per document in an 80-column terminal; `--json` keeps everything."""

from __future__ import annotations

import io

from rich.console import Console

from app.cli import SHORT_ID, documents_table
from rag.types import DocumentRecord

LONG_TITLE = ("Framework for Improving Critical Infrastructure Cybersecurity, Version 2.0, with the Implementation "
              "Examples and the Quick-Start Guides")
DOCUMENTS = [
    DocumentRecord("0123456789abcdef", "/papers/NIST.CSWP.29.the-cybersecurity-framework-2.0.pdf", "x", LONG_TITLE,
                   32, 118, "ready", 1_764_000_000.0),
    DocumentRecord("fedcba9876543210", "/papers/llama2.pdf", "y", "Llama 2: Open Foundation and Fine-Tuned Chat Models",
                   77, 402, "ready", 1_764_000_000.0),
]


def rendered(width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(documents_table(DOCUMENTS, width))
    return [line for line in out.getvalue().splitlines() if line.strip()]


def test_at_80_columns_each_document_is_one_line_with_its_title_cut_by_an_ellipsis():
    lines = rendered(80)
    assert all(len(line) <= 80 for line in lines)
    rows = [line for line in lines if line.lstrip().startswith(("0123", "fedc"))]
    assert len(rows) == 2 and len(lines) == 2 + 2  # header, rule, one line per document
    assert "…" in rows[0] and "Framework for" in rows[0]
    assert rows[0].split()[0] == "0123456789abcdef"[:SHORT_ID]
    assert "32" in rows[0] and "118" in rows[0]


def test_on_a_wide_terminal_titles_are_whole_and_dated():
    lines = rendered(300)
    assert any(LONG_TITLE in line and "2025-11-2" in line for line in lines)
