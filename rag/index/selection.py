"""Choosing documents by what a user types: a document id, a unique id prefix, a file name, a path, or a glob
on the file name (``"llama*.pdf"``). Pure functions over the catalog's records."""

from __future__ import annotations

import difflib
import fnmatch
from pathlib import Path
from typing import Sequence

from rag.errors import UnknownDocument
from rag.types import DocumentRecord

GLOB_CHARACTERS = frozenset("*?[")
MIN_PREFIX = 4  # shorter id prefixes would match by accident ("a" is the start of 1 id in 16)


def matching(reference: str, documents: Sequence[DocumentRecord]) -> list[DocumentRecord]:
    """The documents ``reference`` names, in library order (empty when it names none).

    An exact id, path or file name names those documents; a glob (``*``, ``?``, ``[``) matches file names,
    ignoring case; otherwise a file name ignoring case, then an id prefix of at least ``MIN_PREFIX``
    characters, then the path the reference resolves to."""
    ref = reference.strip()
    if not ref:
        return []
    exact = [d for d in documents if ref in (d.doc_id, d.path, d.file_name)]
    if exact:
        return exact
    if GLOB_CHARACTERS & set(ref):
        pattern = ref.lower()
        return [d for d in documents if fnmatch.fnmatchcase(d.file_name.lower(), pattern)]
    folded = [d for d in documents if d.file_name.lower() == ref.lower()]
    if folded:
        return folded
    if len(ref) >= MIN_PREFIX:
        prefixed = [d for d in documents if d.doc_id.startswith(ref.lower())]
        if prefixed:
            return prefixed
    resolved = str(Path(ref).expanduser().resolve())
    return [d for d in documents if d.path == resolved]


def close_matches(reference: str, documents: Sequence[DocumentRecord], limit: int = 3) -> list[str]:
    """File names of the documents whose name is closest to ``reference`` (a typo, a missing extension, a word
    of the name), best first; compared without the extension, so ".pdf" alone makes nothing similar."""
    ref = _stem(reference)
    names = list(dict.fromkeys(d.file_name for d in documents))
    by_stem: dict[str, list[str]] = {}
    for name in names:
        by_stem.setdefault(_stem(name), []).append(name)
    similar = difflib.get_close_matches(ref, list(by_stem), n=limit, cutoff=0.6)
    contained = [stem for stem in by_stem if len(ref) >= 3 and ref in stem]
    return [name for stem in dict.fromkeys(similar + contained) for name in by_stem[stem]][:limit]


def _stem(name: str) -> str:
    name = name.strip().lower()
    return name[: -len(".pdf")] if name.endswith(".pdf") else name


def select_documents(references: Sequence[str], documents: Sequence[DocumentRecord]) -> list[DocumentRecord]:
    """Every document any of ``references`` names, once each, in library order.

    Raises :class:`UnknownDocument` naming each reference that matches nothing, with the closest file names."""
    chosen: dict[str, DocumentRecord] = {}
    problems: list[str] = []
    for reference in references:
        found = matching(reference, documents)
        if not found:
            near = close_matches(reference, documents)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            problems.append(f"{reference!r}{hint}")
        for record in found:
            chosen.setdefault(record.doc_id, record)
    if problems:
        where = "the library is empty" if not documents else "see `rag docs list`"
        raise UnknownDocument(f"no document matches {'; '.join(problems)}; {where}")
    order = {d.doc_id: i for i, d in enumerate(documents)}
    return sorted(chosen.values(), key=lambda d: order[d.doc_id])
