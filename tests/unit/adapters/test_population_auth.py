"""Population authentication: the direct digest agrees with the service's, tokens cached."""

from __future__ import annotations

import base64
import json

import pytest
import responses

from adapters.http import HttpConfig, PartnerHttp
from adapters.population.auth import TokenProvider, direct_headers, endpoint_url
from gateway.domain.errors import UpstreamMalformed, UpstreamRejected
from gateway.testing.recorders import ListRecorder
from mocks.population.auth import digest as service_digest  # written independently


def test_direct_headers_carry_the_digest_the_service_expects() -> None:
    headers = direct_headers(
        "https://dancu.test:8443/ws?x=1",
        username="demo",
        secret="s3",
        now_ms=1732000000123,
        api_key="K",
        xroad_client="VN/GOV/X/Y",
    )
    user, _, given = (
        base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode().partition(":")
    )
    assert user == "demo"
    assert given == service_digest("https://dancu.test:8443/ws", "demo", "1732000000123", "s3")
    assert (
        headers["Timestamp"],
        headers["ApiKey"],
        headers["X-Road-Client"],
        headers["SOAPAction"],
    ) == ("1732000000123", "K", "VN/GOV/X/Y", '""')
    assert endpoint_url("https://a.test/p?q#f") == "https://a.test/p"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@responses.activate
def test_token_is_cached_until_shortly_before_expiry() -> None:
    responses.add(
        "POST",
        "https://lgsp.test/token",
        json={"access_token": "t1", "token_type": "Bearer", "expires_in": 100},
    )
    responses.add(
        "POST",
        "https://lgsp.test/token",
        json={"access_token": "t2", "token_type": "bearer", "expires_in": 100},
    )
    clock = Clock()
    recorder = ListRecorder()
    provider = TokenProvider(
        PartnerHttp(HttpConfig("population", "https://lgsp.test/ws"), recorder),
        "https://lgsp.test/token",
        "id",
        "secret",
        margin=30,
        clock=clock,
    )
    assert provider.token() == "t1"
    clock.now = 69
    assert provider.token() == "t1"
    clock.now = 70
    assert provider.token() == "t2"
    provider.invalidate()
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"id:secret").decode()
    assert (
        request.body == "grant_type=client_credentials"
        or request.body == b"grant_type=client_credentials"
    )
    assert recorder.exchanges == []  # token answers never reach the evidence log


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"error": "invalid_client"}, UpstreamRejected, r"HTTP 401, invalid_client"),
        (
            200,
            {"access_token": "", "token_type": "Bearer", "expires_in": 5},
            UpstreamMalformed,
            "no access_token",
        ),
        (
            200,
            {"access_token": "t", "token_type": "mac", "expires_in": 5},
            UpstreamMalformed,
            "not Bearer",
        ),
        (
            200,
            {"access_token": "t", "token_type": "Bearer", "expires_in": "5"},
            UpstreamMalformed,
            "expires_in",
        ),
        (200, [], UpstreamMalformed, "not a JSON object"),
    ],
)
def test_bad_token_answers(status: int, body: object, error: type[Exception], message: str) -> None:
    responses.add("POST", "https://lgsp.test/token", body=json.dumps(body), status=status)
    provider = TokenProvider(
        PartnerHttp(HttpConfig("population", "https://lgsp.test/ws"), ListRecorder()),
        "https://lgsp.test/token",
        "id",
        "secret",
    )
    with pytest.raises(error, match=message) as caught:
        provider.token()
    assert "secret" not in str(caught.value)
