"""Grounded question answering over your own PDFs: the shared library."""

__version__ = "0.1.0"
