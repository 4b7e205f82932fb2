"""Ingestion benchmark: seconds per stage, pages/s, chunks/s, peak RSS, on-disk sizes; an unchanged re-ingest;
variants of the settings and a LlamaIndex default pipeline measured side by side in one run.

    python bench/ingest.py [FOLDER] [--home DIR] [--variant NAME:SETTING=VALUE,...]...
                           [--compare-llamaindex] [--llamaindex-python PATH] [--json OUT]

FOLDER defaults to ../shared/corpus. Each run is a process of its own (so its peak RSS is its own) on a fresh
data folder (or --home, with one variant), ingesting every PDF under FOLDER, then the same files again
unchanged. Without --variant one run uses the default settings; ``--variant fp32:embedding_precision=float32
--variant amx:embedding_precision=bfloat16`` runs both, one after the other.

--compare-llamaindex also runs bench/llamaindex_ingest.py (SimpleDirectoryReader + SentenceSplitter +
VectorStoreIndex with HuggingFaceEmbedding on the same packaged MiniLM) with --llamaindex-python, a Python
whose venv holds llama-index-core, llama-index-readers-file and llama-index-embeddings-huggingface (never a
dependency of this project; ``make bench-llamaindex`` makes one in .venv-llamaindex), and prints how many
times faster each of our runs is. Model loading is excluded on both sides.

Goals on a 2-core machine: >= 3x LlamaIndex, >= 20 pages/s on a large folder of filings, peak RSS <= 1.5 GB,
an unchanged re-ingest of 10,000 pages <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from ingest.discover import discover  # noqa: E402
from rag.models import resolve_model  # noqa: E402
from rag.settings import load_settings  # noqa: E402


@dataclass
class Run:
    name: str
    files: int = 0
    failed: int = 0
    pages: int = 0
    chunks: int = 0
    model_load_s: float = 0.0
    parse_s: float = 0.0
    chunk_s: float = 0.0
    embed_s: float = 0.0
    index_s: float = 0.0
    total_s: float = 0.0
    reingest_s: float = 0.0
    peak_rss_mb: float = 0.0
    catalog_mb: float = 0.0
    keyword_mb: float = 0.0
    vectors_mb: float = 0.0
    precision: str = ""

    @property
    def pages_per_s(self) -> float:
        return self.pages / max(self.total_s, 1e-9)


def size_mb(path: Path) -> float:
    """A folder's or a file's size on disk; a SQLite file counts with its write-ahead log."""
    if path.is_file():
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        return sum(p.stat().st_size for p in [path, *sidecars] if p.is_file()) / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6 if path.is_dir() else 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """"name:key=value,key=value" -> (name, {key: value})."""
    name, _, assignments = text.partition(":")
    overrides = {}
    for item in filter(None, assignments.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: expected NAME:SETTING=VALUE,...")
        overrides[key.strip()] = value.strip()
    return name, overrides


def ingest_once(folder: str, home: Path, name: str, overrides: dict[str, str]) -> Run:
    """One measured run in this process (the child side of main)."""
    files, _ = discover([folder])
    started = time.perf_counter()
    workspace = Workspace(load_settings(home=home, **overrides))
    embedder = workspace.embedder
    run = Run(name, files=len(files), model_load_s=time.perf_counter() - started)
    run.precision = getattr(embedder, "precision", "")

    started = time.perf_counter()
    report = workspace.ingest(files)
    run.total_s = time.perf_counter() - started
    started = time.perf_counter()
    workspace.ingest(files)
    run.reingest_s = time.perf_counter() - started

    run.failed, run.pages, run.chunks = len(report.failed), report.pages, report.chunks
    t = report.times
    run.parse_s, run.chunk_s, run.embed_s, run.index_s = t.parse, t.chunk, t.embed, t.index
    settings = workspace.settings
    run.catalog_mb = size_mb(settings.catalog_path)
    run.keyword_mb = size_mb(settings.keyword_path)
    run.vectors_mb = size_mb(settings.chroma_path)
    run.peak_rss_mb = peak_rss_mb()
    return run


def run_child(folder: str, home: Path | None, name: str, overrides: dict[str, str]) -> Run:
    """One run in a fresh process and (unless home is given) a fresh data folder."""
    scratch = Path(tempfile.mkdtemp(prefix="rag-bench-ingest-"))
    try:
        command = [sys.executable, __file__, folder, "--child", name, "--home", str(home or scratch / "home")]
        command += [f"--set={key}={value}" for key, value in overrides.items()]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return Run(**json.loads(out.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_llamaindex(folder: str, python: str) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="rag-bench-llamaindex-"))
    try:
        model = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
        command = [python, str(ROOT / "bench" / "llamaindex_ingest.py"), folder, model, str(scratch / "store")]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["store_mb"] = size_mb(scratch / "store")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_runs(runs: list[Run]) -> None:
    width = max(12, *(len(r.name) for r in runs))
    rows = [
        ("embedding precision", lambda r: r.precision),
        ("files (failed)", lambda r: f"{r.files} ({r.failed})"),
        ("pages", lambda r: f"{r.pages}"),
        ("chunks", lambda r: f"{r.chunks}"),
        ("model load s", lambda r: f"{r.model_load_s:.1f}"),
        ("parse s", lambda r: f"{r.parse_s:.1f}"),
        ("chunk s", lambda r: f"{r.chunk_s:.1f}"),
        ("embed s", lambda r: f"{r.embed_s:.1f}"),
        ("index s", lambda r: f"{r.index_s:.1f}"),
        ("ingest total s", lambda r: f"{r.total_s:.1f}"),
        ("pages/s", lambda r: f"{r.pages_per_s:.1f}"),
        ("chunks/s embedded", lambda r: f"{r.chunks / max(r.embed_s, 1e-9):.1f}"),
        ("unchanged re-ingest s", lambda r: f"{r.reingest_s:.2f}"),
        ("peak RSS MB (main)", lambda r: f"{r.peak_rss_mb:.0f}"),
        ("catalog MB /1k pages", lambda r: f"{1000 * r.catalog_mb / max(r.pages, 1):.2f}"),
        ("keyword MB /1k pages", lambda r: f"{1000 * r.keyword_mb / max(r.pages, 1):.1f}"),
        ("vectors MB /1k pages", lambda r: f"{1000 * r.vectors_mb / max(r.pages, 1):.1f}"),
    ]
    print(f"{'':26s}" + "".join(f"{r.name:>{width + 2}s}" for r in runs))
    for label, cell in rows:
        print(f"{label:26s}" + "".join(f"{cell(r):>{width + 2}s}" for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--home", default=None, help="data folder (default: a fresh temporary one per run)")
    parser.add_argument("--variant", action="append", default=[], help="NAME:SETTING=VALUE,... (repeatable)")
    parser.add_argument("--compare-llamaindex", action="store_true")
    parser.add_argument("--llamaindex-python", default=str(ROOT / ".venv-llamaindex" / "bin" / "python"))
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:  # one measured run, printed as JSON for the parent
        overrides = dict(item.split("=", 1) for item in args.set)
        print(json.dumps(asdict(ingest_once(args.folder, Path(args.home), args.child, overrides))))
        return

    if not discover([args.folder])[0]:
        sys.exit(f"no PDFs under {args.folder}")
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    if args.home and len(variants) > 1:
        sys.exit("--home holds one run: give at most one --variant with it")
    if args.compare_llamaindex and not Path(args.llamaindex_python).exists():
        sys.exit(f"no Python at {args.llamaindex_python}: run `make bench-llamaindex` or pass --llamaindex-python")
    print(f"folder {args.folder}; {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}")

    runs = []
    for name, overrides in variants:
        runs.append(run_child(args.folder, Path(args.home) if args.home else None, name, overrides))
    print_runs(runs)

    llamaindex = None
    if args.compare_llamaindex:
        llamaindex = run_llamaindex(args.folder, args.llamaindex_python)
        print(
            f"\nLlamaIndex default pipeline: {llamaindex['pages']} pages, {llamaindex['nodes']} nodes; parse "
            f"{llamaindex['parse_s']:.1f} s, split+embed+persist {llamaindex['index_s']:.1f} s, total "
            f"{llamaindex['total_s']:.1f} s ({llamaindex['pages'] / llamaindex['total_s']:.1f} pages/s), peak RSS "
            f"{llamaindex['peak_rss_mb']:.0f} MB, store {1000 * llamaindex['store_mb'] / max(llamaindex['pages'], 1):.1f} MB /1k pages"
        )
        for run in runs:
            print(f"{run.name}: {llamaindex['total_s'] / max(run.total_s, 1e-9):.2f}x as fast as LlamaIndex")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": [asdict(r) for r in runs], "llamaindex": llamaindex}, indent=2))


if __name__ == "__main__":
    main()
