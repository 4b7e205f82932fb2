"""Retrieval metrics judge rankings the way ../shared/eval/README.md describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.eval.metrics import (
    QuestionOutcome,
    RankedChunk,
    budget_text,
    contains_phrase,
    judge,
    normalize_for_match,
    roc_auc,
    summarize,
)
from rag.eval.questions import Question, load_questions


def _question(**overrides) -> Question:
    values = dict(id="q1", question="How large is it?", type="numeric", doc="a.pdf", pages=(2,), evidence="holds 1.8 litres")
    values.update(overrides)
    return Question(**values)


def _chunk(text: str, file: str = "a.pdf", pages: tuple[int, ...] = (2,)) -> RankedChunk:
    return RankedChunk(file, pages, text)


def test_matching_ignores_case_hyphenation_at_line_ends_ligatures_and_spacing():
    assert normalize_for_match("The  Signiﬁcant\nPARAM-\neters") == "the significant parameters"
    assert contains_phrase("we use a ﬂow-\nmeter   here", "use a flowmeter")


def test_the_first_evidence_hit_gives_the_rank_and_the_reciprocal_rank():
    ranked = [_chunk("nothing here"), _chunk("The boiler HOLDS 1.8\nlitres of water")]
    outcome = judge(_question(), ranked)
    assert outcome.first_hit == 2
    assert not outcome.hit_at(1) and outcome.hit_at(3)
    assert outcome.reciprocal_rank == pytest.approx(0.5)


def test_evidence_in_another_document_is_not_a_hit():
    outcome = judge(_question(), [_chunk("it holds 1.8 litres", file="other.pdf")])
    assert outcome.first_hit is None
    assert not outcome.hit_budget


def test_evidence_beyond_the_word_budget_is_not_a_budget_hit():
    filler = " ".join(["word"] * 1500)
    outcome = judge(_question(), [_chunk(filler, file="b.pdf"), _chunk("it holds 1.8 litres")])
    assert outcome.first_hit == 2
    assert not outcome.hit_budget


def test_evidence_within_the_word_budget_is_a_budget_hit():
    filler = " ".join(["word"] * 1400)
    outcome = judge(_question(), [_chunk(filler, file="b.pdf"), _chunk("it holds 1.8 litres")])
    assert outcome.hit_budget


def test_budget_text_cuts_at_the_word_limit():
    assert budget_text(["a b c", "d e f"], words=4) == "a b c\n\nd"


def test_evidence_hyphenated_across_a_line_break_is_a_budget_hit():
    outcome = judge(_question(evidence="logical microsegmentation"), [_chunk("uses logical micro-\nsegmentation")])
    assert outcome.first_hit == 1
    assert outcome.hit_budget


def test_page_hit_needs_the_right_document_and_a_gold_page_in_the_top_five():
    assert judge(_question(pages=(3,)), [_chunk("x", pages=(2, 3))]).page_hit5
    assert not judge(_question(pages=(3,)), [_chunk("x", pages=(2,))]).page_hit5
    assert not judge(_question(pages=(2,)), [_chunk("x", file="b.pdf")]).page_hit5


def test_ndcg_is_one_when_the_only_relevant_chunk_is_first_and_lower_when_later():
    first = judge(_question(), [_chunk("holds 1.8 litres"), _chunk("x")], relevant_total=1)
    second = judge(_question(), [_chunk("x"), _chunk("holds 1.8 litres")], relevant_total=1)
    assert first.ndcg10 == pytest.approx(1.0)
    assert 0 < second.ndcg10 < 1


def test_multi_page_questions_need_every_phrase_for_all_evidence():
    question = _question(type="multi", evidence="first fact", evidence_by_page={2: "first fact", 5: "second fact"})
    partial = judge(question, [_chunk("the first fact")])
    full = judge(question, [_chunk("the first fact"), _chunk("a second fact", pages=(5,))])
    assert partial.hit_budget and not partial.all_evidence_budget
    assert full.all_evidence_budget


def test_unanswerable_questions_have_no_retrieval_outcome():
    outcome = judge(Question("u", "What?", "unanswerable"), [_chunk("holds 1.8 litres")])
    assert not outcome.answerable and outcome.first_hit is None


def test_summary_reports_refusal_rates_for_each_kind_of_question():
    outcomes = [
        QuestionOutcome("a", "numeric", True, first_hit=1, hit_budget=True, refused=False, evidence_score=0.9),
        QuestionOutcome("b", "numeric", True, first_hit=None, refused=True, evidence_score=0.2),
        QuestionOutcome("u", "unanswerable", False, refused=True, evidence_score=0.1),
    ]
    summary = summarize(outcomes)
    assert summary["overall"]["hit@1"] == pytest.approx(0.5)
    assert summary["overall"]["refused_answerable"] == pytest.approx(0.5)
    assert summary["overall"]["refused_unanswerable"] == pytest.approx(1.0)
    assert summary["by_type"]["numeric"]["mrr@10"] == pytest.approx(0.5)
    assert summary["gate_auc"] == pytest.approx(1.0)


def test_roc_auc_counts_ties_as_half_and_needs_both_classes():
    assert roc_auc([0.9, 0.1], [True, False]) == 1.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert roc_auc([0.1, 0.9], [True, False]) == 0.0
    assert roc_auc([0.1], [True]) is None


def test_questions_load_from_json_lines(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "doc": "x.pdf", "question": "Q?", "answer": "A", "pages": [3], "evidence": "e", "type": "Numeric"},
        {"id": "b", "doc": None, "question": "Q2?", "answer": "", "pages": [], "evidence": "", "type": "unanswerable"},
        {"id": "c", "doc": "x.pdf", "question": "Q3?", "pages": [1, 2], "evidence": "e1", "type": "multi",
         "evidence_by_page": {"1": "e1", "2": "e2"}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    questions = load_questions(path)
    assert [q.id for q in questions] == ["a", "b", "c"]
    assert questions[0].type == "numeric" and questions[0].pages == (3,)
    assert not questions[1].answerable
    assert questions[2].phrases == ["e1", "e2"]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "question": "Q?"}', "type"),
        ('{"id": "a", "question": "Q?", "type": "numeric"}', "doc"),
        ("not json", "not valid JSON"),
    ],
)
def test_a_bad_question_line_is_a_clear_error(tmp_path: Path, line: str, message: str):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_questions(path)
