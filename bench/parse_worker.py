"""Reading PDFs in a worker process (parse_workers=1) against reading them in the main process (0), side by side.

    python bench/parse_worker.py [FOLDER] [--rounds N]

Each round ingests FOLDER into a fresh data folder twice per setting (in-process, a worker at the same
priority, a worker at nice 10), in the order A B C C B A (so a machine that slows down or speeds up during
the run weighs on each alike), with the embedding model loaded once. Printed per run: wall seconds, seconds until the folder's pages were known (hashing and page counts),
the main process's parse/chunk/embed/index seconds (with a worker, "parse" is the time spent waiting for
it), pages/s, the worker's peak RSS; then the mean of each setting and the machine's load average. FOLDER defaults to ../shared/corpus.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace, embedder_config, ingest_options  # noqa: E402
from ingest.discover import discover  # noqa: E402
from ingest.pipeline import IngestEvent, IngestPipeline  # noqa: E402
from rag.index.embeddings import Embedder, open_embedder  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def worker_peak_rss_mb() -> float:
    """The PDF reader worker's peak RSS (VmHWM), read while it is alive; 0 when there is none."""
    import multiprocessing

    for child in multiprocessing.active_children():
        if child.name == "rag-pdf-reader":
            for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return 0.0


def ingest_once(files: list[Path], embedder: Embedder, parse_workers: int, niceness: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="rag-bench-worker-"))
    workspace = Workspace(load_settings(home=home), embedder=embedder)
    try:
        options = replace(ingest_options(workspace.settings), parse_workers=parse_workers, parse_niceness=niceness)
        pipeline = IngestPipeline(workspace.stores, embedder, options, workspace.settings.lock_path,
                                  ocr_engine=workspace.parts.ocr_engine)
        started = time.perf_counter()
        known: list[float] = []
        worker_rss: list[float] = [0.0]

        def on_event(event: IngestEvent) -> None:
            if event.kind == "start":
                known.append(time.perf_counter() - started)
            elif event.kind == "done":
                worker_rss[0] = max(worker_rss[0], worker_peak_rss_mb())

        report = pipeline.run(files, on_event=on_event)
        wall = time.perf_counter() - started
        t = report.times
        return {"wall": wall, "known": known[0], "parse": t.parse, "chunk": t.chunk, "embed": t.embed,
                "index": t.index, "pages": report.pages, "chunks": report.chunks, "failed": len(report.failed), "worker_rss": worker_rss[0]}
    finally:
        workspace.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (0, 1, 1, 0) runs (default 1)")
    args = parser.parse_args()
    files, _ = discover([args.folder])
    if not files:
        sys.exit(f"no PDFs under {args.folder}")
    load_before = os.getloadavg()
    embedder = open_embedder(embedder_config(load_settings()))  # the default model, as `rag ingest` loads it
    embedder.embed_passages(["warm up"])
    settings = {"in-process": (0, 0), "worker": (1, 0), "worker nice": (1, 10)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    print(f"{len(files)} files under {args.folder}; load average before: {load_before[0]:.2f}")
    print("setting       wall s  known s  parse s  chunk s  embed s  index s  pages  pages/s  failed  worker MB")
    order = list(settings) + list(reversed(settings))  # A B C C B A: drift weighs on every setting alike
    for _ in range(args.rounds):
        for name in order:
            workers, niceness = settings[name]
            r = ingest_once(files, embedder, workers, niceness)
            runs[name].append(r)
            print(f"{name:12s} {r['wall']:7.1f} {r['known']:8.2f} {r['parse']:8.1f} {r['chunk']:8.1f} "
                  f"{r['embed']:8.1f} {r['index']:8.1f} {r['pages']:6.0f} {r['pages'] / r['wall']:8.2f} "
                  f"{r['failed']:7.0f} {r['worker_rss']:10.0f}", flush=True)
    base = statistics.mean(r["wall"] for r in runs["in-process"])
    for name, rs in runs.items():
        wall = statistics.mean(r["wall"] for r in rs)
        print(f"mean wall {name:12s} {wall:7.1f} s  {base / wall:.3f}x in-process")
    print(f"load average after: {os.getloadavg()[0]:.2f}; main peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

if __name__ == "__main__":
    main()
