"""contracts/city and the city mock: the OpenAPI is valid and its examples validate; each
delivered event's detached JWS is checked against the gateway's JWKS (valid, tampered body,
unknown kid with refetch, wrong aud / mid / mty, bad alg, malformed); deduplication by
message id is exactly-once and visible in ``/_mock/state``; answers validate for every
outcome and fault mode; a real gateway envelope verifies (interop)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, Key, OKPKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mocks.city.app import CityMock
from mocks.city.signature import JwksUnavailable
from mocks.framework import FaultSpec, MockRequest, MockResponse, json_validator, schema_errors
from mocks.settings import MockSettings

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "city" / "openapi.yaml"


class _QuietRegistry(JWSRegistry):
    """EdDSA is the contract's choice: no per-call deprecation warning."""

    def get_alg(self, name: str) -> Any:
        return self.algorithms[name]


_SIGNING_REGISTRY = _QuietRegistry(
    header_registry={
        name: HeaderParameter(name, kind, True)
        for name, kind in (("iat", "int"), ("mid", "str"), ("mty", "str"), ("aud", "str"))
    },
    algorithms=["ES256", "EdDSA", "HS256"],
)
STATUS_EVENT = {
    "event": "city.dossier.status_changed",
    "receivedAt": "20241121090000",
    "status": {"MaHoSo": "000.00.00.H26-241120-0001", "TrangThaiHoSo": "4", "TrangThaiTruoc": "2"},
}
PAYMENT_EVENT = {
    "event": "city.payment.confirmed",
    "payment": {
        "MaHoSo": "000.00.00.H26-241120-0001",
        "MaThamChieu": "00000H262411200001241121090000",
        "SoTien": 75000,
        "MaTienTe": "VND",
        "MaGiaoDich": "PG20241121000123",
        "ThoiGianGD": "20241121085930",
    },
}
DOSSIER_EVENT = {
    "event": "city.dossier.submitted",
    "receivedAt": "20241121090000",
    "dossier": {
        "MaHoSo": "000.00.00.H26-241120-0002",
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": "2",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": "1",
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayTiepNhan": "20241120090000",
        "NgayHenTra": "20241125170000",
        "TrangThaiHoSo": "1",
        "HinhThuc": "0",
        "DonViXuLy": "UBND phường Dịch Vọng",
    },
}
EVENTS = {e["event"]: e for e in (STATUS_EVENT, PAYMENT_EVENT, DOSSIER_EVENT)}


class Gateway:
    """A stand-in signer written from the contract (two keys: ES256 and EdDSA)."""

    def __init__(self) -> None:
        self.keys: dict[str, Key] = {
            "k-es": ECKey.generate_key("P-256"),
            "k-ed": OKPKey.generate_key("Ed25519"),
        }

    def jwks(self, *kids: str) -> dict[str, Any]:
        entries = []
        for kid in kids or tuple(self.keys):
            public = self.keys[kid].as_dict(private=False)
            public.update({"kid": kid, "use": "sig"})
            entries.append(public)
        return {"keys": entries}

    def sign(
        self,
        body: bytes,
        *,
        kid: str = "k-es",
        alg: str | None = None,
        key: Key | None = None,
        **claims: Any,
    ) -> str:
        key = key or self.keys[kid]
        alg = alg or ("ES256" if key.key_type == "EC" else "EdDSA")
        header = {"alg": alg, "kid": kid, "iat": int(time.time()), **claims}
        token = jws.serialize_compact(
            header, body, key, algorithms=[alg], registry=_SIGNING_REGISTRY
        )
        protected, _, signature = token.split(".")
        return f"{protected}..{signature}"


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def mock(gateway: Gateway) -> CityMock:
    return CityMock(MockSettings(), jwks=gateway.jwks(), fetch_jwks=False)


def deliver(
    mock: CityMock,
    gateway: Gateway,
    event: dict[str, Any] | bytes,
    *,
    message_id: str | None = None,
    message_type: str | None = None,
    sign_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    **claims: Any,
) -> tuple[MockResponse, str]:
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    message_id = message_id or str(uuid.uuid4())
    message_type = message_type or (
        event["event"] if isinstance(event, dict) else "city.dossier.status_changed"
    )
    signed_claims = {"mid": message_id, "mty": message_type, "aud": "city", **claims}
    kid = signed_claims.pop("kid", "k-es")
    values = {
        "content-type": "application/json",
        "x-message-id": message_id,
        "x-message-type": message_type,
        "x-correlation-id": "corr-1",
        "x-jws": gateway.sign(
            sign_body if sign_body is not None else body, kid=kid, **signed_claims
        ),
        **(headers or {}),
    }
    values = {k: v for k, v in values.items() if v != ""}
    return mock.handle(MockRequest("POST", "/events", headers=values, body=body)), message_id


def _validator(name: str) -> Any:
    return json_validator("city/openapi.yaml", f"/components/schemas/{name}")


def assert_answer_valid(response: MockResponse) -> dict[str, Any]:
    body: dict[str, Any] = response.json_body()
    if response.status == 202:
        assert schema_errors(_validator("EventAccepted"), body) == []
    elif response.status == 200:
        assert schema_errors(_validator("EventDuplicate"), body) == []
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert schema_errors(_validator("Problem"), body) == []
        assert body["status"] == response.status
    return body


# -- the contract ------------------------------------------------------------------------
def test_openapi_is_valid_and_examples_validate() -> None:
    spec, base = read_from_filename(str(CONTRACT))
    validate(spec, base_uri=base)
    operation = spec["paths"]["/events"]["post"]
    for example in operation["requestBody"]["content"]["application/json"]["examples"].values():
        name = {
            "city.dossier.status_changed": "StatusChangedEvent",
            "city.payment.confirmed": "PaymentConfirmedEvent",
        }[example["value"]["event"]]
        assert schema_errors(_validator(name), example["value"]) == []
    assert (
        schema_errors(
            _validator("EventAccepted"),
            operation["responses"]["202"]["content"]["application/json"]["example"],
        )
        == []
    )
    assert (
        schema_errors(
            _validator("EventDuplicate"),
            operation["responses"]["200"]["content"]["application/json"]["example"],
        )
        == []
    )
    problem = spec["components"]["responses"]["Problem"]["content"]["application/problem+json"][
        "example"
    ]
    assert schema_errors(_validator("Problem"), problem) == []
    assert schema_errors(_validator("DossierSubmittedEvent"), DOSSIER_EVENT) == []


# -- signatures ----------------------------------------------------------------------------
@pytest.mark.parametrize("event_type", sorted(EVENTS))
@pytest.mark.parametrize("kid", ["k-es", "k-ed"])
def test_valid_events_are_accepted(
    mock: CityMock, gateway: Gateway, event_type: str, kid: str
) -> None:
    response, message_id = deliver(mock, gateway, EVENTS[event_type], kid=kid)
    assert response.status == 202, response.body
    assert assert_answer_valid(response)["messageId"] == message_id
    assert mock.deliveries(message_id) == 1


def _refusal(response: MockResponse, status: int, reason: str) -> None:
    assert response.status == status, response.body
    assert assert_answer_valid(response)["reason"] == reason


def test_tampered_body_is_refused(mock: CityMock, gateway: Gateway) -> None:
    signed = json.dumps(STATUS_EVENT).encode()
    tampered = signed.replace(b'"4"', b'"9"')
    response, message_id = deliver(mock, gateway, tampered, sign_body=signed)
    _refusal(response, 401, "bad_signature")
    assert mock.deliveries(message_id) == 0


@pytest.mark.parametrize(
    "claims,reason",
    [
        ({"aud": "portal"}, "recipient_mismatch"),
        ({"mid": "00000000-0000-0000-0000-000000000000"}, "message_id_mismatch"),
        ({"mty": "city.payment.confirmed"}, "type_mismatch"),
        ({"kid": "k-unknown"}, "unknown_kid"),
    ],
)
def test_signature_not_binding_these_headers_is_refused(
    mock: CityMock, gateway: Gateway, claims: dict[str, str], reason: str
) -> None:
    if claims.get("kid") == "k-unknown":
        gateway.keys["k-unknown"] = ECKey.generate_key("P-256")
    response, _ = deliver(mock, gateway, STATUS_EVENT, **claims)
    _refusal(response, 401, reason)


def test_wrong_algorithms_are_refused(mock: CityMock, gateway: Gateway) -> None:
    body = json.dumps(STATUS_EVENT).encode()
    # HS256 with the public key bytes as secret: the classic confusion attack
    secret = gateway.keys["k-es"].as_dict(private=False)["x"]
    from joserfc.jwk import OctKey

    response, _ = deliver(mock, gateway, body, alg="HS256", key=OctKey.import_key(secret))
    _refusal(response, 401, "alg_not_allowed")
    response, _ = deliver(mock, gateway, body, kid="k-es", alg="EdDSA", key=gateway.keys["k-ed"])
    _refusal(response, 401, "alg_not_allowed")


@pytest.mark.parametrize(
    "jws_value",
    [
        "not-a-jws",
        "a.b.c",
        base64.urlsafe_b64encode(b'{"alg":"ES256"}').decode().rstrip("=") + "..c2ln",
        "!!..!!",
    ],
)
def test_malformed_signatures_are_refused(mock: CityMock, gateway: Gateway, jws_value: str) -> None:
    response, _ = deliver(mock, gateway, STATUS_EVENT, headers={"x-jws": jws_value})
    _refusal(response, 401, "malformed_signature")


def test_unknown_kid_triggers_one_refetch_of_the_jwks(gateway: Gateway) -> None:
    published = {"jwks": gateway.jwks("k-es")}
    fetches: list[int] = []

    def fetch() -> dict[str, Any]:
        fetches.append(1)
        return published["jwks"]

    mock = CityMock(MockSettings(), fetch_jwks=fetch, jwks_refetch_interval=0.0)
    assert deliver(mock, gateway, STATUS_EVENT, kid="k-es")[0].status == 202
    assert len(fetches) == 1  # lazily fetched once, then cached
    assert deliver(mock, gateway, PAYMENT_EVENT, kid="k-es")[0].status == 202
    assert len(fetches) == 1
    published["jwks"] = gateway.jwks("k-es", "k-ed")  # the gateway rotated in a new key
    assert deliver(mock, gateway, DOSSIER_EVENT, kid="k-ed")[0].status == 202
    assert len(fetches) == 2


def test_unreachable_jwks_is_503_so_the_gateway_retries(gateway: Gateway) -> None:
    mock = CityMock(MockSettings(gateway_url="http://127.0.0.1:9"))  # nothing listens there
    response, _ = deliver(mock, gateway, STATUS_EVENT)
    _refusal(response, 503, "unavailable")

    def fail() -> dict[str, Any]:
        raise JwksUnavailable("cannot fetch")

    response, _ = deliver(CityMock(MockSettings(), fetch_jwks=fail), gateway, STATUS_EVENT)
    _refusal(response, 503, "unavailable")


def test_unknown_kid_right_after_a_fetch_is_retried_not_parked(gateway: Gateway) -> None:
    mock = CityMock(
        MockSettings(), fetch_jwks=lambda: gateway.jwks("k-es"), jwks_refetch_interval=60
    )
    assert deliver(mock, gateway, STATUS_EVENT)[0].status == 202
    gateway.keys["k-new"] = ECKey.generate_key("P-256")
    response, _ = deliver(mock, gateway, STATUS_EVENT, kid="k-new")
    _refusal(response, 503, "unavailable")


# -- exactly once ------------------------------------------------------------------------
def test_duplicates_are_a_counted_success(mock: CityMock, gateway: Gateway) -> None:
    message_id = str(uuid.uuid4())
    first, _ = deliver(mock, gateway, STATUS_EVENT, message_id=message_id)
    second, _ = deliver(mock, gateway, STATUS_EVENT, message_id=message_id)
    third, _ = deliver(mock, gateway, STATUS_EVENT, message_id=message_id)
    assert (first.status, second.status, third.status) == (202, 200, 200)
    duplicate = assert_answer_valid(third)
    assert duplicate == {
        **duplicate,
        "status": "duplicate",
        "messageId": message_id,
        "deliveries": 3,
    }
    state = mock.handle(MockRequest("GET", "/_mock/state")).json_body()
    assert state["accepted"] == 1 and state["duplicates"] == 2
    assert state["deliveries"] == {message_id: 3}
    assert state["events"][0]["event"] == STATUS_EVENT and state["events"][0]["kid"] == "k-es"


def test_same_message_id_with_another_body_is_409(mock: CityMock, gateway: Gateway) -> None:
    message_id = str(uuid.uuid4())
    assert deliver(mock, gateway, STATUS_EVENT, message_id=message_id)[0].status == 202
    other = {**STATUS_EVENT, "status": {**STATUS_EVENT["status"], "TrangThaiHoSo": "9"}}
    response, _ = deliver(mock, gateway, other, message_id=message_id)
    _refusal(response, 409, "message_id_reused")
    assert mock.deliveries(message_id) == 1


def test_refused_delivery_is_not_stored_and_reset_forgets(mock: CityMock, gateway: Gateway) -> None:
    message_id = str(uuid.uuid4())
    bad = {**STATUS_EVENT, "status": {"MaHoSo": "x"}}
    assert deliver(mock, gateway, bad, message_id=message_id)[0].status == 400
    assert deliver(mock, gateway, STATUS_EVENT, message_id=message_id)[0].status == 202
    mock.handle(MockRequest("POST", "/_mock/reset"))
    assert mock.events() == [] and mock.deliveries(message_id) == 0


# -- bad events (400) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "change,reason",
    [
        ({"headers": {"x-message-id": ""}}, "missing_header"),
        ({"headers": {"x-correlation-id": ""}}, "missing_header"),
        ({"message_id": "NOT-A-UUID"}, "invalid_header"),
        ({"message_type": "city.unknown"}, "invalid_header"),
        ({"event": b"{not json"}, "not_json"),
        ({"headers": {"content-type": "text/plain"}}, "not_json"),
        (
            {
                "event": {
                    **STATUS_EVENT,
                    "status": {"MaHoSo": "000.00.00.H26-241120-0001", "TrangThaiHoSo": "11"},
                }
            },
            "invalid_event",
        ),
        ({"event": {**STATUS_EVENT, "extra": 1}}, "invalid_event"),
        (
            {
                "event": {
                    **DOSSIER_EVENT,
                    "dossier": {**DOSSIER_EVENT["dossier"], "TrangThaiHoSo": "2"},
                }
            },
            "invalid_event",
        ),
        (
            {"event": PAYMENT_EVENT, "message_type": "city.dossier.status_changed"},
            "event_type_mismatch",
        ),
    ],
)
def test_bad_events_are_refused_with_400(
    mock: CityMock, gateway: Gateway, change: dict[str, Any], reason: str
) -> None:
    event = change.pop("event", STATUS_EVENT)
    response, _ = deliver(mock, gateway, event, **change)
    _refusal(response, 400, reason)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"status": 500}, 500),
        ({"status": 503}, 503),
        ({"error_rate": 1.0}, 500),
        ({"latency_ms": 5}, 202),
    ],
)
def test_answers_validate_under_every_fault_mode(
    mock: CityMock, gateway: Gateway, fault: dict[str, Any], status: int
) -> None:
    mock.add_fault(FaultSpec(route="POST /events", count=1, **fault))
    response, message_id = deliver(mock, gateway, STATUS_EVENT)
    assert response.status == status
    assert_answer_valid(response)
    assert mock.deliveries(message_id) == (1 if status == 202 else 0)


# -- interop with the gateway's own signer --------------------------------------------------
@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_a_real_gateway_envelope_verifies(tmp_path: Path, algorithm: str) -> None:
    envelope_module = pytest.importorskip("gateway.envelope")
    keys_module = pytest.importorskip("gateway.keys")
    store = keys_module.KeyStore.ensure(tmp_path, algorithm, timedelta(days=30))
    signer = envelope_module.EnvelopeSigner(store)
    body = json.dumps(PAYMENT_EVENT, ensure_ascii=False, separators=(",", ":")).encode()
    envelope = signer.sign(
        message_id=str(uuid.uuid4()),
        type="city.payment.confirmed",
        recipient="city",
        body=body,
        correlation_id="corr-interop",
    )
    mock = CityMock(MockSettings(), jwks=store.public_jwks(), fetch_jwks=False)
    headers = {
        "content-type": "application/json",
        "x-message-id": envelope.message_id,
        "x-message-type": envelope.type,
        "x-correlation-id": envelope.correlation_id,
        "x-jws": envelope.jws,
    }
    response = mock.handle(MockRequest("POST", "/events", headers=headers, body=envelope.body))
    assert response.status == 202, response.body
