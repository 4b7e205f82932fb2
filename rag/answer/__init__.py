"""Answers: the pipeline (``pipeline``) and its stages: the context the model reads (``context``), the
grounded prompt (``prompting``), follow-up rewriting (``conversation``), citations, grounding, quotes of the
passages (``quote``), refusals, and the answer itself (``result``)."""
