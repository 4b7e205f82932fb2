"""transformers engine on tiny Llama models the tests build, with a tokenizer from the real Llama 2 vocabulary.

Two models, both ``LlamaForCausalLM`` with 1 layer and 16 hidden units, saved and loaded like any model dir:

- a *scripted* one: attention and MLP outputs are zeroed, so the next token depends only on the current one,
  and the embeddings / output head are set so that after the prompt's last token (``]`` of ``[/INST]``) it
  says "Hello world" and then EOS. It shows decoding, streaming and stopping at EOS exactly;
- a *random* one (seeded random weights): for sampling, seeds and cancellation.
"""

from __future__ import annotations

import pytest

from llm.chat_format import llama2_prompt_ids
from llm.config import EngineConfig
from llm.errors import ModelNotFound, PromptTooLong
from llm.factory import open_engine
from llm.protocol import ChatEngine, GenerationParams, Message

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llama_cpp", reason="llama-cpp-python reads the Llama 2 vocabulary")

from llm.transformers_engine import TransformersEngine  # noqa: E402

SCRIPT = "Hello world"
QUESTION = [Message("system", "Answer briefly."), Message("user", "Greet the world.")]
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=50)


def _tiny_config(**overrides):
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=32000,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    settings.update(overrides)
    return LlamaConfig(**settings)


@pytest.fixture(scope="module")
def tokenizer(llama2_vocab):
    from tests.fixtures.llama2_vocab import hf_tokenizer

    return hf_tokenizer(llama2_vocab)


@pytest.fixture(scope="module")
def scripted_model_dir(tokenizer, tmp_path_factory):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(_tiny_config())
    chain = [tokenizer.convert_tokens_to_ids("]")] + tokenizer.encode(SCRIPT, add_special_tokens=False)
    with torch.no_grad():
        layer = model.model.layers[0]
        layer.self_attn.o_proj.weight.zero_()  # the residual stream is then the token's embedding
        layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0  # every token leans to EOS ...
        model.lm_head.weight.zero_()
        model.lm_head.weight[2, 0] = 1.0
        for k, (current, following) in enumerate(zip(chain, chain[1:]), start=1):
            model.model.embed_tokens.weight[current, k] = 5.0  # ... except each step of the script
            model.lm_head.weight[following, k] = 10.0
    directory = tmp_path_factory.mktemp("tiny-llama-scripted")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def random_model_dir(tokenizer, tmp_path_factory):
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    model = LlamaForCausalLM(_tiny_config())
    directory = tmp_path_factory.mktemp("tiny-llama-random")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def scripted(scripted_model_dir):
    return TransformersEngine(scripted_model_dir, threads=1)


@pytest.fixture(scope="module")
def random_engine(random_model_dir):
    return TransformersEngine(random_model_dir, threads=1, chat_format="llama-2")


def test_engine_implements_the_protocol(scripted):
    assert isinstance(scripted, ChatEngine)
    assert scripted.context_length == 256  # the model's max_position_embeddings
    assert scripted.name.startswith("transformers:")


def test_llama_model_without_a_template_uses_the_llama2_format(scripted):
    assert scripted.chat_format == "llama-2"


def test_prompt_ids_equal_the_golden_llama2_ids(scripted, llama2_vocab):
    from tests.fixtures.llama2_vocab import open_vocab

    dialog = [
        Message("system", "Cite pages."),
        Message("user", "What is RSA?"),
        Message("assistant", "\n A public-key system [1]. "),
        Message("user", "  And ECC? "),
    ]
    vocab = open_vocab(llama2_vocab)
    try:
        golden = llama2_prompt_ids(
            dialog,
            lambda t: vocab.tokenize(t.encode(), add_bos=False, special=False),
            vocab.token_bos(),
            vocab.token_eos(),
        )
    finally:
        vocab.close()
    assert scripted.prompt_ids(dialog) == golden


def test_generate_decodes_until_eos(scripted):
    assert scripted.generate(QUESTION, GREEDY) == SCRIPT


def test_stream_yields_pieces_of_the_same_text_and_ends_at_eos(scripted):
    chunks = list(scripted.stream(QUESTION, GREEDY))
    assert len(chunks) == len(SCRIPT.split())  # one chunk per word token, then EOS; not 50 tokens
    assert "".join(chunks) == SCRIPT


def test_max_new_tokens_cuts_the_answer(scripted):
    assert scripted.generate(QUESTION, GenerationParams(max_new_tokens=1)) == SCRIPT.split()[0]


def test_stop_string_ends_the_answer_before_it(scripted):
    stop = SCRIPT.split()[1]
    assert scripted.generate(QUESTION, GenerationParams(stop=(stop,))) == SCRIPT[: SCRIPT.index(stop)]


def test_count_tokens_uses_the_model_tokenizer(scripted, tokenizer):
    assert scripted.count_tokens(SCRIPT) == len(tokenizer.encode(SCRIPT, add_special_tokens=False))
    assert scripted.count_tokens("") == 0


def test_prompt_longer_than_the_context_is_refused(scripted):
    with pytest.raises(PromptTooLong, match="context holds 256"):
        scripted.generate([Message("user", "word " * 400)], GREEDY)


def test_temperature_zero_is_deterministic_on_a_random_model(random_engine):
    params = GenerationParams(temperature=0.0, max_new_tokens=12)
    assert random_engine.generate(QUESTION, params) == random_engine.generate(QUESTION, params)


def test_same_seed_samples_the_same_text_and_another_seed_differs(random_engine):
    first = random_engine.generate(QUESTION, GenerationParams(temperature=1.0, max_new_tokens=16, seed=3))
    again = random_engine.generate(QUESTION, GenerationParams(temperature=1.0, max_new_tokens=16, seed=3))
    other = random_engine.generate(QUESTION, GenerationParams(temperature=1.0, max_new_tokens=16, seed=4))
    assert first == again
    assert first != other


def test_closing_a_stream_early_frees_the_engine(random_engine):
    stream = random_engine.stream(QUESTION, GenerationParams(temperature=1.0, max_new_tokens=200, seed=5))
    assert next(stream)
    stream.close()
    assert random_engine.generate(QUESTION, GenerationParams(max_new_tokens=2)) is not None


def test_factory_needs_a_model_for_transformers():
    with pytest.raises(ModelNotFound, match="llm_model"):
        open_engine(EngineConfig(backend="transformers", model="auto"))


def test_missing_model_is_reported(tmp_path):
    with pytest.raises(ModelNotFound, match="cannot load"):
        TransformersEngine(tmp_path / "no-such-model")
