"""The time-stamping authority mock: RFC 3161 over HTTP, for the demo and the tests.

Served under ``/tsa`` (``mocks.server``): ``POST /tsa`` with a DER TimeStampReq
(``Content-Type: application/timestamp-query``) answers ``200`` with a DER
TimeStampResp (``application/timestamp-reply``), granted or rejected as
:mod:`mocks.tsa.token` says. ``GET /tsa/certificate`` gives the PEM bundle (the TSA
certificate and its root) for convenience; a careful verifier is given the bundle out of
band (the demo configuration points at the file the mock writes).

Rules:
- Another content type is ``415``; an empty body is a ``badRequest`` rejection.
- The key and certificates come from ``MockSettings.tsa_directory`` (made on first use,
  see :mod:`mocks.tsa.certs`), or are injected (tests).
- ``GET /_mock/state`` lists the tokens issued (serial, imprint, time); faults (``POST
  /_mock/faults`` with ``"POST /"``, ``error_rate``, ``timeout``) make the TSA "down".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mocks.framework import MockRequest, MockResponse, PartnerMock
from mocks.settings import MockSettings
from mocks.tsa.certs import TsaIdentity, load_or_create
from mocks.tsa.token import issue, rejection

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"


class TsaMock(PartnerMock):
    """An RFC 3161 time-stamping authority."""

    name = "tsa"

    def __init__(
        self,
        settings: MockSettings | None = None,
        *,
        identity: TsaIdentity | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or MockSettings()
        self._identity = identity
        self._clock = clock or (lambda: datetime.now(UTC))
        self._serial = 0
        self._issued: list[dict[str, Any]] = []
        self.route("POST", "/", self.stamp)
        self.route("GET", "/certificate", self.certificate)

    @property
    def identity(self) -> TsaIdentity:
        """The key and certificates: injected, or loaded (made) on first use."""
        with self.lock:
            if self._identity is None:
                self._identity = load_or_create(Path(self.settings.tsa_directory))
            return self._identity

    @identity.setter
    def identity(self, value: TsaIdentity) -> None:
        with self.lock:
            self._identity = value

    def stamp(self, request: MockRequest) -> MockResponse:
        content_type = request.header("content-type").split(";")[0].strip().lower()
        if content_type != QUERY:
            return MockResponse.text(f"Content-Type must be {QUERY}", status=415)
        with self.lock:
            if not request.body:
                issued = rejection("badRequest", "empty request")
            else:
                self._serial += 1
                now = self._clock()
                issued = issue(self.identity, request.body, self._serial, now)
                if issued.granted:
                    self._issued.append(
                        {
                            "serial": issued.serial,
                            "imprint": issued.imprint_hex,
                            "at": now.isoformat(),
                        }
                    )
        return MockResponse(status=200, headers={"content-type": REPLY}, body=issued.response)

    def certificate(self, request: MockRequest) -> MockResponse:
        return MockResponse.text(
            self.identity.bundle_pem().decode("ascii"), content_type="application/x-pem-file"
        )

    def state(self) -> dict[str, Any]:
        return {"issued": list(self._issued), "count": len(self._issued)}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._issued.clear()


def create_mock(settings: MockSettings) -> TsaMock:
    return TsaMock(settings)
