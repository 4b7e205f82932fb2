"""The relevance gate: features from the evidence, a calibrated logistic model, a threshold and a reason."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.gate.decide import Gate
from rag.gate.features import Evidence, features, missing_terms
from rag.gate.fit import calibrate, choose_threshold, fit_model
from rag.gate.model import Calibration, GateModel

DF = {"mani": 300, "train": 400, "boiler": 3, "litr": 40, "corvina": 5, "x2": 5, "h100": 0, "gpu": 30, "larg": 200, "price": 0}


def _evidence(query: str, passages: list[str], **kw) -> Evidence:
    kw.setdefault("doc_count", 1000)
    kw.setdefault("doc_freq", DF)
    return Evidence(query=query, passages=passages, **kw)


def test_a_passage_with_every_question_term_covers_the_question_fully():
    f = features(_evidence("How large is the Corvina X2 boiler?", ["The Corvina X2 has a large boiler."]))
    assert f["coverage_best"] == pytest.approx(1.0)
    assert f["coverage_union"] == pytest.approx(1.0)
    assert f["missing_rare"] == 0.0


def test_a_rare_term_missing_from_the_passages_weighs_more_than_a_common_one():
    rare_missing = features(_evidence("large corvina boiler", ["large corvina"]))
    common_missing = features(_evidence("large corvina boiler", ["corvina boiler"]))
    assert rare_missing["missing_rare"] > common_missing["missing_rare"]
    assert rare_missing["coverage_union"] < common_missing["coverage_union"]


def test_terms_no_document_contains_count_as_unknown():
    f = features(_evidence("How many H100 GPUs?", ["the GPUs were A100"]))
    assert f["unknown_share"] > 0.5
    assert f["missing_rare"] == pytest.approx(1.0)


def test_chinese_words_absent_from_english_documents_are_left_to_the_dense_signal():
    f = features(_evidence("Corvina X2 的锅炉有多大？", ["The Corvina X2 boiler holds 1.8 litres."]))
    assert f["foreign_share"] > 0.5
    assert f["coverage_union"] == pytest.approx(1.0)  # judged on "corvina" and "x2" alone
    assert f["unknown_share"] == 0.0


def test_list_signals_appear_only_when_those_lists_ran():
    keyword = [("a", 9.0), ("b", 3.0), ("c", 2.0)]
    dense = [("a", 0.8), ("d", 0.5)]
    both = features(_evidence("boiler", ["boiler"], keyword=keyword, dense=dense, top_id="a"))
    only_keyword = features(_evidence("boiler", ["boiler"], keyword=keyword, top_id="a"))
    assert both["top_in_both"] == 1.0 and both["dense_top"] == pytest.approx(0.8)
    assert both["agreement"] == pytest.approx(0.1)
    assert "dense_top" not in only_keyword and "agreement" not in only_keyword
    assert only_keyword["keyword_gap"] > 0


def test_rerank_probability_is_a_feature_when_present():
    assert features(_evidence("boiler", ["boiler"], rerank=[0.2, 0.7]))["rerank_top"] == pytest.approx(0.7)


def test_missing_terms_names_the_rare_words_of_the_question():
    evidence = _evidence("How many H100 GPUs trained it?", ["the GPUs were A100"])
    assert missing_terms(evidence) == ["H100"]


def _model(threshold: float = 0.5) -> GateModel:
    return GateModel(("coverage_union", "missing_rare"), (0.5, 0.5), (0.25, 0.25), (2.0, -2.0), 0.0, threshold)


def test_the_probability_rises_with_supporting_features_and_falls_with_opposing_ones():
    model = _model()
    good = model.probability({"coverage_union": 1.0, "missing_rare": 0.0})
    bad = model.probability({"coverage_union": 0.2, "missing_rare": 1.0})
    assert 0.0 < bad < 0.5 < good < 1.0


def test_a_calibration_survives_a_round_trip_through_its_file(tmp_path: Path):
    calibration = Calibration({"hybrid": _model(0.3)}, {"embedding_model": "m"})
    calibration.save(tmp_path / "gate.json")
    loaded = Calibration.load(tmp_path / "gate.json")
    assert loaded.models["hybrid"] == calibration.models["hybrid"]
    assert loaded.meta["embedding_model"] == "m"


def test_an_unreadable_calibration_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "gate.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="gate calibration"):
        Calibration.load(path)


def test_the_shipped_calibration_has_a_model_for_every_mode():
    shipped = Calibration.shipped()
    for mode in ("hybrid", "keyword", "dense"):
        assert mode in shipped.models
        assert 0.0 < shipped.models[mode].threshold < 1.0
    assert shipped.meta.get("questions")


def test_the_gate_refuses_below_the_threshold_and_names_the_missing_term():
    gate = Gate(Calibration({"keyword": _model()}))
    refused = gate.decide(_evidence("How many H100 GPUs?", ["the GPUs were A100"]), "keyword")
    accepted = gate.decide(_evidence("corvina boiler", ["the corvina boiler"]), "keyword")
    assert not refused.answerable and "'H100'" in refused.reason
    assert accepted.answerable and "threshold" in accepted.reason


def test_no_passages_means_no_evidence():
    decision = Gate(Calibration({"hybrid": _model()})).decide(_evidence("boiler", []), "hybrid")
    assert not decision.answerable


def test_with_a_reranker_but_no_reranker_calibration_the_plain_model_is_used_with_a_note():
    gate = Gate(Calibration({"hybrid": _model()}))
    name, _, notes = gate.pick("hybrid", reranked=True)
    assert name == "hybrid"
    assert any("calibrate" in note for note in notes)


def test_a_model_fitted_for_the_embedding_in_use_wins():
    plain, specific = _model(0.3), _model(0.7)
    gate = Gate(Calibration({"hybrid": plain, "hybrid@other-model": specific}, {"embedding_model": "m"}), "other-model")
    assert gate.pick("hybrid", False)[1] is specific


def test_dense_features_from_another_embedding_model_bring_a_note():
    model = GateModel(("dense_top",), (0.5,), (0.1,), (1.0,), 0.0, 0.5)
    gate = Gate(Calibration({"hybrid": model}, {"embedding_model": "m"}), "other-model")
    assert any("embedding model" in note for note in gate.pick("hybrid", False)[2])


def test_choose_threshold_refuses_most_unanswerable_within_the_false_refusal_budget():
    answerable = [0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.1]
    unanswerable = [0.05, 0.2, 0.32, 0.5]
    scores = answerable + unanswerable
    labels = [True] * len(answerable) + [False] * len(unanswerable)
    threshold = choose_threshold(scores, labels, max_false_refusals=0.10)
    assert sum(s < threshold for s in answerable) <= 1
    assert sum(s < threshold for s in unanswerable) == 2


def _synthetic_samples(n_pos: int = 40, n_neg: int = 15, seed: int = 0):
    rng = random.Random(seed)
    rows, labels = [], []
    for i in range(n_pos + n_neg):
        positive = i < n_pos
        rows.append(
            {
                "coverage_union": min(1.0, max(0.0, rng.gauss(0.85 if positive else 0.55, 0.12))),
                "missing_rare": min(1.0, max(0.0, rng.gauss(0.25 if positive else 0.85, 0.15))),
                "unknown_share": 0.0 if positive else rng.choice([0.0, 0.3]),
                "dense_top": rng.gauss(0.6, 0.1),  # no signal
            }
        )
        labels.append(positive)
    return rows, labels


def test_fitting_learns_which_features_separate_the_classes():
    rows, labels = _synthetic_samples()
    model, report = fit_model(rows, labels, ("coverage_union", "missing_rare", "unknown_share", "dense_top"))
    weights = dict(zip(model.features, model.coef))
    assert weights["coverage_union"] > 0 > weights["missing_rare"]
    assert abs(weights["dense_top"]) < abs(weights["missing_rare"])
    assert report.auc_cross_validated > 0.9
    assert report.refused_answerable <= 0.10 + 1e-9


def test_calibrate_fits_one_model_per_mode_and_records_how(tmp_path: Path):
    rows, labels = _synthetic_samples()
    calibration, reports = calibrate({"hybrid": (rows, labels), "keyword": (rows, labels)}, {"questions": "synthetic"})
    assert set(calibration.models) == {"hybrid", "keyword"}
    assert "dense_top" in calibration.models["hybrid"].features
    assert "dense_top" not in calibration.models["keyword"].features
    assert calibration.meta["fits"]["hybrid"]["auc_held_out"] > 0.9
    assert [r.name for r in reports] == ["hybrid", "keyword"]


def test_calibrating_needs_both_kinds_of_question():
    rows, labels = _synthetic_samples()
    with pytest.raises(ConfigError, match="both"):
        fit_model(rows[:10], labels[:10], ("coverage_union",))


def test_a_chinese_question_over_english_pages_is_judged_on_its_latin_words_even_when_the_library_holds_chinese():
    df = dict(DF, **{"锅炉": 12, "多大": 40})  # other documents of the library are Chinese
    f = features(_evidence("Corvina X2 的锅炉有多大？", ["The Corvina X2 boiler holds 1.8 litres."], doc_freq=df))
    assert f["foreign_share"] > 0.5
    assert f["coverage_union"] == pytest.approx(1.0)


def test_an_english_question_over_chinese_pages_is_judged_on_its_names_and_numbers():
    f = features(_evidence("What is the supply voltage of the ESP32-WROOM-32?", ["ESP32-WROOM-32 模组的工作电压范围为 3.0 V 至 3.6 V，建议使用单独的电源供电，电源的输出电流需要足够大。"]))
    assert f["foreign_share"] > 0  # "supply", "voltage": no Chinese page can contain them
    assert f["coverage_union"] == pytest.approx(1.0)  # judged on "ESP32-WROOM-32" alone


def test_a_version_the_passages_only_give_otherwise_is_a_missing_key_phrase():
    passages = ["QuillMQ 4.2 sustained 1.9 million messages per second, 18% more than 4.1."]
    assert features(_evidence("What throughput did QuillMQ 4.1 sustain?", passages))["phrase_missing"] == 1.0
    assert features(_evidence("What throughput did QuillMQ 4.2 sustain?", passages))["phrase_missing"] == 0.0


def _phrase_model() -> GateModel:
    return GateModel(("phrase_missing",), (0.0,), (1.0,), (-4.0,), 2.0, 0.5)


def test_a_refusal_for_another_version_names_the_phrase_the_passages_lack():
    gate = Gate(Calibration({"hybrid": _phrase_model()}))
    evidence = _evidence("Which Bluetooth 5 features does the ESP32 support?",
                         ["ESP32 is compliant with Bluetooth v4.2 BR/EDR and Bluetooth LE specifications."])
    decision = gate.decide(evidence, "hybrid")
    assert not decision.answerable
    assert decision.reason.startswith("no passage mentions 'Bluetooth 5'")


def test_a_refusal_for_a_figure_no_passage_gives_says_so():
    gate = Gate(Calibration({"keyword": _model(1.0)}))  # refuses everything: the reason is what is tested
    evidence = _evidence("How much memory does the Corvina boiler use?",
                         ["The Corvina boiler memory chip stores the brewing programs of the machine."],
                         doc_freq=dict(DF, memori=2, chip=3, much=500, use=600))
    decision = gate.decide(evidence, "keyword")
    assert not decision.answerable
    assert decision.reason.startswith("the passages give no figure for ")


def test_a_capitalised_word_that_starts_a_later_sentence_is_not_a_missing_name():
    f = features(_evidence("What were the net sales? Answer from the income statement.", ["Net sales rose; income statement."]))
    assert f["missing_entity"] == 0.0


def test_a_fiscal_year_is_covered_by_a_passage_that_gives_the_year():
    f = features(_evidence("What were the net sales in FY2019?", ["Net sales in 2019 were 4,120."]))
    assert f["missing_entity"] == 0.0
    assert f["coverage_union"] == pytest.approx(1.0)


def test_a_name_only_the_documents_file_name_holds_is_covered():
    from rag.index.labels import DocumentLabel

    label = DocumentLabel("ACME_2019_10K.pdf", "0000320193-19-000119").text
    f = features(_evidence("What were ACME's net sales in FY2019?", ["Net sales 4,120 3,980."], titles=[label]))
    assert f["missing_entity"] == 0.0 and f["coverage_union"] == pytest.approx(1.0)
