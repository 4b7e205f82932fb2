"""The cleaned page text of the real corpus holds every dev question's evidence phrase on its gold page.

Compared as ../shared/eval/README.md says: lower-cased, words hyphenated across a line break joined,
ligatures mapped, whitespace collapsed. Skips where ../shared is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ingest.pdf_reader import read_pdf

pytestmark = [pytest.mark.shared]


def normalise(text: str) -> str:
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl")
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return " ".join(text.lower().split())


def evidence(shared: Path) -> list[tuple[str, list[int], str]]:
    """(document, pages any of which may hold it, phrase) for every answerable dev question."""
    out = []
    for line in (shared / "eval" / "dev-questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if not q.get("doc"):
            continue
        if q.get("evidence_by_page"):
            out.extend((q["doc"], [int(p)], phrase) for p, phrase in q["evidence_by_page"].items())
        else:
            out.append((q["doc"], q["pages"], q["evidence"]))
    return out


def test_every_evidence_phrase_is_in_the_cleaned_text_of_its_gold_page(shared_dir: Path):
    documents: dict[str, list[str]] = {}
    missing = []
    for doc, pages, phrase in evidence(shared_dir):
        if doc not in documents:
            documents[doc] = [normalise(p.text) for p in read_pdf(shared_dir / "corpus" / doc).pages]
        if not any(normalise(phrase) in documents[doc][page - 1] for page in pages):
            missing.append(f"{doc} p{pages}: {phrase}")
    assert not missing, "\n".join(missing)
