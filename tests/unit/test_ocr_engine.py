"""The OCR engine's installation checks and `rag doctor`'s OCR line (nothing is loaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ingest.ocr as ocr
from app.doctor import check_ocr
from ingest.ocr import PACKAGED_MODELS, RapidOcrEngine
from rag.errors import ModelUnavailable
from rag.settings import load_settings


def test_the_packaged_models_are_installed_and_nothing_needs_a_download():
    description = RapidOcrEngine().check()
    folder = RapidOcrEngine.model_dir()
    assert all((folder / name).is_file() and (folder / name).stat().st_size > 100_000 for name in PACKAGED_MODELS.values())
    assert str(folder) in description


def test_a_missing_package_is_an_error_naming_the_setting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ocr, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailable, match="rapidocr.*RAG_OCR=off"):
        RapidOcrEngine().check()


def test_a_missing_model_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(RapidOcrEngine, "model_dir", staticmethod(lambda: tmp_path))
    with pytest.raises(ModelUnavailable) as caught:
        RapidOcrEngine().check()
    assert "PP-OCRv6_det_small.onnx" in str(caught.value) and "RAG_OCR=off" in str(caught.value)


def test_doctor_reports_the_ocr_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    [ok] = check_ocr(load_settings(home=tmp_path))
    assert ok.level == "ok" and "RapidOCR" in ok.message and "RAG_OCR=auto" in ok.message
    [off] = check_ocr(load_settings(home=tmp_path, ocr="off"))
    assert off.level == "ok" and "RAG_OCR=off" in off.message
    monkeypatch.setattr(ocr, "find_spec", lambda name: None)
    [missing] = check_ocr(load_settings(home=tmp_path))
    assert missing.level == "error" and "RAG_OCR=off" in missing.message


def test_the_setting_takes_only_the_three_modes(tmp_path: Path):
    from rag.errors import ConfigError

    assert load_settings(home=tmp_path, ocr="force").ocr == "force"
    with pytest.raises(ConfigError, match="RAG_OCR"):
        load_settings(home=tmp_path, ocr="sometimes")


def test_doctor_says_which_documents_have_no_reading_report(tmp_path: Path):
    from app.doctor import check_text_quality
    from rag.index.catalog import Catalog
    from rag.types import Chunk, ReadingReport

    settings = load_settings(home=tmp_path)
    catalog = Catalog(settings.catalog_path)
    chunk = Chunk("a-00000", "a", 0, "text", 1, 1, 0, 4)
    catalog.add_pending("a", "/old.pdf", "a" * 64, "Old", 1, [chunk], "fp")  # before reading reports
    catalog.publish("a")
    poor = ReadingReport(pages=4, text_layer_pages=1, ocr_pages=1, empty_pages=2, ocr="auto")
    catalog.add_pending("b", "/scan.pdf", "b" * 64, "Scan", 4, [Chunk("b-00000", "b", 0, "t", 1, 1, 0, 1)], "fp",
                        reading=poor)
    catalog.publish("b")
    catalog.close()
    findings = check_text_quality(settings)
    assert [(f.level, f.message) for f in findings] == [
        ("warning", "scan.pdf: 2 of 4 pages have no text even after OCR; check the file (a better scan or the "
                    "original PDF reads better)"),
        ("ok", "1 documents were ingested before reading reports existed; ingest them again to have their text checked"),
    ]
