"""Progress of a folder's ingestion: pages done of the pages known up front, pages/s and the time left (pure).

The pages of every file that will be read are counted before the first one is read (opening a PDF and
asking for its page count takes milliseconds). From then on the meter is told when a file begins, when pages
of it are read by OCR (seconds a page), and when it ends: read (its pages count towards the rate) or not
(unchanged, a duplicate, moved, failed: its pages leave the work still to do, and the time it took is left
out of the rate, so a folder that is mostly unchanged does not promise a rate the reading cannot keep).

The rate is pages read over the time spent on files that were read; the time left is the pages still to
read at that rate. OCR'd pages count as they are read, so a long scan moves the numbers while it is read;
they are slow, so a folder with scans in it gets a slower rate and a longer estimate from then on (an
estimate is only as good as the pages behind it: the rest of the folder is assumed to read like them).

The clock is injected (``time.monotonic`` by default) so tests move it by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

Clock = Callable[[], float]

MIN_SECONDS_FOR_A_RATE = 1.0  # below this a rate (and an estimate) is noise: none is given


@dataclass(frozen=True)
class Progress:
    """Where a folder's ingestion is, as a user interface shows it."""

    pages_total: int  # pages of the files to read, counted up front
    pages_done: int  # of those: read, or accounted for by a file that was not read (unchanged, failed)
    pages_read: int  # pages read by this run (including the OCR'd pages of the file being read)
    reading_seconds: float  # time spent on files that were read (the rate's denominator)
    elapsed: float  # since the start
    files_total: int = 0
    files_done: int = 0
    ocr_pages: int = 0  # pages read by OCR so far
    current: str = ""  # the file being read ("" between files)

    @property
    def fraction(self) -> float:
        """Done, from 0 to 1 (1 when there is nothing to read)."""
        if self.pages_total <= 0:
            return 1.0 if self.files_total <= 0 else min(1.0, self.files_done / self.files_total)
        return min(1.0, self.pages_done / self.pages_total)

    @property
    def rate(self) -> float | None:
        """Pages read per second; None until a second of reading has passed or a page has been read."""
        if self.reading_seconds < MIN_SECONDS_FOR_A_RATE or self.pages_read <= 0:
            return None
        return self.pages_read / self.reading_seconds

    @property
    def pages_left(self) -> int:
        return max(0, self.pages_total - self.pages_done)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; None while there is no rate; 0 when nothing is left."""
        if self.pages_left == 0:
            return 0.0
        rate = self.rate
        return None if rate is None else self.pages_left / rate

    def describe(self) -> str:
        """One line: "120 of 1,251 pages · 5.3 pages/s · about 3 min 32 s left" (parts not known yet left out)."""
        parts = [f"{self.pages_done:,} of {self.pages_total:,} pages"]
        rate = self.rate
        if rate is not None:
            parts.append(f"{rate:.1f} pages/s")
        if self.ocr_pages:
            parts.append(f"{self.ocr_pages:,} OCR'd")
        eta = self.eta
        if eta is not None and self.pages_left:
            parts.append(f"about {format_duration(eta)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    """A short human duration: "8 s", "3 min 32 s", "1 h 05 min"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class ProgressMeter:
    """Fed as files begin and end; ``snapshot()`` gives the ``Progress`` to show."""

    pages_total: int
    files_total: int = 0
    clock: Clock = time.monotonic
    _started: float = field(init=False)
    _file_started: float | None = field(init=False, default=None)
    _current: str = field(init=False, default="")
    _current_ocr: int = field(init=False, default=0)  # OCR'd pages of the file being read
    _pages_done: int = field(init=False, default=0)
    _pages_read: int = field(init=False, default=0)
    _ocr_pages: int = field(init=False, default=0)
    _skipped_seconds: float = field(init=False, default=0.0)
    _files_done: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def begin(self, name: str) -> None:
        """A file begins."""
        self._file_started = self.clock()
        self._current = name
        self._current_ocr = 0

    def ocr_page(self) -> None:
        """A page of the current file is read by OCR (it counts as read at once: OCR is what takes the time)."""
        self._current_ocr += 1
        self._ocr_pages += 1

    def end(self, planned_pages: int, read_pages: int | None) -> None:
        """The current file ends. ``planned_pages``: its pages in the up-front count; ``read_pages``: the
        pages read (None: the file was not read: unchanged, duplicate, moved or failed)."""
        now = self.clock()
        if read_pages is None:
            if self._file_started is not None:
                self._skipped_seconds += now - self._file_started
        else:
            self._pages_read += read_pages
        self._pages_done += planned_pages
        self._files_done += 1
        self._file_started = None
        self._current = ""
        self._current_ocr = 0

    def snapshot(self) -> Progress:
        now = self.clock()
        elapsed = now - self._started
        reading = elapsed - self._skipped_seconds
        in_file = self._current_ocr  # pages of the current file already read (by OCR)
        return Progress(
            pages_total=self.pages_total,
            pages_done=min(self.pages_total, self._pages_done + in_file),
            pages_read=self._pages_read + in_file,
            reading_seconds=max(0.0, reading),
            elapsed=elapsed,
            files_total=self.files_total,
            files_done=self._files_done,
            ocr_pages=self._ocr_pages,
            current=self._current,
        )
