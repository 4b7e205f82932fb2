"""Near misses over the fixture corpus, with real retrieval and the shipped gate: a question about another
version of something the documents cover is refused, and the refusal names the phrase the passages lack."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("What throughput did QuillMQ 4.1 sustain on the reference cluster?", "QuillMQ 4.1"),
        ("Which Corvina X3 error code means that the water tank is empty?", "Corvina X3"),
    ],
)
def test_a_question_about_another_version_is_refused_naming_it(fixture_workspace, question: str, phrase: str) -> None:
    result = fixture_workspace.search(question)
    assert result.answerable is False
    assert result.reason.startswith(f"no passage mentions {phrase!r}")


@pytest.mark.parametrize(
    "question",
    [
        "What throughput did QuillMQ 4.2 sustain on the reference cluster?",
        "What does error code E04 mean on the Corvina X2?",
    ],
)
def test_the_same_question_about_the_version_the_documents_cover_is_answered(fixture_workspace, question: str) -> None:
    assert fixture_workspace.search(question).answerable is True
