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


def test_chinese_directly_after_a_latin_word_becomes_bigrams():
    assert analyze("Transformer的注意力头数") == ["transform", "的注", "注意", "意力", "力头", "头数"]


def test_chinese_directly_after_a_number_becomes_bigrams():
    assert analyze("我们使用了8个注意力头") == ["我们", "们使", "使用", "用了", "8", "个注", "注意", "意力", "力头"]


def test_latin_words_inside_chinese_text_stand_alone():
    assert analyze("使用GPU训练") == ["使用", "gpu", "训练"]


def test_a_model_size_written_against_chinese_meets_the_english_spelling():
    assert shares_a_token("65B模型", "the 65B model")
    assert shares_a_token("注意力头", "我们使用了8个注意力头")


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


def test_a_number_with_thousands_separators_meets_the_same_number_without():
    assert analyze("1,577") == analyze("1577") == ["1577"]
    assert analyze("1,418,091 comparisons") == analyze("1418091 comparisons")


def test_an_amount_with_currency_and_zero_cents_meets_the_bare_number():
    assert analyze("$1,577.00") == analyze("1577") == ["1577"]


def test_an_amount_with_cents_keeps_them():
    assert analyze("$73,218.04") == ["73218.04"]


def test_decimals_between_zero_and_one_stay_whole():
    assert analyze("a dropout of 0.5") == ["dropout", "0.5"]


def test_version_numbers_stay_whole():
    assert analyze("version 1.7.1 of 2022.02.03") == ["version", "1.7.1", "2022.02.03"]


def test_commas_that_do_not_separate_thousands_separate_numbers():
    assert analyze("layers 1,2,3") == ["layer", "1", "2", "3"]


def test_a_greek_letter_meets_its_name():
    assert analyze("ε = 10−9") == analyze("epsilon = 10^-9") == ["epsilon", "10", "9"]
    assert analyze("λ") == analyze("lambda")


def test_upper_and_lower_case_greek_letters_have_one_name():
    assert analyze("Σ") == analyze("σ") == analyze("sigma")


def test_variant_forms_of_greek_letters_meet_the_usual_form():
    assert analyze("ϵ µ") == analyze("ε μ") == ["epsilon", "mu"]


def test_a_greek_letter_with_an_index_gives_its_name_and_the_index():
    assert analyze("β1 = 0.9") == ["beta", "1", "0.9"]


def test_greek_words_stay_greek_words():
    assert analyze("λόγος") == ["λόγος"]


def test_subscripts_and_superscripts_meet_plain_digits():
    assert analyze("W₀ and x²") == analyze("W0 and x2") == ["w0", "x2"]


def test_math_symbols_meet_their_words():
    assert analyze("≈ 21 days") == analyze("approximately 21 days")
    assert analyze("lr ≤ 0.1") == analyze("lr leq 0.1")
    assert analyze("85 ± 3") == analyze("85 plusminus 3")


def test_a_multiplier_sign_meets_the_letter_x():
    assert analyze("3× faster") == analyze("3x faster")


def test_a_hyphenated_compound_gives_its_parts_and_the_joined_word():
    assert analyze("pre-trained") == ["pre", "train", "pretrain"]


def test_a_hyphenated_compound_finds_the_closed_spelling_and_back():
    assert shares_a_token("pretrained", "a pre-trained model")
    assert shares_a_token("Wi-Fi", "wifi module")


def test_a_name_with_digits_gives_only_its_parts():
    # joined, a product name would count twice in every query that names it ("esp32wroom32" next to its parts)
    assert analyze("ESP32-WROOM-32") == analyze("ESP32 WROOM 32") == ["esp32", "wroom", "32"]


def test_a_compound_hyphenated_across_a_line_break_is_joined_too():
    assert analyze("task-\nspecific") == analyze("task-specific")


def test_number_ranges_are_not_joined():
    assert analyze("2014-2015") == ["2014", "2015"]


def test_punctuation_and_underscores_split_words():
    assert analyze("key/value pairs: query_key") == ["key", "valu", "pair", "queri", "key"]


def test_accented_letters_are_kept_as_letters():
    assert analyze("café") == ["café"]


def test_analysis_is_deterministic():
    text = "Attention Is All You Need — 41.8 BLEU, 参数量"
    assert analyze(text) == analyze(text)


def test_a_year_written_against_letters_also_gives_the_year():
    assert analyze("FY2019 revenue") == ["fy2019", "2019", "revenu"]
    assert analyze("the 2023Q2 report") == ["2023q2", "2023", "report"]


def test_digits_against_letters_that_are_no_year_stay_one_token():
    assert analyze("H100 ESP32 fy19 abc12345") == ["h100", "esp32", "fy19", "abc12345"]
