"""A question's key phrases (a name with its version, size or year) must stand together in a passage."""

from __future__ import annotations

import pytest

from rag.analysis import analyze
from rag.gate.phrases import key_phrases, phrases_missing, together


@pytest.mark.parametrize(
    ("question", "phrases"),
    [
        ("Which Bluetooth 5 features does the ESP32 support?", ["Bluetooth 5"]),
        ("How does ASVS map its requirements to the OWASP Top 10 2021 categories?", ["Top 10 2021"]),
        ("How many GPUs did Meta use to train Llama 2-Chat?", ["Llama 2-Chat"]),
        ("What is the price per million tokens of the Mistral 7B API?", ["Mistral 7B"]),
        ("Does the server speak HTTP/3?", ["HTTP/3"]),
        ("Which Python 3.13 features are used?", ["Python 3.13"]),
    ],
)
def test_a_name_with_its_version_is_one_key_phrase(question: str, phrases: list[str]) -> None:
    assert key_phrases(question) == phrases


def test_a_capital_that_only_starts_the_question_is_not_a_name() -> None:
    assert key_phrases("Is 5 the default?") == []


def test_a_question_without_versioned_names_has_no_key_phrase() -> None:
    assert key_phrases("What optimizer was used to train the model?") == []


def test_a_phrase_is_found_when_its_tokens_stand_together() -> None:
    assert together(analyze("Bluetooth 5"), analyze("The module supports Bluetooth 5 (LE) and Wi-Fi."))


def test_a_phrase_is_not_found_when_its_tokens_are_scattered() -> None:
    text = analyze("Bluetooth v4.2 BR/EDR and Bluetooth LE. The deep-sleep current is 5 µA at 3.3 V.")
    assert not together(analyze("Bluetooth 5"), text)


def test_a_near_miss_on_the_version_is_reported_as_the_missing_phrase() -> None:
    passages = [analyze("QuillMQ 4.2 sustained 1.9 million messages per second, 18% more than 4.1.")]
    assert phrases_missing("What throughput did QuillMQ 4.1 sustain?", passages) == ["QuillMQ 4.1"]
    assert phrases_missing("What throughput did QuillMQ 4.2 sustain?", passages) == []


def test_scattered_tokens_without_another_version_are_not_a_missing_phrase() -> None:
    passages = [analyze("The ESP32 has Bluetooth LE. Its deep-sleep current is 5 µA.")]
    assert phrases_missing("Which Bluetooth 5 features does the ESP32 support?", passages) == []


def test_a_shorter_form_of_the_asked_version_is_the_same_version() -> None:
    passages = [analyze("ASVS 4.0 Level 1 is the bare minimum.")]
    assert phrases_missing("What iteration count does ASVS 4.0.3 recommend?", passages) == []


def test_a_version_within_the_range_the_passages_list_is_not_missing() -> None:
    passages = [analyze("Level 1 is for low assurance. Level 3 is for critical applications.")]
    assert phrases_missing("How often must a Level 2 application re-authenticate users?", passages) == []


def test_a_version_beyond_those_the_passages_list_is_missing() -> None:
    passages = [analyze("Llama 1 was trained on 1.4T tokens. Llama 2 was trained on 2T tokens.")]
    assert phrases_missing("On how many tokens was Llama 3 trained?", passages) == ["Llama 3"]


def test_a_version_the_documents_title_states_is_the_documents_own() -> None:
    passages = [analyze("ASVS 3.0.1 was released in 2016.")]
    titles = [analyze("OWASP Application Security Verification Standard 4.0.3")]
    assert phrases_missing("What does ASVS 4.0.3 require?", passages, titles) == []
