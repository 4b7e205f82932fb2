"""Only one ingestion runs at a time, with a clear message for the second."""

from pathlib import Path

import pytest

from ingest.lock import IngestLock
from rag.errors import IngestLocked


def test_a_second_holder_is_refused_with_the_first_holders_pid(tmp_path: Path) -> None:
    import os

    with IngestLock(tmp_path / "ingest.lock"):
        with pytest.raises(IngestLocked, match=f"pid {os.getpid()}"):
            with IngestLock(tmp_path / "ingest.lock"):
                pass


def test_the_lock_is_free_again_after_release(tmp_path: Path) -> None:
    with IngestLock(tmp_path / "ingest.lock"):
        pass
    with IngestLock(tmp_path / "ingest.lock"):
        pass
