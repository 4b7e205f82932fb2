"""OCR benchmark: pages that HAVE a text layer are rendered to pictures, read by OCR, and compared with the text
layer. Prints the character error rate (CER) for English and for Chinese pages, word recall, and pages/s.

    python bench/ocr.py [--engine rapidocr|tesseract] [--dpi 200] [--english 6] [--chinese 6]

- Pages: the English and Chinese pages with the most text of ../shared/corpus and ../shared/corpus2 (evenly
  spread over the documents, the same pages every run).
- Both sides go through the product's cleaning (``ingest.cleaning.clean_page``). CER: edit distance between
  the OCR'd text and the text layer over the text layer's length, whitespace collapsed (English) or removed
  (Chinese, where spacing is not text). Word recall: the share of the text layer's words (Chinese: characters)
  that the OCR'd text has in the same order (longest common subsequence). Reading-order differences count
  as errors in both, so figures and two-column pages cost something even when every word was read.
- ``rapidocr`` is the product's engine (``ingest.ocr``, reading order included); ``tesseract`` runs Debian's
  ``tesseract`` command (``-l eng`` on English pages, ``-l chi_sim+eng`` on Chinese ones: told the language,
  which the product could not be) on the same pictures, for comparison.
- pages/s: rendering and OCR of one page after another, with the threads the engine uses by default (all cores).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.cleaning import clean_page  # noqa: E402
from ingest.layout import Box  # noqa: E402
from ingest.ocr import OcrConfig, RapidOcrEngine, lines_to_text  # noqa: E402
from ingest.pdf_reader import ocr_page_lines, read_pdf, render_page  # noqa: E402
from ingest.text_quality import script_counts  # noqa: E402

SHARED = ROOT.parent / "shared"
ENGLISH_MIN_LETTERS = 1500
CHINESE_MIN_CJK = 300


# ------------------------------------------------------------------------------------------ metrics (pure)
def normalize(text: str, chinese: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text) if chinese else " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row at a time (insertions along a row by a running minimum)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1)
    row = offsets.copy()
    for i, ch in enumerate(a, start=1):
        substitute = row[:-1] + (codes_b != ord(ch))
        delete = row[1:] + 1
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(substitute, delete)
        row = np.minimum.accumulate(best - offsets) + offsets  # insertions: row[j] <= row[j-1] + 1
    return int(row[-1])


def cer(ocr: str, reference: str) -> float:
    return edit_distance(ocr, reference) / max(1, len(reference))


def tokens(text: str, chinese: bool) -> list[str]:
    """Words (lower-case); CJK characters one by one."""
    text = unicodedata.normalize("NFKC", text).lower()
    if chinese:
        return re.findall(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z0-9]+", text)
    return re.findall(r"[a-z0-9]+", text)


def common_in_order(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (numpy rows)."""
    if not a or not b:
        return 0
    vocabulary = {t: i for i, t in enumerate(dict.fromkeys(a + b))}
    codes_b = np.array([vocabulary[t] for t in b])
    row = np.zeros(len(b) + 1, dtype=np.int64)
    for token in a:
        match = codes_b == vocabulary[token]
        candidate = np.maximum(row[1:], row[:-1] + match)
        row = np.concatenate(([0], np.maximum.accumulate(candidate)))
    return int(row[-1])


def word_recall(ocr: str, reference: str, chinese: bool) -> float:
    ref = tokens(reference, chinese)
    return common_in_order(ref, tokens(ocr, chinese)) / max(1, len(ref))


# ------------------------------------------------------------------------------------------ pages
@dataclass(frozen=True)
class Sample:
    path: Path
    number: int  # 1-based
    chinese: bool
    reference: str


def pick_pages(folders: list[Path], english: int, chinese: int) -> list[Sample]:
    """The pages with the most text, spread over the documents: per language, documents in name order, each
    contributing its pages in turn (round robin) until there are enough."""
    pools: dict[bool, list[list[Sample]]] = {False: [], True: []}
    for folder in folders:
        for path in sorted(folder.glob("*.pdf")):
            try:
                document = read_pdf(path)
            except Exception:  # scanned or broken: nothing to compare with
                continue
            per_language: dict[bool, list[tuple[int, Sample]]] = {False: [], True: []}
            for page in document.pages:
                counts = script_counts(page.text)
                cjk, latin = counts.get("cjk", 0), counts.get("latin", 0)
                if cjk >= CHINESE_MIN_CJK and cjk > latin / 4:
                    per_language[True].append((cjk, Sample(path, page.number, True, page.text)))
                elif latin >= ENGLISH_MIN_LETTERS and cjk == 0:
                    per_language[False].append((latin, Sample(path, page.number, False, page.text)))
            for is_chinese, found in per_language.items():
                if found:
                    found.sort(key=lambda item: (-item[0], item[1].number))
                    pools[is_chinese].append([sample for _, sample in found])
    chosen: list[Sample] = []
    for is_chinese, wanted in ((False, english), (True, chinese)):
        pool, picked, turn = pools[is_chinese], [], 0
        while len(picked) < wanted and any(pool):
            documents = [d for d in pool if d]
            document = documents[turn % len(documents)]
            picked.append(document.pop(len(document) // 2))  # a middle page of its best ones: body text
            turn += 1
        chosen.extend(picked)
    return chosen


# ------------------------------------------------------------------------------------------ engines
def ocr_rapidocr(engine: RapidOcrEngine, config: OcrConfig, page: pdfium.PdfPage, chinese: bool) -> str:
    return lines_to_text(ocr_page_lines(page, engine, config), Box(*page.get_bbox()))


def ocr_tesseract(config: OcrConfig, page: pdfium.PdfPage, chinese: bool) -> str:
    from PIL import Image

    image = render_page(page, config.dpi)
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "page.png"
        Image.fromarray(image[:, :, ::-1]).save(png, dpi=(config.dpi, config.dpi))
        result = subprocess.run(
            ["tesseract", str(png), "stdout", "-l", "chi_sim+eng" if chinese else "eng"],
            capture_output=True, text=True, check=True,
        )
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="rapidocr", choices=["rapidocr", "tesseract"])
    parser.add_argument("--dpi", type=int, default=OcrConfig().dpi)
    parser.add_argument("--english", type=int, default=6, help="English pages")
    parser.add_argument("--chinese", type=int, default=6, help="Chinese pages")
    parser.add_argument("--show", action="store_true", help="print each page's OCR'd text")
    args = parser.parse_args()

    folders = [SHARED / "corpus", SHARED / "corpus2"]
    if not all(f.is_dir() for f in folders):
        sys.exit(f"needs {folders[0]} and {folders[1]}")
    if args.engine == "tesseract" and shutil.which("tesseract") is None:
        sys.exit("tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-chi-sim)")
    config = OcrConfig(dpi=args.dpi)
    engine = RapidOcrEngine(config)
    samples = pick_pages(folders, args.english, args.chinese)

    started = time.perf_counter()
    if args.engine == "rapidocr":
        engine.read(np.full((64, 256, 3), 255, dtype=np.uint8))  # load the models before timing
    load = time.perf_counter() - started
    rows = []
    for sample in samples:
        pdf = pdfium.PdfDocument(str(sample.path))
        page = pdf[sample.number - 1]
        try:
            started = time.perf_counter()
            if args.engine == "rapidocr":
                text = ocr_rapidocr(engine, config, page, sample.chinese)
            else:
                text = ocr_tesseract(config, page, sample.chinese)
            seconds = time.perf_counter() - started
        finally:
            page.close()
            pdf.close()
        text = clean_page(text)
        ocr_n, ref_n = normalize(text, sample.chinese), normalize(sample.reference, sample.chinese)
        rows.append((sample, cer(ocr_n, ref_n), word_recall(text, sample.reference, sample.chinese), seconds))
        language = "zh" if sample.chinese else "en"
        print(f"{language}  {sample.path.name[:44]:44s} p.{sample.number:<4d} CER {rows[-1][1]:6.1%}  "
              f"word recall {rows[-1][2]:6.1%}  {seconds:5.1f} s", flush=True)
        if args.show:
            print(text, "\n" + "-" * 80)

    print(f"\nengine {args.engine}, {args.dpi} dpi" + (f", models loaded in {load:.1f} s" if args.engine == "rapidocr" else ""))
    for chinese, name in ((False, "English"), (True, "Chinese")):
        part = [r for r in rows if r[0].chinese == chinese]
        if part:
            print(f"{name:8s} {len(part)} pages: CER {np.mean([r[1] for r in part]):.1%} (median "
                  f"{np.median([r[1] for r in part]):.1%}), word recall {np.mean([r[2] for r in part]):.1%}")
    total = sum(r[3] for r in rows)
    print(f"speed    {len(rows)} pages in {total:.1f} s: {len(rows) / total:.2f} pages/s ({total / len(rows):.1f} s a page)")


if __name__ == "__main__":
    main()
