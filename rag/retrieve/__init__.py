"""Retrieval: keyword and dense candidates (``retriever``), their fusion (``fusion``), cross-encoder
reranking (``rerank``)."""
