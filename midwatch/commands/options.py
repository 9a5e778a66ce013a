"""Value checks for options several commands share, so each refuses a bad value with the
same words at parse time instead of a library traceback half-way through its work."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit


def es_url(text: str) -> str:
    """``--es``: an http(s) URL with a host. The search clients raise a bare ValueError
    deep inside (``demo`` printed a traceback) for ``127.0.0.1:9200``, the usual slip."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL, e.g. http://127.0.0.1:9200, got {text!r}")
    return text
