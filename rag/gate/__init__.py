"""The relevance gate: do the top passages hold enough evidence to answer? Decided in code, before any model.

- ``features``: the signals one question's retrieval gives (pure);
- ``model``: the logistic models and their calibration file (``calibration.json`` ships beside it);
- ``decide``: applying a calibration to one search result (answerable or not, and why);
- ``fit``: fitting a calibration on labelled questions (``rag eval --calibrate``).
"""
