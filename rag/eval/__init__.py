"""Retrieval evaluation: question files (``questions``), pure metrics (``metrics``), running them over a
retriever and fitting the relevance gate on the outcomes (``run``)."""
