"""Indexing: the catalog (the truth), the keyword and vector stores, the embedding models, and the write
order that keeps them consistent (``stores``)."""
