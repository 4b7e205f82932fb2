"""Ingestion: read PDFs into clean page texts, cut them into token-budgeted chunks, and store them.

- ``pdf_reader``: a PDF file -> ``rag.types.ParsedDocument`` (pypdfium2; a one-line ``DocumentError``
  for every bad input), pages without a usable text layer read by OCR, and a ``ReadingReport``.
- ``text_quality``: is a text layer usable or garbled, and which scripts does a text use (pure).
- ``ocr``: the OCR engine (RapidOCR, packaged models) and OCR'd lines -> page text in reading order.
- ``layout``: reading order of two-column pages from pdfium's text boxes (pure geometry).
- ``cleaning``: pure text clean-up (hyphens, ligatures, whitespace, running headers and footers).
- ``chunking``: sentence-aware, token-budgeted chunks with page spans and exact character offsets.
- ``discover``, ``lock``, ``pipeline``: which files, one ingestion at a time, files -> every store.
- ``readers``: PDFs read a document or two ahead in a worker process (or in this one) for the pipeline.
- ``progress``: pages done of the pages known up front, pages/s and the time left (pure).
"""
