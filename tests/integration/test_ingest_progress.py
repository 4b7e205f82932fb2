"""Folder progress as the pipeline reports it, and as `rag ingest` and the web upload show it.

The pipeline's clock is moved by hand (ten seconds per file), so pages/s and the time left are exact.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from app import cli
from app.web.helpers import ingest_progress_text
from app.workspace import ingest_options
from ingest.pipeline import IngestEvent, IngestPipeline
from tests.fixtures.pdfs import make_corrupt_pdf, make_pdf

SECONDS_PER_FILE = 10.0


class HandClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _folder(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        make_pdf(folder / "a.pdf", ["Tidal barrages use the rise and fall of the sea.", "Turbines sit in the dam."]),
        make_corrupt_pdf(folder / "b.pdf"),  # cannot be opened: counts 0 pages, fails with its usual line
        make_pdf(folder / "c.pdf", ["Basalt columns form as lava cools.", "They crack into hexagons.", "Giant's Causeway."]),
    ]


def _run(workspace, files: list[Path], parse_workers: int) -> list[IngestEvent]:  # noqa: ANN001
    clock = HandClock()
    events: list[IngestEvent] = []

    def on_event(event: IngestEvent) -> None:
        if event.kind == "file":
            clock.now += SECONDS_PER_FILE  # the file takes ten seconds, whatever the machine does
        events.append(event)

    options = replace(ingest_options(workspace.settings), parse_workers=parse_workers)
    pipeline = IngestPipeline(workspace.stores, workspace.embedder, options, workspace.settings.lock_path, clock=clock)
    pipeline.run(files, on_event=on_event)
    return events


@pytest.mark.parametrize("parse_workers", [0, 1])
def test_the_folders_pages_are_known_up_front_and_the_rate_counts_pages_read(
    make_workspace, tmp_path: Path, parse_workers: int
) -> None:
    files = _folder(tmp_path / "pdfs")
    events = _run(make_workspace(), files, parse_workers)

    start = events[0]
    assert start.kind == "start" and start.progress is not None
    assert (start.progress.pages_total, start.progress.files_total, start.progress.pages_done) == (5, 3, 0)

    done = [e for e in events if e.kind == "done"]
    assert [e.result.status for e in done] == ["added", "failed", "added"]
    after_a, after_b, after_c = (e.progress for e in done)
    assert (after_a.pages_done, after_a.rate, after_a.eta) == (2, pytest.approx(0.2), pytest.approx(15.0))
    assert after_a.describe() == "2 of 5 pages · 0.2 pages/s · about 15 s left"
    # the broken file was not read: its ten seconds are not in the rate
    assert (after_b.pages_done, after_b.rate, after_b.reading_seconds) == (2, pytest.approx(0.2), pytest.approx(10.0))
    assert (after_c.pages_done, after_c.rate, after_c.eta, after_c.fraction) == (5, pytest.approx(0.25), 0.0, 1.0)

    files_begun = [e for e in events if e.kind == "file"]
    assert [e.progress.current for e in files_begun] == ["a.pdf", "b.pdf", "c.pdf"]


def test_unchanged_files_are_not_pages_to_read(make_workspace, tmp_path: Path) -> None:
    files = _folder(tmp_path / "pdfs")
    workspace = make_workspace()
    _run(workspace, files, parse_workers=0)
    again = _run(workspace, files, parse_workers=1)
    assert again[0].progress.pages_total == 0  # only the broken file is left, and it counts 0 pages
    last = again[-1].progress
    assert last.fraction == 1.0 and last.rate is None


class ScriptedWorkspace:
    """What `rag ingest` is given: the events of a real run over the folder, replayed (the CLI only shows them)."""

    def __init__(self, events: list[IngestEvent]) -> None:
        self.events = events

    def ingest(self, files, password=None, on_event=None, parse_workers=1):  # noqa: ANN001, ANN202
        from ingest.pipeline import IngestReport

        report = IngestReport()
        for event in self.events:
            on_event(event)
            if event.kind == "done":
                report.results.append(event.result)
        return report


def test_rag_ingest_shows_pages_rate_time_left_and_the_current_file(
    make_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _run(make_workspace(), _folder(tmp_path / "pdfs"), parse_workers=0)
    screen = io.StringIO()
    monkeypatch.setattr(cli, "errors", Console(file=screen, force_terminal=True, width=240))
    frames: list[str] = []
    real_update = cli.Progress.update

    def update(self, task, **fields):  # noqa: ANN001, ANN202 - every frame the bar is asked to show
        real_update(self, task, **fields)
        self.refresh()
        frames.append(screen.getvalue())

    monkeypatch.setattr(cli.Progress, "update", update)
    cli._ingest_batch(ScriptedWorkspace(events), [], None)
    shown = frames[-1]
    assert "2 of 5 pages · 0.2 pages/s · about 15 s left" in shown  # after the first file
    assert "(3 of 3) c.pdf" in shown  # the file being read, and where it is in the folder


def test_the_web_upload_bar_says_the_same() -> None:
    from ingest.progress import Progress

    state = Progress(pages_total=1251, pages_done=120, pages_read=120, reading_seconds=24, elapsed=25,
                     files_total=16, files_done=2, current="10-K.pdf")
    event = IngestEvent("file", files_total=16, path="/x/10-K.pdf", progress=state)
    assert ingest_progress_text(event) == "Reading 10-K.pdf (3 of 16) · 120 of 1,251 pages · 5.0 pages/s · about 3 min 46 s left"
    ocr = IngestEvent("ocr", files_total=16, path="/x/scan.pdf", page=3, pages_total=12, progress=state)
    assert ingest_progress_text(ocr).startswith("Reading scan.pdf (3 of 16): OCR of page 3 of 12 · 120 of 1,251 pages")
