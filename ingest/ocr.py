"""OCR of page images: the engine wrapper, and OCR'd lines -> page text in reading order.

The engine is RapidOCR (PyPI ``rapidocr``): PP-OCR text detection, direction classification and recognition
(Chinese + English) run on onnxruntime, with the models inside the wheel. They are loaded from the installed
package by path, so nothing is ever downloaded; a missing model file is a ``ModelUnavailable`` error naming
``RAG_OCR``. The engine is loaded on the first page that needs it: documents with a good text layer never
pay for it.

Coordinates: the engine sees a picture of the page rendered at ``dpi``; its boxes are turned into PDF points
(origin at the bottom left, as pdfium and ``ingest.layout`` use them), so that the two-column reading
order of ``ingest.layout`` applies to OCR'd lines as it does to the text layer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from statistics import median
from typing import Any, Literal, Protocol, Sequence

import numpy as np

from ingest.layout import Box, reading_regions
from rag.errors import ModelUnavailable

log = logging.getLogger(__name__)

OcrMode = Literal["auto", "off", "force"]
OCR_MODES: tuple[str, ...] = ("auto", "off", "force")

# The models RapidOCR ships in its wheel (its default configuration), by task.
PACKAGED_MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
ENGINE_NAME = "RapidOCR (PP-OCRv6 small, onnxruntime)"


@dataclass(frozen=True)
class OcrConfig:
    """How pages are read by OCR: ``mode`` auto (pages without a usable text layer), off, or force (every
    page); ``dpi`` of the rendered picture; ``threads`` for onnxruntime (0: all cores); ``min_score``: lines
    recognised with less confidence are dropped."""

    mode: OcrMode = "auto"
    dpi: int = 200
    threads: int = 0
    min_score: float = 0.5


@dataclass(frozen=True)
class OcrLine:
    """One line of text the engine read, with its box in PDF points (origin bottom left) and confidence."""

    text: str
    box: Box
    score: float


class OcrEngine(Protocol):
    """Reads a page picture (an H x W x 3 uint8 array, BGR) into lines with pixel boxes."""

    name: str

    def read(self, image: np.ndarray) -> list[tuple[str, tuple[float, float, float, float], float]]:
        """(text, (left, top, right, bottom) in pixels, score) per line."""
        ...


class RapidOcrEngine:
    """RapidOCR with its packaged models, loaded on first use (thread-safe)."""

    name = ENGINE_NAME

    def __init__(self, config: OcrConfig = OcrConfig()) -> None:
        self.config = config
        self._engine: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (sent to a PDF reader worker process) as its settings: the copy loads its own models."""
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]

    @staticmethod
    def model_dir() -> Path:
        """Where the installed ``rapidocr`` package keeps its models; ModelUnavailable when it is not installed."""
        spec = find_spec("rapidocr")
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                "the OCR engine is not installed (PyPI package rapidocr); reinstall the project, or set RAG_OCR=off"
            )
        return Path(next(iter(spec.submodule_search_locations))) / "models"

    def check(self) -> str:
        """A one-line description when the engine's package and models are installed; ModelUnavailable if not.
        Loads nothing."""
        folder = self.model_dir()
        missing = [name for name in PACKAGED_MODELS.values() if not (folder / name).is_file()]
        if missing:
            raise ModelUnavailable(
                f"the OCR models are missing from {folder} ({', '.join(missing)}); reinstall rapidocr "
                "(pip install --force-reinstall rapidocr), or set RAG_OCR=off"
            )
        return f"{self.name}, models in {folder}"

    def _load(self) -> Any:
        with self._lock:
            if self._engine is None:
                self.check()
                folder = self.model_dir()
                try:
                    from rapidocr import RapidOCR
                except ImportError as exc:  # a dependency (opencv, onnxruntime) is broken
                    raise ModelUnavailable(f"the OCR engine cannot load ({exc}); reinstall the project, or set RAG_OCR=off") from exc
                threads = self.config.threads or -1
                params: dict[str, Any] = {
                    "Global.log_level": "error",  # not a warning per blank page: we log what matters
                    "Global.text_score": self.config.min_score,
                    "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
                for task, file_name in PACKAGED_MODELS.items():
                    params[f"{task}.model_path"] = str(folder / file_name)
                try:
                    self._engine = RapidOCR(params=params)
                except Exception as exc:  # onnxruntime refuses a model file: one line, no traceback
                    raise ModelUnavailable(f"the OCR engine cannot load ({exc}); reinstall rapidocr, or set RAG_OCR=off") from exc
                log.info("OCR engine loaded: %s", self.name)
            return self._engine

    def read(self, image: np.ndarray) -> list[tuple[str, tuple[float, float, float, float], float]]:
        engine = self._load()
        output = engine(image)
        if output.boxes is None or output.txts is None:
            return []
        lines = []
        for quad, text, score in zip(output.boxes, output.txts, output.scores):
            xs = [float(p[0]) for p in quad]
            ys = [float(p[1]) for p in quad]
            lines.append((str(text), (min(xs), min(ys), max(xs), max(ys)), float(score)))
        return lines


def to_page_lines(
    raw: Sequence[tuple[str, tuple[float, float, float, float], float]], page: Box, scale: float, min_score: float = 0.0
) -> list[OcrLine]:
    """Engine lines (pixel boxes, y down, in a picture of ``page`` rendered at ``scale`` pixels per point)
    as ``OcrLine``s in PDF points (y up); empty and low-confidence lines are dropped."""
    lines = []
    for text, (left, top, right, bottom), score in raw:
        text = " ".join(text.split())
        if not text or score < min_score:
            continue
        box = Box(page.left + left / scale, page.top - bottom / scale, page.left + right / scale, page.top - top / scale)
        lines.append(OcrLine(text, box, score))
    return lines


# ------------------------------------------------------------------------------------------ reading order

# OCR'd lines are whole printed lines: a full-width block above two columns crosses the gutter with all its
# lines, which must not make the page one column (pdfium's text boxes need the stricter default).
OCR_MAX_CROSSING_SHARE = 0.5
# The detector pads its boxes (they are "unclipped" outwards), so the white gap between columns looks narrower.
OCR_MIN_GUTTER = 4.0

_CJK_RANGES = ((0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _join(left: str, right: str) -> str:
    """Two pieces of one printed line: no space between CJK characters, one space otherwise."""
    if left and right and _is_cjk(left[-1]) and _is_cjk(right[0]):
        return left + right
    return f"{left} {right}"


def _rows(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    """Lines grouped into printed rows (boxes that overlap vertically by half the smaller height), top to
    bottom, each row left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda l: (-l.box.top, l.box.left)):
        if rows:
            last = rows[-1]
            top = min(l.box.top for l in last)
            bottom = max(l.box.bottom for l in last)
            overlap = min(top, line.box.top) - max(bottom, line.box.bottom)
            if overlap >= 0.5 * min(top - bottom, line.box.height):
                last.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda l: l.box.left) for row in rows]


def _region_text(lines: Sequence[OcrLine]) -> str:
    rows = _rows(lines)
    if not rows:
        return ""
    height = median(l.box.height for l in lines)
    parts: list[str] = []
    previous_bottom: float | None = None
    for row in rows:
        text = row[0].text
        for line in row[1:]:
            text = _join(text, line.text)
        top = max(l.box.top for l in row)
        if previous_bottom is not None:
            parts.append("\n\n" if previous_bottom - top > 1.2 * height else "\n")
        parts.append(text)
        previous_bottom = min(l.box.bottom for l in row)
    return "".join(parts)


def lines_to_text(lines: Sequence[OcrLine], page: Box) -> str:
    """A page's OCR'd lines as text in reading order: one printed row per text line, a blank line at a
    wide vertical gap, and two-column pages read column by column (``ingest.layout.reading_regions``)."""
    if not lines:
        return ""
    ordered = sorted(lines, key=lambda l: (-l.box.top, l.box.left))  # as a scanner reads: across the page
    regions = reading_regions(
        [l.box for l in ordered], page, min_gutter=OCR_MIN_GUTTER, max_crossing_share=OCR_MAX_CROSSING_SHARE
    )
    if not regions:
        return _region_text(ordered)
    groups: list[list[OcrLine]] = [[] for _ in regions]
    for line in ordered:
        x = (line.box.left + line.box.right) / 2
        y = (line.box.bottom + line.box.top) / 2
        inside = [i for i, r in enumerate(regions) if r.left <= x <= r.right and r.bottom <= y <= r.top]
        groups[inside[0] if inside else _nearest(regions, x, y)].append(line)
    return "\n\n".join(text for text in (_region_text(g) for g in groups) if text)


def _nearest(regions: Sequence[Box], x: float, y: float) -> int:
    def distance(r: Box) -> float:
        dx = max(r.left - x, 0.0, x - r.right)
        dy = max(r.bottom - y, 0.0, y - r.top)
        return dx * dx + dy * dy

    return min(range(len(regions)), key=lambda i: distance(regions[i]))
