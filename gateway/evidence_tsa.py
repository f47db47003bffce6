"""The time-stamping authority client: RFC 3161 over HTTP (the :class:`TimeStamper` port).

What it is for: :class:`gateway.store.evidence.EvidenceLog` asks it for a token on each
checkpoint (see :mod:`gateway.store.timestamps` for what is stamped and how tokens are
checked). Built by the composition root from ``evidence.tsa_url`` and
``evidence.tsa_certificate``.

Rules:
- One POST per token: ``Content-Type: application/timestamp-query``, a DER TimeStampReq
  (SHA-256 imprint, a random nonce, ``certReq`` true, built with ``rfc3161-client``);
  the answer must be ``200 application/timestamp-reply``.
- The answer is checked before it is returned: granted, the nonce and imprint of the
  request, and the signature offline against the configured certificate bundle. A
  token that does not verify is never stored.
- Every failure raises an :class:`~gateway.domain.errors.UpstreamError`: timeouts and
  connection errors, 5xx and a certificate file not readable yet (read after the first
  answer: the demo's mock TSA writes it when it first answers) are ``UpstreamUnavailable``/``UpstreamTimeout``; a refusal
  or a token that does not verify is ``UpstreamRejected``/``UpstreamMalformed``. The
  caller decides when to try again; this client never retries by itself.
- Exchanges with the TSA are not written to the evidence log (the token is the record).
"""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from rfc3161_client import HashAlgorithm, PKIStatus, TimestampRequestBuilder
from rfc3161_client import decode_timestamp_response as decode

from gateway.domain.errors import (
    ConfigError,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.store.evidence_format import sha256_hex
from gateway.store.timestamps import TokenInvalid, TsaTrust, verify_token

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"
MAX_REPLY_BYTES = 256 * 1024


class HttpTimeStamper:
    """An RFC 3161 TSA reached over HTTP(S); see the module rules."""

    def __init__(
        self,
        url: str,
        certificate: Path,
        *,
        timeout_seconds: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError("evidence.tsa_url: must start with http:// or https://")
        self.name = url
        self._url = url
        self._certificate = certificate
        self._timeout = timeout_seconds
        self._session = session or requests.Session()
        self._trust: TsaTrust | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpTimeStamper({self._url!r})"

    def trust(self) -> TsaTrust:
        with self._lock:
            if self._trust is None:
                try:
                    self._trust = TsaTrust.from_file(self._certificate)
                except ConfigError as error:
                    raise UpstreamUnavailable("tsa", f"{error}") from None
            return self._trust

    def stamp(self, message: bytes) -> bytes:
        """The DER TimeStampResp for ``message`` (its SHA-256 is what the TSA sees)."""
        request = (
            TimestampRequestBuilder()
            .data(message)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        try:
            answer = self._session.post(
                self._url,
                data=request.as_bytes(),
                headers={"Content-Type": QUERY, "Accept": REPLY},
                timeout=(self._timeout, self._timeout),
            )
        except requests.Timeout:
            raise UpstreamTimeout(
                "tsa", f"no answer from {self._url} in {self._timeout} s"
            ) from None
        except requests.RequestException as error:
            raise UpstreamUnavailable("tsa", f"{self._url}: {type(error).__name__}") from None
        if answer.status_code >= 500:
            raise UpstreamUnavailable("tsa", f"{self._url} answered {answer.status_code}")
        content_type = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if answer.status_code != 200 or content_type != REPLY:
            raise UpstreamRejected(
                "tsa", f"{self._url} answered {answer.status_code} {content_type or '(no type)'}"
            )
        token = answer.content
        if len(token) > MAX_REPLY_BYTES:
            raise UpstreamMalformed("tsa", f"reply of {len(token)} bytes is too large")
        try:
            response = decode(token)
        except ValueError as error:
            raise UpstreamMalformed("tsa", f"not a TimeStampResp ({error})") from None
        if PKIStatus(response.status) != PKIStatus.GRANTED:
            said = "; ".join(response.status_string) or "no reason given"
            raise UpstreamRejected("tsa", f"refused ({PKIStatus(response.status).name}: {said})")
        if response.tst_info.nonce != request.nonce:
            raise UpstreamMalformed("tsa", "the token's nonce is not the request's")
        try:
            verify_token(token, sha256_hex(message), self.trust())
        except TokenInvalid as error:
            raise UpstreamMalformed("tsa", f"token does not verify ({error})") from None
        return token
