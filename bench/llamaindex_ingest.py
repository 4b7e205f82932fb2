"""A LlamaIndex default ingestion pipeline, for bench/ingest.py --compare-llamaindex to measure beside ours.

    LLAMAINDEX_PYTHON FOLDER MODEL_PATH STORE_DIR

Runs with another Python (a venv holding llama-index-core, llama-index-readers-file and
llama-index-embeddings-huggingface; never a dependency of this project) and imports nothing of ours.
SimpleDirectoryReader (its default PDF reader: pypdf, one document per page) + SentenceSplitter (defaults:
1,024 tokens, 200 overlap) + VectorStoreIndex with HuggingFaceEmbedding on the same MiniLM folder, persisted
to STORE_DIR. Prints one JSON line: pages, nodes, seconds to load (parse) and to index (split + embed), total
seconds, peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    folder, model_path, store_dir = sys.argv[1:4]
    started = time.perf_counter()
    from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    Settings.embed_model = HuggingFaceEmbedding(model_name=model_path, device="cpu")
    load_model = time.perf_counter() - started

    started = time.perf_counter()
    documents = SimpleDirectoryReader(folder, required_exts=[".pdf"], recursive=True).load_data()
    parse = time.perf_counter() - started

    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(documents)
    index.storage_context.persist(persist_dir=store_dir)
    build = time.perf_counter() - started

    print(json.dumps({
        "pages": len(documents),
        "nodes": len(index.docstore.docs),
        "model_load_s": load_model,
        "parse_s": parse,
        "index_s": build,
        "total_s": parse + build,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
