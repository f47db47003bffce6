"""PartnerHttp: TLS settings, timeouts, size cap, retries, classification, breaker, evidence."""

from __future__ import annotations

import contextlib
import gzip

import pytest
import requests
import responses

from adapters._breaker import CircuitBreaker, CircuitOpen
from adapters.http import (
    CallContext,
    HttpAnswer,
    HttpConfig,
    PartnerDown,
    PartnerHttp,
    build_session,
    status_means_down,
)
from gateway.domain.errors import (
    ConfigError,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.testing.recorders import ListRecorder

BASE = "https://partner.test/api"


def make(**overrides: object) -> tuple[PartnerHttp, ListRecorder]:
    settings: dict[str, object] = {
        "partner": "payment",
        "base_url": BASE,
        "max_answer_bytes": 1000,
        "retry_backoff": 0.0,
    }
    settings.update(overrides)
    recorder = ListRecorder()
    return PartnerHttp(HttpConfig(**settings), recorder, sleep=lambda _: None), recorder  # type: ignore[arg-type]


def test_session_carries_tls_material_and_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    config = HttpConfig(
        "population",
        BASE,
        ca_bundle="/etc/tthc/ca.pem",
        client_cert="/etc/tthc/c.pem",
        client_key="/etc/tthc/k.pem",
    )
    session = build_session(config)
    assert session.verify == "/etc/tthc/ca.pem"
    assert session.cert == ("/etc/tthc/c.pem", "/etc/tthc/k.pem")
    assert session.trust_env is False
    assert build_session(HttpConfig("x", BASE)).verify is True


def test_plain_http_only_when_explicitly_allowed() -> None:
    with pytest.raises(ConfigError, match=r"adapters\.city: plain http URL refused"):
        build_session(HttpConfig("city", "http://city.test"))
    build_session(HttpConfig("city", "http://city.test", allow_plain_http=True))
    http, _ = make()
    with pytest.raises(ConfigError, match="plain http"):
        http.send("GET", "http://elsewhere.test/x", operation="op")
    with pytest.raises(ConfigError, match="client_cert and client_key"):
        build_session(HttpConfig("x", BASE, client_cert="/c.pem"))


@responses.activate
def test_every_call_has_connect_and_read_timeouts_and_is_recorded() -> None:
    responses.add("POST", f"{BASE}/op", body=b'{"ok":1}')
    http, recorder = make(connect_timeout=1.5, read_timeout=4.0)
    answer = http.send(
        "POST",
        "/op",
        operation="INIT",
        body=b"{}",
        context=CallContext("c", "m", "d"),
        personal=True,
    )
    assert answer.body == b'{"ok":1}' and answer.status == 200
    assert responses.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)  # type: ignore[attr-defined]
    assert [
        (e.direction, e.body, e.status, e.personal, e.correlation_id, e.message_id, e.dossier_code)
        for e in recorder.exchanges
    ] == [
        ("out", b"{}", None, True, "c", "m", "d"),
        ("in", b'{"ok":1}', 200, True, "c", "m", "d"),
    ]


@responses.activate
def test_answers_over_the_cap_are_refused_declared_or_streamed() -> None:
    responses.add("GET", f"{BASE}/declared", body=b"x" * 2000)
    responses.add(
        "GET",
        f"{BASE}/gzip",
        body=gzip.compress(b"y" * 100_000),
        headers={"Content-Encoding": "gzip"},
    )
    http, _ = make()
    with pytest.raises(UpstreamMalformed, match=r"payment: op: answer .*over the 1000-byte limit"):
        http.send("GET", "/declared", operation="op")
    with pytest.raises(
        UpstreamMalformed, match="over the 1000-byte limit"
    ):  # a gzip bomb is counted decoded
        http.send("GET", "/gzip", operation="op")


@responses.activate
@pytest.mark.parametrize(
    ("effect", "error", "message"),
    [
        (
            requests.exceptions.ReadTimeout(),
            UpstreamTimeout,
            "payment: op: no answer within 10.0 s",
        ),
        (requests.exceptions.ConnectTimeout(), UpstreamTimeout, "no answer within"),
        (requests.exceptions.ConnectionError(), UpstreamUnavailable, "connection failed"),
        (requests.exceptions.SSLError(), UpstreamUnavailable, "TLS handshake failed"),
    ],
)
def test_transport_failures_are_classified(
    effect: Exception, error: type[Exception], message: str
) -> None:
    responses.add("POST", f"{BASE}/op", body=effect)
    http, _ = make()
    with pytest.raises(error, match=message):
        http.send("POST", "/op", operation="op")


@responses.activate
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, UpstreamUnavailable),
        (503, UpstreamUnavailable),
        (429, UpstreamUnavailable),
        (400, UpstreamRejected),
        (404, UpstreamRejected),
        (302, UpstreamMalformed),
    ],
)
def test_statuses_not_expected_are_classified(status: int, error: type[Exception]) -> None:
    responses.add("POST", f"{BASE}/op", status=status)
    http, _ = make()
    with pytest.raises(error, match=f"HTTP {status}"):
        http.send("POST", "/op", operation="op")


@responses.activate
def test_expected_error_statuses_are_returned_to_the_caller() -> None:
    responses.add("POST", f"{BASE}/soap", status=500, body=b"<fault/>")
    http, _ = make()
    assert http.send("POST", "/soap", operation="op", expect=(200, 500)).status == 500
    # returned, but a 5xx still means the partner is down unless the caller's judge says not
    assert http.breaker.snapshot().consecutive_failures == 1
    answer = http.send(
        "POST", "/soap", operation="op", expect=(200, 500), partner_down=lambda _: False
    )
    assert answer.status == 500 and http.breaker.snapshot().consecutive_failures == 0


@responses.activate
@pytest.mark.parametrize("expect", [(200,), (200, 500)], ids=["not-expected", "expected"])
def test_repeated_http_500_opens_the_circuit(expect: tuple[int, ...]) -> None:
    responses.add("POST", f"{BASE}/op", status=500)
    http, _ = make(failure_threshold=3, reset_after=60)
    for _ in range(3):
        try:
            http.send("POST", "/op", operation="op", expect=expect)
        except UpstreamUnavailable as exc:
            assert not isinstance(exc, CircuitOpen)
    assert http.breaker.state == "open"
    with pytest.raises(CircuitOpen):
        http.send("POST", "/op", operation="op", expect=expect)
    assert len(responses.calls) == 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def half_open(threshold: int = 3) -> tuple[PartnerHttp, Clock]:
    """A PartnerHttp whose circuit is half-open: the next call is the trial."""
    clock = Clock()
    breaker = CircuitBreaker("payment", failure_threshold=threshold, reset_after=10, clock=clock)
    for _ in range(threshold):
        breaker.record_failure()
    clock.now += 10
    assert breaker.state == "half_open"
    config = HttpConfig("payment", BASE, max_answer_bytes=1000, retry_backoff=0.0)
    return PartnerHttp(config, ListRecorder(), breaker=breaker, sleep=lambda _: None), clock


@responses.activate
@pytest.mark.parametrize("expect", [(200,), (200, 500)], ids=["not-expected", "expected"])
def test_a_500_during_half_open_reopens_the_circuit(expect: tuple[int, ...]) -> None:
    responses.add("POST", f"{BASE}/op", status=500)
    http, clock = half_open()
    with contextlib.suppress(UpstreamUnavailable):
        http.send("POST", "/op", operation="op", expect=expect)
    assert http.breaker.state == "open"  # one failed trial is enough, whatever the threshold
    with pytest.raises(CircuitOpen):
        http.send("POST", "/op", operation="op", expect=expect)
    assert len(responses.calls) == 1
    clock.now += 10
    assert http.breaker.snapshot().state == "half_open"


def judge_fails(_: HttpAnswer) -> bool:
    raise RuntimeError("judge broke")


# (name, what the partner does, expect, partner_down, error raised, breaker state after)
TRIAL_OUTCOMES: list[
    tuple[
        str,
        int | bytes | Exception,
        tuple[int, ...],
        PartnerDown,
        type[BaseException] | None,
        str,
    ]
] = [
    ("ok", 200, (200,), status_means_down, None, "closed"),
    ("refused", 400, (200,), status_means_down, UpstreamRejected, "closed"),
    ("refusal-expected", 409, (200, 409), status_means_down, None, "closed"),
    ("redirect", 302, (200,), status_means_down, UpstreamMalformed, "closed"),
    ("server-error", 503, (200,), status_means_down, UpstreamUnavailable, "open"),
    ("too-many", 429, (200,), status_means_down, UpstreamUnavailable, "open"),
    ("expected-500", 500, (200, 500), status_means_down, None, "open"),
    ("expected-500-judged-up", 500, (200, 500), lambda _: False, None, "closed"),
    ("expected-200-judged-down", 200, (200,), lambda _: True, None, "open"),
    ("judge-raises-on-500", 500, (200, 500), judge_fails, RuntimeError, "open"),
    ("judge-raises-on-200", 200, (200,), judge_fails, RuntimeError, "closed"),
    (
        "timeout",
        requests.exceptions.ReadTimeout(),
        (200,),
        status_means_down,
        UpstreamTimeout,
        "open",
    ),
    ("oversized", b"x" * 2000, (200,), status_means_down, UpstreamMalformed, "closed"),
    (
        "unexpected-error",
        RuntimeError("boom"),
        (200,),
        status_means_down,
        RuntimeError,
        "half_open",
    ),
]


@responses.activate
@pytest.mark.parametrize(
    ("effect", "expect", "judge", "error", "state"),
    [case[1:] for case in TRIAL_OUTCOMES],
    ids=[str(case[0]) for case in TRIAL_OUTCOMES],
)
def test_a_half_open_trial_is_never_left_in_flight(
    effect: int | bytes | Exception,
    expect: tuple[int, ...],
    judge: PartnerDown,
    error: type[BaseException] | None,
    state: str,
) -> None:
    if isinstance(effect, int):
        responses.add("POST", f"{BASE}/op", status=effect)
    else:
        responses.add("POST", f"{BASE}/op", body=effect)
    http, _ = half_open()
    with pytest.raises(error) if error else contextlib.nullcontext():
        http.send("POST", "/op", operation="op", expect=expect, partner_down=judge)
    assert http.breaker.state == state
    # the next call is let through or refused exactly as the state says, never stuck
    if state == "open":
        with pytest.raises(CircuitOpen):
            http.breaker.before_call()
    else:
        http.breaker.before_call()
        http.breaker.release()


@responses.activate
def test_only_idempotent_reads_are_retried_and_boundedly() -> None:
    responses.add("POST", f"{BASE}/read", status=503)
    responses.add("POST", f"{BASE}/read", status=503)
    responses.add("POST", f"{BASE}/read", body=b"ok")
    responses.add("POST", f"{BASE}/write", status=503)
    http, _ = make(read_retries=2)
    assert http.send("POST", "/read", operation="QUERY", idempotent=True).body == b"ok"
    assert len(responses.calls) == 3
    with pytest.raises(UpstreamUnavailable):
        http.send("POST", "/write", operation="INIT")
    assert len(responses.calls) == 4


@responses.activate
def test_retries_stop_at_the_bound() -> None:
    responses.add("GET", f"{BASE}/down", body=requests.exceptions.ConnectionError())
    http, _ = make(read_retries=2, failure_threshold=50)
    with pytest.raises(UpstreamUnavailable):
        http.send("GET", "/down", operation="op", idempotent=True)
    assert len(responses.calls) == 3


@responses.activate
def test_open_circuit_refuses_without_calling_and_is_not_retried() -> None:
    responses.add("GET", f"{BASE}/down", status=502)
    http, _ = make(failure_threshold=2, read_retries=5, reset_after=60)
    with pytest.raises(CircuitOpen):
        http.send("GET", "/down", operation="op", idempotent=True)
    assert len(responses.calls) == 2
    with pytest.raises(CircuitOpen, match="payment: circuit open"):
        http.send("GET", "/down", operation="op")
    assert len(responses.calls) == 2
    assert http.breaker.snapshot().state == "open"


@responses.activate
def test_rejections_and_malformed_answers_do_not_open_the_circuit() -> None:
    responses.add("POST", f"{BASE}/op", status=400)
    http, _ = make(failure_threshold=1)
    for _ in range(3):
        with pytest.raises(UpstreamRejected):
            http.send("POST", "/op", operation="op")
    assert http.breaker.state == "closed"


def test_injected_breaker_is_used() -> None:
    breaker = CircuitBreaker("payment", failure_threshold=1, reset_after=1)
    http = PartnerHttp(HttpConfig("payment", BASE), ListRecorder(), breaker=breaker)
    assert http.breaker is breaker
    assert (
        http.url("x") == f"{BASE}/x"
        and http.url("") == BASE
        and http.url("https://o.test/y") == "https://o.test/y"
    )


def test_a_partner_answer_nested_too_deep_is_malformed_never_a_recursion_error() -> None:
    """An adapter reading a JSON answer refuses a 200 KB [[[...]]] as malformed."""
    from adapters.payment import wire
    from gateway.domain.errors import UpstreamMalformed

    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(UpstreamMalformed) as refused:
        wire._answer(deep, "INIT", "/components/schemas/InitAnswer")
    assert refused.value.partner == wire.PARTNER
