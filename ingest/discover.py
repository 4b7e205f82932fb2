"""Turn the PATH arguments of `rag ingest` (files, folders, globs) into a sorted list of files."""

from __future__ import annotations

import glob
from pathlib import Path


def discover(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """(files to ingest, arguments that matched nothing). Folders yield their *.pdf files recursively."""
    files: dict[Path, None] = {}
    unmatched: list[str] = []
    for argument in arguments:
        candidates = [Path(p) for p in sorted(glob.glob(argument, recursive=True))] if glob.has_magic(argument) else [Path(argument)]
        found = False
        for candidate in candidates:
            if candidate.is_dir():
                for pdf in sorted(p for p in candidate.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf"):
                    files[pdf.resolve()] = None
                    found = True
            elif candidate.is_file():
                files[candidate.resolve()] = None
                found = True
        if not found:
            unmatched.append(argument)
    return list(files), unmatched
