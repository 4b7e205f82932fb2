"""Keyword (BM25) indexes behind one interface (``base``): SQLite FTS5 (embedded) or Elasticsearch; ``stats``:
term statistics (IDF)."""
