"""JSON as bytes, written one way everywhere: compact, UTF-8, non-ASCII kept.

Rules: ``compact_json`` is what the gateway signs, stores, sends and answers (no spaces,
keys in the order given); ``canonical_json`` also sorts keys, for what is hashed and
must come out the same whoever writes it (evidence records and checkpoints). Both refuse
what JSON cannot hold (``TypeError``/``ValueError`` from :func:`json.dumps`).
(``gateway/ops/bundle_verify.py`` keeps its own copy on purpose: it runs without the
gateway.)
"""

from __future__ import annotations

import json
from typing import Any


def compact_json(document: Any) -> bytes:
    """``document`` as compact UTF-8 JSON (no spaces, non-ASCII kept)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    """As :func:`compact_json`, keys sorted: the same bytes for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
