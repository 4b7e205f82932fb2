"""Uploaded PDFs on disk: saved under ``home/uploads`` before ingestion, kept or rolled back after it.

An upload with the name of an earlier one replaces it, but only once the new file is ingested: until then
the earlier file is kept aside, and it comes back when the new one fails (the catalog then still describes
the earlier file, and its page pictures must still match). A failed upload leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.web.helpers import upload_destination

KEPT = frozenset({"added", "replaced", "reindexed", "unchanged", "moved"})  # ingest statuses after which the file is in use


@dataclass(frozen=True)
class SavedUpload:
    path: Path  # where the upload now is (inside the uploads folder)
    previous: Path | None = None  # the earlier file of that name, kept aside until the outcome is known


def save_upload(uploads_dir: Path, name: str, data: bytes) -> SavedUpload:
    """Write ``data`` as ``name`` (made safe) inside ``uploads_dir``, atomically; an earlier file is set aside."""
    uploads_dir = Path(uploads_dir)
    uploads_dir.mkdir(parents=True, exist_ok=True)
    target = upload_destination(uploads_dir, name)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        previous = None
        if target.exists():
            previous = target.with_name(f".{target.name}.previous")
            os.replace(target, previous)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return SavedUpload(target, previous)


def settle(upload: SavedUpload, status: str | None) -> None:
    """After ingestion: keep the upload when its ``status`` means the catalog uses it; otherwise put the
    earlier file back (or remove the upload when there was none). ``None`` means ingestion never ran."""
    if status in KEPT:
        if upload.previous is not None:
            upload.previous.unlink(missing_ok=True)
        return
    if upload.previous is not None and upload.previous.exists():
        os.replace(upload.previous, upload.path)
    else:
        upload.path.unlink(missing_ok=True)
