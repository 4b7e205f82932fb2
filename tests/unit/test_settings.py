"""Settings come from RAG_* variables and rag.toml; bad values are rejected with the setting's name."""

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings, load_settings


def test_defaults_are_the_embedded_stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.keyword_backend == "sqlite"
    assert settings.chroma_url is None
    assert settings.home == Path(".rag")


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_TOP_K", "9")
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.top_k == 9
    assert settings.catalog_path == tmp_path / "data" / "catalog.sqlite3"


def test_toml_file_is_read_and_environment_wins_over_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag.toml").write_text('top_k = 4\nretrieval_mode = "keyword"\n')
    monkeypatch.setenv("RAG_TOP_K", "7")
    settings = load_settings()
    assert settings.retrieval_mode == "keyword"
    assert settings.top_k == 7


def test_config_file_location_can_be_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "custom.toml").write_text("candidates = 80\n")
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "custom.toml"))
    assert load_settings().candidates == 80


def test_a_bad_value_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_KEYWORD_BACKEND", "solr")
    with pytest.raises(ConfigError, match="RAG_KEYWORD_BACKEND"):
        load_settings()


def test_an_answer_longer_than_the_context_is_rejected_naming_both_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_MAX_NEW_TOKENS", "100000")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "RAG_MAX_NEW_TOKENS=100000" in message and "RAG_LLM_CONTEXT=4096" in message
    assert "Value error" not in message and ": settings:" not in message


def test_an_unknown_setting_in_the_toml_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag.toml").write_text("top_kk = 4\n")
    with pytest.raises(ConfigError, match="top_kk"):
        load_settings()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`RAG_{name.upper()}`" not in readme]
    assert missing == [], f"settings missing from the README table: {missing}"
