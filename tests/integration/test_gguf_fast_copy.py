"""Q4_1 GGUFs run from a Q8_0 copy: llama.cpp reads those prompts about twice as fast on CPU, same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llm.errors import EngineError
from llm.protocol import GenerationParams, Message

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

from llm.gguf_copy import Q8_0, SLOW_ON_CPU, fast_copy_path  # noqa: E402
from llm.llamacpp_engine import LlamaCppEngine, read_gguf_metadata  # noqa: E402

QUESTION = [Message("system", "You are a helpful assistant."), Message("user", "Why is the sky blue? Explain.")]


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def fast_engine(smollm2_gguf, copies):
    engine = LlamaCppEngine(smollm2_gguf, context_length=1024, fast_copy_dir=copies)
    yield engine
    engine.close()


def test_the_file_types_are_llama_cpps_own_enum_values():
    assert SLOW_ON_CPU == {
        llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1: "Q4_1",
        llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_0: "Q5_0",
        llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_1: "Q5_1",
    }
    assert Q8_0 == llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0


def test_a_q4_1_model_is_loaded_from_a_q8_0_copy_in_the_cache(fast_engine, smollm2_gguf, copies):
    assert read_gguf_metadata(smollm2_gguf)["general.file_type"] == str(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1)
    assert fast_engine.model_path == smollm2_gguf
    assert fast_engine.loaded_path == fast_copy_path(smollm2_gguf, copies)
    assert read_gguf_metadata(fast_engine.loaded_path)["general.file_type"] == str(Q8_0)
    assert [p.name for p in copies.iterdir()] == [fast_engine.loaded_path.name]  # no partial file left behind


def test_the_copy_keeps_the_chat_template_and_name(fast_engine, smollm2_gguf):
    original, copy = read_gguf_metadata(smollm2_gguf), read_gguf_metadata(fast_engine.loaded_path)
    assert copy["tokenizer.chat_template"] == original["tokenizer.chat_template"]
    assert copy["general.name"] == original["general.name"]
    assert fast_engine.chat_format == "template"


def test_the_copy_is_made_once_and_reused(fast_engine, smollm2_gguf, copies):
    written = fast_engine.loaded_path.stat().st_mtime_ns
    again = LlamaCppEngine(smollm2_gguf, context_length=256, fast_copy_dir=copies)
    try:
        assert again.loaded_path == fast_engine.loaded_path
        assert again.loaded_path.stat().st_mtime_ns == written
    finally:
        again.close()


def test_the_copy_predicts_the_same_next_token_distribution_as_the_original(fast_engine, smollm2_gguf):
    """Teacher-forced along the original's greedy answer: mean KL(original || copy) per token stays tiny.

    Measured: the Q8_0 copy 0.003; a Q4_0 copy (a different model) 0.16. Top-1 agreement is no measure here:
    even a lossless F16 copy flips 3-6% of near-tied greedy choices.
    """
    original = LlamaCppEngine(smollm2_gguf, context_length=1024)
    try:
        prompt = original.prompt_ids(QUESTION)
        answer = original.generate(QUESTION, GenerationParams(temperature=0.0, max_new_tokens=64))
        ids = prompt + original._llama.tokenize(answer.encode("utf-8"), add_bos=False, special=False)
    finally:
        original.close()

    def log_probs(path: Path) -> np.ndarray:
        model = llama_cpp.Llama(model_path=str(path), n_ctx=1024, logits_all=True, verbose=False)
        try:
            model.eval(ids)
            logits = np.asarray(model.scores[len(prompt) - 1 : len(ids) - 1], dtype=np.float64)
        finally:
            model.close()
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    reference, copy = log_probs(smollm2_gguf), log_probs(fast_engine.loaded_path)
    kl = (np.exp(reference) * (reference - copy)).sum(axis=1)
    assert len(kl) > 16
    assert float(kl.mean()) <= 0.02


def test_a_fast_format_is_loaded_as_it_is(fast_engine, copies):
    q8 = LlamaCppEngine(fast_engine.loaded_path, context_length=256, fast_copy_dir=copies / "other")
    try:
        assert q8.loaded_path == fast_engine.loaded_path
        assert not (copies / "other").exists()
    finally:
        q8.close()


def test_tokens_are_generated_and_prompts_read_on_every_thread_by_default(fast_engine):
    import llama_cpp

    from llm.cpu_threads import default_threads

    context = fast_engine._llama.ctx
    assert fast_engine.threads == fast_engine.decode_threads == default_threads()
    assert llama_cpp.llama_n_threads(context) == llama_cpp.llama_n_threads_batch(context) == default_threads()


def test_an_explicit_generating_thread_count_reaches_llama_cpp(fast_engine):
    import llama_cpp

    one = LlamaCppEngine(fast_engine.loaded_path, context_length=256, threads=2, decode_threads=1)
    try:
        assert (llama_cpp.llama_n_threads(one._llama.ctx), llama_cpp.llama_n_threads_batch(one._llama.ctx)) == (1, 2)
    finally:
        one.close()


def test_an_unwritable_cache_is_a_clear_error(smollm2_gguf, tmp_path):
    blocker = tmp_path / "models"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(EngineError, match="cannot write a Q8_0 copy of SmolLM2.*models"):
        LlamaCppEngine(smollm2_gguf, context_length=256, fast_copy_dir=blocker)


def test_reading_a_ggufs_metadata_prints_nothing(smollm2_gguf, capfd):
    assert read_gguf_metadata(smollm2_gguf)["general.name"]
    assert capfd.readouterr() == ("", "")


def test_making_the_copy_prints_nothing(smollm2_gguf, tmp_path, capfd):
    from llm.gguf_copy import fast_cpu_model

    copy = fast_cpu_model(smollm2_gguf, tmp_path, read_gguf_metadata)
    assert copy.is_file()
    assert capfd.readouterr() == ("", "")


def test_only_small_models_in_slow_formats_get_a_copy():
    from llm.gguf_copy import FAST_COPY_MAX_BYTES, needs_fast_copy

    q4_1 = {"general.file_type": str(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1)}
    assert needs_fast_copy(q4_1, 98 * 2**20)  # SmolLM2-135M
    assert not needs_fast_copy(q4_1, FAST_COPY_MAX_BYTES + 1)  # e.g. a 7B Q4_1: memory-bound, gigabytes
    assert not needs_fast_copy({"general.file_type": str(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)}, 98 * 2**20)
    assert not needs_fast_copy({}, 98 * 2**20)  # no file type recorded: loaded as it is
