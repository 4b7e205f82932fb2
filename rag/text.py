"""Text facts shared by PDF cleaning (ingest) and evidence matching (evaluation)."""

from __future__ import annotations

# Typographic ligatures pdfium returns as single characters, and the letters they stand for.
LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}
