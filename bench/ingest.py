"""Ingestion benchmark: pages, chunks, seconds per stage, pages/s, peak RSS; then an unchanged re-ingest.

    python bench/ingest.py [FOLDER] [--home DIR]

FOLDER defaults to ../shared/corpus. Goals on a 2-core machine: parsing >= 100 pages/s, the 12-PDF corpus
(395 pages) fully ingested in <= 60 s, re-ingesting it unchanged in <= 3 s, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.workspace import Workspace  # noqa: E402
from ingest.discover import discover  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--home", default=None, help="data folder (default: a fresh temporary one)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"], help="embedding backend")
    args = parser.parse_args()

    files, _ = discover([args.folder])
    if not files:
        sys.exit(f"no PDFs under {args.folder}")
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        started = time.perf_counter()
        workspace = Workspace(load_settings(home=home, embedding_backend=args.backend))
        workspace.embedder
        load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        report = workspace.ingest(files)
        first = time.perf_counter() - started

        started = time.perf_counter()
        again = workspace.ingest(files)
        second = time.perf_counter() - started

        t = report.times
        print(f"files            {len(files)} ({report.count('added')} added, {len(report.failed)} failed)")
        print(f"pages            {report.pages}")
        print(f"chunks           {report.chunks}")
        print(f"model load       {load_seconds:6.2f} s")
        print(f"parse            {t.parse:6.2f} s   ({report.pages / max(t.parse, 1e-9):.0f} pages/s)")
        print(f"chunk            {t.chunk:6.2f} s")
        print(f"embed            {t.embed:6.2f} s   ({report.chunks / max(t.embed, 1e-9):.1f} chunks/s)")
        print(f"index            {t.index:6.2f} s")
        print(f"ingest total     {first:6.2f} s   ({report.pages / first:.1f} pages/s end to end)")
        print(f"re-ingest        {second:6.2f} s   ({again.count('unchanged')} unchanged)")
        print(f"peak RSS         {peak_rss_mb():6.0f} MB")
        for result in report.failed:
            print(f"failed           {Path(result.path).name}: {result.reason}")
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
