"""Ingestion: read PDFs into clean page texts, cut them into token-budgeted chunks, and store them.

- ``pdf_reader``: a PDF file -> ``rag.types.ParsedDocument`` (pypdfium2; one-line ``DocumentError`` on bad input).
- ``layout``: reading order of two-column pages from text boxes (pure geometry).
- ``cleaning``: pure text clean-up (hyphens, ligatures, whitespace, running headers and footers).
- ``chunking``: sentence-aware, token-budgeted chunks with page spans and exact character offsets.
"""
