"""Making a partner's free text safe to quote in an error or a log line.

Rule: partners echo identifiers in their messages (``MoTaLoi``, ``faultstring``); runs of
six or more digits are masked and the text is shortened before it is quoted.
"""

from __future__ import annotations

import re

_LONG_DIGITS = re.compile(r"\d{6,}")


def mask_text(text: str, limit: int = 160) -> str:
    """A partner's free text made safe for an error: digit runs masked, shortened."""
    masked = _LONG_DIGITS.sub(lambda m: m.group(0)[:2] + "*" * (len(m.group(0)) - 2), text)
    masked = " ".join(masked.split())
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
