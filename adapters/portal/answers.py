"""The portal's answer codes and how each is classified (both bindings share them).

Every portal service answers ``error_code`` (text) and ``message`` (openapi.yaml, portal.xsd):

    00 success
    01 session missing/expired (REST: log in again once, retry; still 01 -> transient)
    02 request violates the contract   -> PortalRejected (permanent)
    03 unknown service                 -> PortalRejected (permanent)
    04 madonvi not permitted           -> PortalRejected (permanent)
    05 dossier not found               -> "not found" to the caller that asked (TraCuuHoSo),
                                          PortalRejected otherwise
    06 dossier already exists          -> PortalRejected (the sync retries once, flipped)
    07 illegal status transition       -> PortalRejected (permanent)
    08 procedure not found             -> NotFound (LayThuTuc)
    99 internal error ("try later")    -> UpstreamUnavailable (transient)
    anything else, or no error_code    -> UpstreamMalformed (permanent)

Rules: the portal's ``message`` may echo identifiers or names: it is quoted shortened, with
long digit runs masked and quoted values withheld. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import UpstreamMalformed, UpstreamRejected, UpstreamUnavailable

PARTNER = "portal"
OK = "00"
SESSION_REFUSED = "01"
NOT_FOUND = "05"
ALREADY_EXISTS = "06"
PROCEDURE_NOT_FOUND = "08"
TRY_LATER = "99"
MEANINGS = {
    "00": "success",
    "01": "session missing, unknown or expired",
    "02": "request violates the contract",
    "03": "unknown service",
    "04": "madonvi not permitted for this account",
    "05": "dossier not found",
    "06": "dossier already exists",
    "07": "illegal status transition",
    "08": "procedure not found",
    "99": "internal error",
}
_LONG_DIGITS = re.compile(r"\d{9,}")
_QUOTED = re.compile(r"'[^']{1,500}'|\"[^\"]{1,500}\"")


class PortalRejected(UpstreamRejected):
    """The portal refused the request with a business ``error_code`` (permanent)."""

    def __init__(self, portal_code: str, detail: str) -> None:
        super().__init__(PARTNER, detail)
        self.portal_code = portal_code


@dataclass(frozen=True)
class PortalAnswer:
    """A portal answer reduced to what both bindings carry."""

    error_code: str
    message: str
    result: Any = None  # list or object, per service; None when absent

    @property
    def ok(self) -> bool:
        return self.error_code == OK


def safe_message(message: str, limit: int = 200) -> str:
    """The portal's message made fit for an error text: quoted values (a contract error
    echoes the value it refused, maybe a name) withheld, digit runs masked, shortened."""
    masked = _QUOTED.sub("'…'", message)
    masked = _LONG_DIGITS.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 3), masked)
    masked = " ".join(masked.split())
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def read_answer(data: object, service: str) -> PortalAnswer:
    """Check the envelope of an answer (``error_code`` text, ``message`` text)."""
    if not isinstance(data, Mapping):
        raise UpstreamMalformed(PARTNER, f"{service}: answer is not a JSON object")
    code = data.get("error_code")
    if not isinstance(code, str) or code not in MEANINGS:
        raise UpstreamMalformed(
            PARTNER, f"{service}: answer error_code {code!r} is not one of the contract's codes"
        )
    message = data.get("message", "")
    if not isinstance(message, str):
        raise UpstreamMalformed(PARTNER, f"{service}: answer message is not text")
    return PortalAnswer(code, message, data.get("result"))


def refusal(answer: PortalAnswer, service: str) -> Exception:
    """The error for a non-success answer (see the module table)."""
    code = answer.error_code
    detail = f"{service}: error_code {code} ({MEANINGS[code]}): {safe_message(answer.message)}"
    if code in (TRY_LATER, SESSION_REFUSED):
        return UpstreamUnavailable(PARTNER, detail)
    return PortalRejected(code, detail)
