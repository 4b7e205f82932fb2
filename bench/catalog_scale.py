"""The library at 1,000 documents: write cost per document as the stores grow, and the reads users wait for.

    python bench/catalog_scale.py [--docs 1000] [--chunks 35] [--home DIR]

Writes DOCS synthetic documents of CHUNKS chunks each (about the 35 chunks of an average filing; random
text over a 5,000-word vocabulary, random unit vectors: no model is loaded) through ``Stores.write_document``
into the embedded stores (SQLite catalog, SQLite FTS5, Chroma), timing each write, then prints:

- seconds per document written, for the first and the last tenth (equal when nothing grows with the library);
- ``catalog.by_path`` and ``catalog.get`` (what the pipeline asks for every file), ``catalog.documents()``;
- ``rag docs list`` and ``rag doctor`` as a user runs them (new processes: startup included), and the store
  reads doctor makes (``doc_ids()`` of each index);
- an unchanged re-ingest's decisions for every document (by_path + get per file);
- a keyword search (p50 over 50 queries) and one document replaced and removed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import open_keyword_index, open_vectors  # noqa: E402
from rag.index.catalog import Catalog  # noqa: E402
from rag.index.stores import Stores  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.types import Chunk, ReadingReport  # noqa: E402

DIMENSIONS = 384  # MiniLM's


def vocabulary(size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(size)]


def document(number: int, chunks: int, words: list[str], rng: random.Random) -> tuple[str, list[Chunk], np.ndarray]:
    doc_id = f"{number:016x}"
    texts = [" ".join(rng.choice(words) for _ in range(180)) + f" marker{number}" for _ in range(chunks)]
    made = [Chunk(f"{doc_id}-{i}", doc_id, i, text, i + 1, i + 1, 0, len(text)) for i, text in enumerate(texts)]
    vectors = np.random.default_rng(number).standard_normal((chunks, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return doc_id, made, vectors


def timed(fn, repeat: int = 1) -> float:  # noqa: ANN001
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def command_seconds(args: list[str], home: Path) -> float:
    env = {**os.environ, "RAG_HOME": str(home)}
    rag = Path(sys.executable).with_name("rag")
    started = time.perf_counter()
    subprocess.run([str(rag), *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=35)
    parser.add_argument("--home", default=None, help="data folder (default: a fresh temporary one, removed after)")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="rag-bench-scale-"))
    settings = load_settings(home=home)
    stores = Stores(Catalog(settings.catalog_path), open_keyword_index(settings), open_vectors(settings))
    words, rng = vocabulary(5000), random.Random(11)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.docs} documents x {args.chunks} chunks into {home}")
    try:
        write_seconds = []
        for number in range(args.docs):
            doc_id, chunks, vectors = document(number, args.chunks, words, rng)
            started = time.perf_counter()
            stores.write_document(doc_id=doc_id, path=f"/library/doc-{number:05d}.pdf", sha256=doc_id * 4,
                                  title=f"Document {number}", pages=args.chunks, chunks=chunks, vectors=vectors,
                                  fingerprint="bench", reading=ReadingReport(pages=args.chunks))
            write_seconds.append(time.perf_counter() - started)
        tenth = max(1, args.docs // 10)
        first, last = statistics.mean(write_seconds[:tenth]), statistics.mean(write_seconds[-tenth:])
        print(f"write per document: first tenth {first * 1000:.1f} ms, last tenth {last * 1000:.1f} ms "
              f"({last / first:.2f}x); all {sum(write_seconds):.1f} s")

        catalog = stores.catalog
        paths = [f"/library/doc-{n:05d}.pdf" for n in range(args.docs)]
        print(f"catalog.by_path         {timed(lambda: [catalog.by_path(p) for p in paths]) / args.docs * 1e6:8.0f} µs")
        print(f"catalog.get             {timed(lambda: [catalog.get(f'{n:016x}') for n in range(args.docs)]) / args.docs * 1e6:8.0f} µs")
        print(f"catalog.documents()     {timed(catalog.documents, 5) * 1000:8.1f} ms ({len(catalog.documents())} documents)")
        decide = timed(lambda: [(catalog.by_path(p), catalog.get(f"{n:016x}")) for n, p in enumerate(paths)])
        print(f"re-ingest decisions     {decide * 1000:8.1f} ms for {args.docs} files (by_path + get each)")
        print(f"keyword doc_ids()       {timed(stores.keyword.doc_ids) * 1000:8.1f} ms")
        print(f"vectors doc_ids()       {timed(stores.vectors.doc_ids) * 1000:8.1f} ms")
        queries = [" ".join(rng.choice(words) for _ in range(5)) for _ in range(50)]
        latencies = sorted(timed(lambda q=q: stores.keyword.search(q, 50)) for q in queries)
        print(f"keyword search p50      {latencies[len(latencies) // 2] * 1000:8.1f} ms ({stores.keyword.count()} chunks)")
        middle = args.docs // 2
        doc_id, chunks, vectors = document(middle, args.chunks, words, random.Random(99))
        new_id = "f" + doc_id[1:]
        chunks = [Chunk(f"{new_id}-{c.index}", new_id, c.index, c.text, c.page_start, c.page_end, 0, len(c.text)) for c in chunks]
        replace = timed(lambda: stores.write_document(
            doc_id=new_id, path=paths[middle], sha256=new_id * 4, title="replaced", pages=args.chunks, chunks=chunks,
            vectors=vectors, fingerprint="bench", replaces=[doc_id]))
        print(f"replace one document    {replace * 1000:8.1f} ms")
        print(f"remove one document     {timed(lambda: stores.remove_document(new_id)) * 1000:8.1f} ms")
        stores.close()
        print(f"`rag docs list`         {command_seconds(['docs', 'list'], home):8.2f} s (new process)")
        print(f"`rag doctor`            {command_seconds(['doctor'], home):8.2f} s (new process)")
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
