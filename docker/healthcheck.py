#!/usr/bin/env python3
"""Container healthcheck: exit 0 when every URL given answers HTTP 2xx within 4 seconds, else 1.

Installed in the image as ``rag-healthcheck`` (the app image has Python but no curl):
``rag-healthcheck http://127.0.0.1:8501/_stcore/health``.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def healthy(url: str, timeout: float = 4.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URL
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: rag-healthcheck URL [URL...]", file=sys.stderr)
        return 2
    failing = [url for url in argv if not healthy(url)]
    for url in failing:
        print(f"unhealthy: {url}", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
