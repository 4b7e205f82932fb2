"""Folder progress: pages done of the pages known up front, pages/s over the pages actually read, time left.

The clock is moved by hand: every figure below is exact.
"""

from __future__ import annotations

import pytest

from ingest.progress import Progress, ProgressMeter, format_duration


class HandClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


def test_nothing_is_promised_before_any_page_is_read(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=300, files_total=3, clock=clock)
    start = meter.snapshot()
    assert (start.pages_done, start.pages_total, start.rate, start.eta) == (0, 300, None, None)
    assert start.describe() == "0 of 300 pages"


def test_rate_and_time_left_follow_the_pages_read(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=300, files_total=3, clock=clock)
    meter.begin("a.pdf")
    clock.advance(20)
    meter.end(planned_pages=100, read_pages=100)
    state = meter.snapshot()
    assert state.pages_done == 100 and state.files_done == 1
    assert state.rate == pytest.approx(5.0)  # 100 pages in 20 s
    assert state.eta == pytest.approx(40.0)  # 200 pages left at 5 pages/s
    assert state.fraction == pytest.approx(1 / 3)
    assert state.describe() == "100 of 300 pages · 5.0 pages/s · about 40 s left"


def test_unchanged_files_neither_slow_nor_speed_the_rate(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=200, files_total=3, clock=clock)
    meter.begin("unchanged.pdf")  # not in the pages to read: its pages were never counted
    clock.advance(3)  # hashing it took a while
    meter.end(planned_pages=0, read_pages=None)
    meter.begin("new.pdf")
    clock.advance(10)
    meter.end(planned_pages=100, read_pages=100)
    state = meter.snapshot()
    assert state.rate == pytest.approx(10.0)  # 100 pages in the 10 s spent reading, not in 13 s
    assert state.eta == pytest.approx(10.0)
    assert state.elapsed == pytest.approx(13.0)


def test_a_file_that_fails_leaves_the_work_to_do_without_counting_as_read(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=150, files_total=2, clock=clock)
    meter.begin("broken.pdf")
    clock.advance(1)
    meter.end(planned_pages=50, read_pages=None)
    state = meter.snapshot()
    assert (state.pages_done, state.pages_read, state.pages_left) == (50, 0, 100)
    assert state.rate is None and state.eta is None  # nothing was read: no rate to promise


def test_ocr_pages_move_the_numbers_while_a_scan_is_read(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=20, files_total=1, clock=clock)
    meter.begin("scan.pdf")
    for _ in range(4):
        clock.advance(5)  # OCR: seconds a page
        meter.ocr_page()
    state = meter.snapshot()
    assert (state.pages_done, state.pages_read, state.ocr_pages) == (4, 4, 4)
    assert state.rate == pytest.approx(0.2)
    assert state.eta == pytest.approx(80.0)  # 16 pages at the OCR rate
    assert state.current == "scan.pdf"
    clock.advance(5)
    meter.end(planned_pages=20, read_pages=20)  # the file's own count replaces the pages seen so far
    state = meter.snapshot()
    assert (state.pages_done, state.pages_read, state.ocr_pages, state.eta) == (20, 20, 4, 0.0)


def test_no_rate_is_given_from_a_fraction_of_a_second(clock: HandClock) -> None:
    meter = ProgressMeter(pages_total=100, clock=clock)
    meter.begin("a.pdf")
    clock.advance(0.2)
    meter.end(planned_pages=10, read_pages=10)
    assert meter.snapshot().rate is None


def test_a_batch_with_nothing_to_read_is_done_by_files() -> None:
    state = Progress(pages_total=0, pages_done=0, pages_read=0, reading_seconds=0, elapsed=0, files_total=4, files_done=1)
    assert state.fraction == pytest.approx(0.25)
    assert state.eta == 0.0


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (8, "8 s"), (212, "3 min 32 s"), (3900, "1 h 05 min")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
