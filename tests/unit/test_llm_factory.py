"""Engine configuration, the packaged default model, and the served Llama 2 format."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm.chat_format import llama2_prompt_ids
from llm.config import EngineConfig
from llm.errors import ModelNotFound
from llm.factory import SMOLLM2_GGUF, resolve_default_gguf, resolve_model_path
from llm.protocol import Message


def test_config_defaults_are_the_embedded_engine():
    config = EngineConfig()
    assert (config.backend, config.model, config.chat_format) == ("llamacpp", "auto", "auto")


@pytest.mark.parametrize(
    "overrides", [{"backend": "ollama"}, {"context_length": 0}, {"threads": 0}, {"decode_threads": 0}, {"timeout": 0}]
)
def test_config_rejects_impossible_values(overrides):
    with pytest.raises(ValueError):
        EngineConfig(**overrides)


def test_settings_map_to_the_engine_config(tmp_path: Path):
    from app.workspace import engine_config
    from rag.settings import load_settings

    config = engine_config(load_settings(home=tmp_path, threads=2, llm_decode_threads=2, llm_context=2048))
    assert (config.threads, config.decode_threads, config.context_length) == (2, 2, 2048)
    assert config.fast_copy_dir == tmp_path / "models"


def test_defaults_leave_thread_choices_to_the_engine_and_fast_copy_can_be_turned_off(tmp_path: Path):
    from app.workspace import engine_config
    from rag.settings import load_settings

    config = engine_config(load_settings(home=tmp_path, llm_fast_copy=False))
    assert (config.threads, config.decode_threads, config.fast_copy_dir) == (None, None, None)


def test_an_existing_gguf_path_is_used_as_given(tmp_path: Path):
    model = tmp_path / "llama-2-7b-chat.Q4_0.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model_path(str(model)) == model


def test_a_missing_gguf_names_the_setting(tmp_path: Path):
    with pytest.raises(ModelNotFound, match="llm_model"):
        resolve_model_path(str(tmp_path / "missing.gguf"))


@pytest.mark.parametrize("name", ["auto", "HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2"])
def test_smollm2_names_resolve_to_the_packaged_gguf(name):
    try:
        packaged = resolve_default_gguf()
    except ModelNotFound as exc:
        pytest.skip(str(exc))
    assert packaged.name == SMOLLM2_GGUF and packaged.stat().st_size > 1_000_000
    assert resolve_model_path(name) == packaged


def test_exact_llama2_prompt_served_tokenizes_to_the_golden_ids(llama2_vocab):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from llm.server import exact_llama2_prompt
    from tests.fixtures.llama2_vocab import open_vocab

    messages = [
        {"role": "system", "content": "Cite pages."},
        {"role": "user", "content": [{"type": "text", "text": "What is RSA?"}]},
        {"role": "assistant", "content": "A cipher."},
        {"role": "user", "content": "And ECC?"},
    ]
    vocab = open_vocab(llama2_vocab)
    try:
        served = vocab.tokenize(exact_llama2_prompt(messages).encode(), add_bos=True, special=True)
        golden = llama2_prompt_ids(
            [
                Message("system", "Cite pages."),
                Message("user", "What is RSA?"),
                Message("assistant", "A cipher."),
                Message("user", "And ECC?"),
            ],
            lambda t: vocab.tokenize(t.encode(), add_bos=False, special=False),
            vocab.token_bos(),
            vocab.token_eos(),
        )
    finally:
        vocab.close()
    assert served == golden


def test_the_exact_llama2_format_is_registered_with_llama_cpp():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from llama_cpp import llama_chat_format

    from llm.server import register_exact_llama2_format

    name = register_exact_llama2_format()
    assert register_exact_llama2_format() == name  # idempotent
    assert llama_chat_format.get_chat_completion_handler(name) is not None
