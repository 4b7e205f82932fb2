"""The keyword analyzer: the tokens both BM25 backends index and search."""

from __future__ import annotations

from rag.analysis import STOPWORDS, analyze


def shares_a_token(query: str, text: str) -> bool:
    return bool(set(analyze(query)) & set(analyze(text)))


def test_inflections_of_a_word_meet_at_one_stem():
    assert analyze("running") == analyze("runs") == analyze("run")


def test_a_query_for_running_finds_text_about_runs():
    assert shares_a_token("running", "three runs of the benchmark")


def test_model_names_written_differently_give_the_same_tokens():
    assert analyze("LLaMA-2") == analyze("Llama 2") == ["llama", "2"]


def test_case_does_not_matter():
    assert analyze("Zero Trust ARCHITECTURE") == analyze("zero trust architecture")


def test_chinese_runs_become_overlapping_bigrams():
    assert analyze("参数量") == ["参数", "数量"]


def test_a_chinese_word_finds_a_longer_phrase_that_contains_it():
    assert shares_a_token("参数", "模型的参数量是七十亿")


def test_a_lone_cjk_character_stays_a_token():
    assert analyze("量") == ["量"]


def test_chinese_mixed_with_latin_text_keeps_both():
    assert analyze("LoRA 参数量") == ["lora", "参数", "数量"]


def test_stopwords_are_dropped():
    assert analyze("the model and the data") == ["model", "data"]


def test_a_question_made_only_of_stopwords_has_no_tokens():
    assert analyze("What is it that they were doing?") == []


def test_stopword_list_is_english_and_lower_case():
    assert {"the", "of", "and", "doesn't"} <= STOPWORDS
    assert all(word == word.lower() for word in STOPWORDS)


def test_ligatures_are_normalised_before_tokenizing():
    assert analyze("ﬁne-tuning with ﬂash attention") == analyze("fine-tuning with flash attention")


def test_full_width_characters_are_normalised():
    assert analyze("ＢＥＲＴ ２０１８") == analyze("BERT 2018")


def test_decimal_numbers_stay_whole():
    assert analyze("a BLEU score of 41.8.") == ["bleu", "score", "41.8"]


def test_a_decimal_is_not_the_same_as_its_integer_parts():
    assert "41.8" not in analyze("41 and 8")
    assert not shares_a_token("41.8", "41 runs and 8 epochs")


def test_thousands_separators_are_removed_from_numbers():
    assert analyze("1,000 pages") == analyze("1000 pages")


def test_punctuation_and_underscores_split_words():
    assert analyze("key/value pairs: query_key") == ["key", "valu", "pair", "queri", "key"]


def test_accented_letters_are_kept_as_letters():
    assert analyze("café") == ["café"]


def test_analysis_is_deterministic():
    text = "Attention Is All You Need — 41.8 BLEU, 参数量"
    assert analyze(text) == analyze(text)
