"""The generated fixture corpus is what its questions say: every evidence phrase is on its gold page."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ingest.pdf_reader import read_pdf
from rag.eval.metrics import normalize_for_match
from rag.eval.questions import load_questions


def test_there_are_at_least_thirty_questions_of_every_kind(fixture_corpus):
    questions = load_questions(fixture_corpus[1])
    kinds = Counter(q.type for q in questions)
    assert len(questions) >= 30
    for kind in ("paraphrase", "keyword", "numeric", "multi", "unanswerable"):
        assert kinds[kind] >= 5, kind
    assert kinds["unanswerable"] >= 8


def test_every_evidence_phrase_is_in_the_text_of_its_gold_page(fixture_corpus):
    folder, questions_path = fixture_corpus
    pages: dict[str, dict[int, str]] = {}
    missing = []
    for question in load_questions(questions_path):
        if not question.answerable:
            continue
        if question.doc not in pages:
            pages[question.doc] = {p.number: normalize_for_match(p.text) for p in read_pdf(Path(folder) / question.doc).pages}
        for phrase in question.phrases:
            if not any(normalize_for_match(phrase) in pages[question.doc].get(n, "") for n in question.pages):
                missing.append(f"{question.id}: {phrase}")
    assert not missing, missing


def test_multi_page_questions_need_two_different_pages(fixture_corpus):
    for question in load_questions(fixture_corpus[1]):
        if question.type == "multi":
            assert len(set(question.evidence_by_page)) >= 2, question.id
