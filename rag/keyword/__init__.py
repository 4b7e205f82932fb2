"""Keyword (BM25) indexes behind one interface: SQLite FTS5 (embedded) or Elasticsearch."""

from rag.keyword.base import KeywordIndex, open_keyword_index

__all__ = ["KeywordIndex", "open_keyword_index"]
