# syntax=docker/dockerfile:1
# The groundrag app and CLI (`rag`): CPU only, non-root, exact dependency versions.
#
#   docker build -t groundrag:0.1.0 .
#   docker run --rm -p 127.0.0.1:8501:8501 -e RAG_WEB_HOST=0.0.0.0 groundrag:0.1.0          # web chat
#   docker run --rm groundrag:0.1.0 search "question"                                         # any rag command
#
# docker-compose.yml runs it with Elasticsearch, a Chroma server and a llama.cpp server.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- build: compile llama-cpp-python, install everything into /opt/venv --------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    # portable CPU build of llama.cpp (no -march=native: the image runs on other machines)
    CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PATH=/opt/venv/bin:$PATH

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv \
    && pip install pip==25.2

# CPU-only torch from PyTorch's index: the PyPI wheel would pull several GB of CUDA libraries.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies in their own layer (rebuilt only when the lock changes), then the project itself.
COPY docker/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY llm ./llm
COPY ingest ./ingest
COPY app ./app
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import app.cli, app.workspace, llm.factory, ingest.pipeline"

# --- runtime: the venv, a non-root user, nothing else ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: OpenMP runtime of llama.cpp and torch
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 rag \
    && useradd --system --uid 10001 --gid rag --create-home --home-dir /home/rag --shell /usr/sbin/nologin rag \
    && mkdir -p /data/rag /home/rag/.cache/huggingface \
    && chown -R rag:rag /data/rag /home/rag

COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 docker/healthcheck.py /usr/local/bin/rag-healthcheck

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAG_HOME=/data/rag \
    HF_HOME=/home/rag/.cache/huggingface \
    ANONYMIZED_TELEMETRY=False

USER 10001:10001
WORKDIR /home/rag
VOLUME ["/data/rag"]
EXPOSE 8501

ENTRYPOINT ["rag"]
CMD ["web"]
