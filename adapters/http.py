"""The HTTP plumbing every partner client shares: session, limits, breaker, evidence.

One :class:`PartnerHttp` per partner wraps a ``requests.Session`` built by
:func:`build_session` from that partner's :class:`HttpConfig`. Every call goes through
:meth:`PartnerHttp.send`, which applies the rules below, so no client can forget one.

Rules:
- TLS from configuration: ``ca_bundle`` is the only trust store used (``trust_env`` is
  off, so ``REQUESTS_CA_BUNDLE``/``.netrc`` cannot change it), ``client_cert`` +
  ``client_key`` are presented. ``http://`` is refused unless ``allow_plain_http`` is
  explicitly true (the mocks); redirects are never followed.
- Every call has a connect and a read timeout, and the whole answer must arrive within
  ``total_timeout``; answers are streamed and refused past ``max_answer_bytes`` (counted
  after decompression, so a gzip bomb is refused too).
- Retries only when the caller says the call is an idempotent read (``idempotent=True``,
  the synchronous lookups), only for transient failures, at most ``read_retries`` more
  times with a short exponential backoff. Never through an open circuit.
- Classification into :mod:`gateway.domain.errors`: timeout -> ``UpstreamTimeout``;
  connection error, 5xx, 429, open circuit -> ``UpstreamUnavailable``; other statuses
  the caller did not ``expect`` -> ``UpstreamRejected`` (4xx) or ``UpstreamMalformed``;
  oversized answer -> ``UpstreamMalformed``. Messages name the partner, the operation
  and what happened; never a body, never personal data.
- The breaker hears what failed: timeouts, connection errors and 5xx/429 answers are
  failures; 4xx refusals and malformed answers are successes (the link is up). An answer
  whose status is in ``expect`` is returned to the caller, and ``partner_down(answer)``
  settles the breaker (default :func:`status_means_down`: 5xx and 429 mean down), so a
  caller that reads the body (SOAP: ``Client`` vs ``Server`` fault, see
  :func:`adapters.xml.soap_partner_down`) decides, not the status alone. Every attempt
  the breaker lets through is settled exactly once (success, failure or release).
- Every request and every answer is handed to the :class:`ExchangeRecorder` with the
  call's correlation id, message id and dossier code; ``personal`` marks bodies that
  carry personal data (population).
- Every call (retries included) is reported once to the :class:`CallObserver` with its
  outcome (``ok``, ``timeout``, ``unavailable``, ``rejected``, ``malformed``,
  ``circuit_open``, or ``error`` for anything unexpected) and its duration; the default
  observer does nothing, and an observer that fails never fails the call. This module
  knows nothing of Prometheus (``gateway.metrics`` implements the observer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from adapters._breaker import BreakerSnapshot, BreakerState, CircuitBreaker, CircuitOpen
from adapters._observer import CallObserver, CallOutcome, NoCallObserver, call_outcome
from gateway.domain.errors import (
    ConfigError,
    UpstreamError,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.domain.exchange import Exchange, ExchangeRecorder

__all__ = [
    "NO_CONTEXT",
    "BreakerSnapshot",
    "BreakerState",
    "CallContext",
    "CallObserver",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitOpen",
    "HttpAnswer",
    "HttpConfig",
    "NoCallObserver",
    "PartnerDown",
    "PartnerHttp",
    "build_session",
    "status_means_down",
]

USER_AGENT = "tthc-gateway"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpConfig:
    """One partner's connection settings (filled by the composition root)."""

    partner: str
    base_url: str
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    total_timeout: float | None = None  # default: connect_timeout + read_timeout
    max_answer_bytes: int = 4 * 1024 * 1024
    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""
    allow_plain_http: bool = False
    proxy: str = ""
    failure_threshold: int = 5
    reset_after: float = 10.0
    read_retries: int = 2
    retry_backoff: float = 0.2

    @property
    def deadline(self) -> float:
        return self.total_timeout or (self.connect_timeout + self.read_timeout)


@dataclass(frozen=True)
class CallContext:
    """What ties a call to its message in the evidence log."""

    correlation_id: str = ""
    message_id: str = ""
    dossier_code: str = ""


NO_CONTEXT = CallContext()


@dataclass(frozen=True)
class HttpAnswer:
    """A partner's complete answer (status, lower-case headers, body within the cap)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


PartnerDown = Callable[[HttpAnswer], bool]  # does this expected answer mean "partner down"?


def status_means_down(answer: HttpAnswer) -> bool:
    """The default breaker rule for an answer: 5xx and 429 mean the partner is down."""
    return answer.status >= 500 or answer.status == 429


def check_url(config: HttpConfig, url: str) -> None:
    """Refuse a URL that is not https (or http with ``allow_plain_http``); ConfigError."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and config.allow_plain_http):
        return
    if scheme == "http":
        raise ConfigError(
            f"adapters.{config.partner}: plain http URL refused; set allow_plain_http "
            "explicitly (only for mocks)"
        )
    raise ConfigError(f"adapters.{config.partner}: URL scheme {scheme!r} is not http(s)")


def build_session(config: HttpConfig) -> requests.Session:
    """A ``requests.Session`` for one partner with its TLS material and no env influence."""
    check_url(config, config.base_url)
    if bool(config.client_cert) != bool(config.client_key):
        raise ConfigError(
            f"adapters.{config.partner}: client_cert and client_key must be given together"
        )
    session = requests.Session()
    session.trust_env = False
    session.verify = config.ca_bundle or True
    if config.client_cert:
        session.cert = (config.client_cert, config.client_key)
    if config.proxy:
        session.proxies = {"http": config.proxy, "https": config.proxy}
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _is_read_timeout(exc: BaseException) -> bool:
    """``iter_content`` wraps a read timeout in a ConnectionError: unwrap it."""
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, urllib3.exceptions.ReadTimeoutError)


class PartnerHttp:
    """The I/O core of one partner's client; see the module docstring."""

    def __init__(
        self,
        config: HttpConfig,
        recorder: ExchangeRecorder,
        *,
        session: requests.Session | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observer: CallObserver | None = None,
    ) -> None:
        self.config = config
        self.observer: CallObserver = observer or NoCallObserver()
        self.partner = config.partner
        self.recorder = recorder
        self.session = session if session is not None else build_session(config)
        self.breaker = breaker or CircuitBreaker(
            config.partner,
            failure_threshold=config.failure_threshold,
            reset_after=config.reset_after,
        )
        self._sleep = sleep

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path`` (an absolute URL is returned as is)."""
        if "://" in path:
            return path
        if not path:
            return self.config.base_url
        return self.config.base_url.rstrip("/") + "/" + path.lstrip("/")

    def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        context: CallContext = NO_CONTEXT,
        expect: Collection[int] = (200,),
        idempotent: bool = False,
        personal: bool = False,
        record: bool = True,
        partner_down: PartnerDown = status_means_down,
    ) -> HttpAnswer:
        """One call with the layer's rules; returns an answer whose status is in ``expect``.

        ``partner_down`` judges an expected answer for the breaker (True: count a failure).
        """
        started = time.monotonic()
        error: BaseException | None = None
        try:
            return self._send(
                method,
                path,
                operation,
                body,
                headers,
                context,
                expect,
                idempotent,
                personal,
                record,
                partner_down,
            )
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._observe(operation, call_outcome(error), time.monotonic() - started)

    def _observe(self, operation: str, outcome: CallOutcome, seconds: float) -> None:
        with contextlib.suppress(Exception):  # metrics must never fail a partner call
            self.observer.observe(self.partner, operation, outcome, seconds)

    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        body: bytes,
        headers: Mapping[str, str] | None,
        context: CallContext,
        expect: Collection[int],
        idempotent: bool,
        personal: bool,
        record: bool,
        partner_down: PartnerDown,
    ) -> HttpAnswer:
        url = self.url(path)
        check_url(self.config, url)
        attempts = 1 + (max(0, self.config.read_retries) if idempotent else 0)
        for attempt in range(attempts):
            self.breaker.before_call()  # an open circuit is never retried through
            try:
                answer = self._once(
                    method, url, operation, body, headers, context, personal, record
                )
            except (UpstreamTimeout, UpstreamUnavailable):
                self.breaker.record_failure()
                if attempt + 1 >= attempts:
                    raise
                self._sleep(self.config.retry_backoff * (2**attempt))
                continue
            except UpstreamError:
                self.breaker.record_success()  # the partner answered: the link is up
                raise
            except BaseException:
                self.breaker.release()
                raise
            if answer.status in expect:  # e.g. a SOAP Fault: the caller's rule settles it
                self._settle(answer, partner_down)
                return answer
            if status_means_down(answer):
                self.breaker.record_failure()
                if attempt + 1 >= attempts:
                    raise UpstreamUnavailable(
                        self.partner, f"{operation}: HTTP {answer.status} from the partner"
                    )
                self._sleep(self.config.retry_backoff * (2**attempt))
                continue
            self.breaker.record_success()
            if 400 <= answer.status < 500:
                raise UpstreamRejected(
                    self.partner, f"{operation}: refused with HTTP {answer.status}"
                )
            raise UpstreamMalformed(self.partner, f"{operation}: unexpected HTTP {answer.status}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, answer: HttpAnswer, partner_down: PartnerDown) -> None:
        """Settle the breaker for an expected answer; the status rule if the judge fails."""
        down = status_means_down(answer)
        try:
            down = partner_down(answer)
        finally:
            if down:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()

    def _once(
        self,
        method: str,
        url: str,
        operation: str,
        body: bytes,
        headers: Mapping[str, str] | None,
        context: CallContext,
        personal: bool,
        record: bool,
    ) -> HttpAnswer:
        if record:
            self._record(operation, "out", body, context, personal, None)
        config = self.config
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                data=body or None,
                headers=dict(headers or {}),
                timeout=(config.connect_timeout, config.read_timeout),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout as exc:
            raise UpstreamTimeout(
                self.partner, f"{operation}: no answer within {config.read_timeout} s"
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise UpstreamUnavailable(
                self.partner, f"{operation}: TLS handshake failed ({type(exc).__name__})"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise UpstreamUnavailable(
                self.partner, f"{operation}: connection failed ({type(exc).__name__})"
            ) from exc
        with response:
            content = self._read_capped(response, operation, started)
            answer = HttpAnswer(
                status=response.status_code,
                headers={key.lower(): value for key, value in response.headers.items()},
                body=content,
            )
        if record:
            self._record(operation, "in", content, context, personal, answer.status)
        return answer

    def _read_capped(self, response: requests.Response, operation: str, started: float) -> bytes:
        limit = self.config.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise UpstreamMalformed(
                self.partner,
                f"{operation}: answer declares {declared} bytes, over the {limit}-byte limit",
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UpstreamMalformed(
                        self.partner, f"{operation}: answer over the {limit}-byte limit"
                    )
                if time.monotonic() - started > self.config.deadline:
                    raise UpstreamTimeout(
                        self.partner,
                        f"{operation}: answer not complete within {self.config.deadline} s",
                    )
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            if _is_read_timeout(exc):
                raise UpstreamTimeout(
                    self.partner, f"{operation}: answer stalled past {self.config.read_timeout} s"
                ) from exc
            raise UpstreamUnavailable(
                self.partner, f"{operation}: connection lost while reading the answer"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise UpstreamMalformed(
                self.partner, f"{operation}: answer could not be decoded ({type(exc).__name__})"
            ) from exc
        return b"".join(chunks)

    def _record(
        self,
        operation: str,
        direction: str,
        body: bytes,
        context: CallContext,
        personal: bool,
        status: int | None,
    ) -> None:
        self.recorder.record(
            Exchange(
                partner=self.partner,
                operation=operation,
                direction="out" if direction == "out" else "in",
                body=body,
                correlation_id=context.correlation_id,
                message_id=context.message_id,
                dossier_code=context.dossier_code,
                personal=personal,
                status=status,
            )
        )
