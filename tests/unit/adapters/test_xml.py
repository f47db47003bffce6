"""Hardened XML: XXE and billion-laughs answers refused fast, reading no file, memory flat;
SOAP Faults classified; zeep confined to local contracts."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import responses
import zeep.exceptions
import zeep.loader
from lxml import etree
from zeep.exceptions import DTDForbidden

from adapters import xml as hardened
from adapters._breaker import CircuitBreaker, CircuitOpen
from adapters.http import HttpAnswer, HttpConfig, PartnerHttp
from adapters.population import wire as population_wire
from adapters.population.client import PopulationClient, PopulationConfig
from adapters.population.records import BirthDate, CitizenQuery
from adapters.population.wire import LOOKUP
from adapters.xml import (
    PartnerTransport,
    SoapCaller,
    find_fault,
    parse_answer,
    raise_for_fault,
    soap_body,
    zeep_settings,
)
from gateway.domain.errors import (
    ConfigError,
    ContractViolation,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamUnavailable,
)
from gateway.testing.recorders import ListRecorder

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL = Path("contracts/population/dancu.wsdl")
MARKER = "TOP-SECRET-MARKER-7f3a"


def xxe_document(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY xxe SYSTEM "file://{target}">]>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><x>&xxe;</x></s:Body></s:Envelope>'
    ).encode()


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(entities)}]>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><x>&lol9;</x></s:Body></s:Envelope>'
    ).encode()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    target = tmp_path / "secret.txt"
    target.write_text(MARKER)
    return target


def test_xxe_answer_is_refused_fast(secret_file: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(
        UpstreamMalformed, match="population: TraCuu: XML answer carries a DTD or entity: refused"
    ):
        parse_answer(xxe_document(secret_file), partner="population", operation="TraCuu")
    assert time.perf_counter() - started < 0.05


def test_the_parser_itself_never_reads_the_file(secret_file: Path) -> None:
    # Below the pre-scan, the parser too refuses to resolve: defence in depth.
    root = etree.fromstring(xxe_document(secret_file), parser=hardened._parser())
    assert MARKER not in etree.tostring(root).decode()


def test_utf16_doctype_is_caught_too(secret_file: Path) -> None:
    with pytest.raises(UpstreamMalformed, match="DTD"):
        parse_answer(
            xxe_document(secret_file).decode().encode("utf-16"), partner="p", operation="o"
        )


def test_billion_laughs_is_refused_fast_with_flat_memory() -> None:
    document = billion_laughs()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(UpstreamMalformed, match="DTD"):
            parse_answer(document, partner="population", operation="TraCuu")
        # and the parser alone does not expand it either (libxml2 refuses the amplification)
        with pytest.raises(etree.XMLSyntaxError, match="amplification"):
            etree.fromstring(document, parser=hardened._parser())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.2
    assert peak < 2 * 1024 * 1024  # expanded, it would be ~3 GB


def test_zeep_settings_forbid_dtds_on_zeeps_own_parsing(secret_file: Path) -> None:
    settings = zeep_settings()
    assert (
        settings.strict,
        settings.xml_huge_tree,
        settings.forbid_dtd,
        settings.forbid_entities,
        settings.forbid_external,
    ) == (
        True,
        False,
        True,
        True,
        True,
    )
    with pytest.raises(DTDForbidden):
        zeep.loader.parse_xml(xxe_document(secret_file), None, settings=settings)


@responses.activate
def test_a_client_refuses_an_xxe_answer_end_to_end(secret_file: Path) -> None:
    url = "https://population.test/ws"
    responses.add("POST", url, body=xxe_document(secret_file), content_type="text/xml")
    config = PopulationConfig(HttpConfig("population", url), str(WSDL), "direct", "demo", "s")
    client = PopulationClient(config, ListRecorder())
    query = CitizenQuery(
        "r1", "2.000815.01", "CB1", "Nguyễn Văn An", BirthDate(1990, 1, 2), id_number="001090001234"
    )
    with pytest.raises(UpstreamMalformed, match="DTD") as caught:
        client.lookup(query)
    assert MARKER not in str(caught.value)


def test_malformed_and_foreign_answers() -> None:
    with pytest.raises(UpstreamMalformed, match=r"not well-formed \(.*line 1\)"):
        parse_answer(b"<a><b></a>", partner="p", operation="o")
    with pytest.raises(UpstreamMalformed, match="over the 10-byte limit"):
        parse_answer(b"<a>0123456789</a>", partner="p", operation="o", max_bytes=10)
    with pytest.raises(UpstreamMalformed, match=r"not a SOAP 1\.1 Envelope"):
        soap_body(etree.fromstring(b"<html/>"), partner="p", operation="o")
    with pytest.raises(UpstreamMalformed, match="no Body"):
        soap_body(
            etree.fromstring(f'<s:Envelope xmlns:s="{SOAP}"/>'.encode()), partner="p", operation="o"
        )


def fault(code: str, text: str) -> bytes:
    return (
        f'<e:Envelope xmlns:e="{SOAP}"><e:Body><e:Fault><faultcode>e:{code}</faultcode>'
        f"<faultstring>{text}</faultstring></e:Fault></e:Body></e:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("Client", UpstreamRejected),
        ("Client.Validation", UpstreamRejected),
        ("Server", UpstreamUnavailable),
        ("Server.Busy", UpstreamUnavailable),
    ],
)
def test_soap_faults_are_classified_and_quoted_without_numbers(
    code: str, error: type[Exception]
) -> None:
    envelope = parse_answer(
        fault(code, "SoDinhDanh 001203001234 invalid"), partner="population", operation="TraCuu"
    )
    found = find_fault(soap_body(envelope, partner="population", operation="TraCuu"))
    assert found is not None and found.code == code
    with pytest.raises(
        error, match=f"population: TraCuu: SOAP Fault {code}: SoDinhDanh 00\\*+ invalid"
    ) as caught:
        raise_for_fault(found, partner="population", operation="TraCuu")
    assert "001203001234" not in str(caught.value)


def test_wsdl_comes_from_disk_only() -> None:
    http = PartnerHttp(HttpConfig("population", "https://population.test/ws"), ListRecorder())
    transport = PartnerTransport(http)
    assert transport.operation_timeout == (3.0, 10.0) and transport.load_timeout == 13.0
    with pytest.raises(ConfigError, match="must come from contracts/"):
        transport.load("http://evil.test/x.xsd")
    assert transport.load(str(WSDL.resolve())).startswith(b"<?xml")
    with pytest.raises(ConfigError, match="not found"):
        SoapCaller(http, Path("contracts/population/missing.wsdl"))


def test_a_request_that_does_not_fit_the_wsdl_is_refused_before_sending() -> None:
    http = PartnerHttp(HttpConfig("population", "https://population.test/ws"), ListRecorder())
    caller = SoapCaller(http, WSDL)
    with pytest.raises(
        ContractViolation, match="TraCuuThongTinCongDan: request does not fit the WSDL"
    ):
        caller.build("TraCuuThongTinCongDan", {"NoSuchField": "1"})


@responses.activate
def test_zeep_service_calls_go_through_partner_http() -> None:
    from adapters.xml import load_wsdl
    from mocks.population import soap as deployed
    from mocks.population.seed import generate_population

    url = "https://population.test/ws"
    citizen = generate_population(size=4).citizens[0]
    responses.add("POST", url, body=deployed.render_collection([citizen]), content_type="text/xml")
    responses.add("POST", url, body=b"<x/>" + b" " * 5000, content_type="text/xml")
    recorder = ListRecorder()
    http = PartnerHttp(HttpConfig("population", url, max_answer_bytes=4000), recorder)
    client = load_wsdl(http, WSDL)
    service = client.create_service("{http://dancuquocgia.bca/wsdl}DanCuSoapBinding", url)
    params = {
        "MaYeuCau": "r1", "MaDVC": "2.000815.01", "MaTichHop": "037", "MaCanBo": "CB1",
        "SoDinhDanh": citizen.id_number, "HoVaTen": citizen.full_name,
        "NgayThangNamSinh": {"NgayThangNam": "19900102"},
    }  # fmt: skip
    found = service.TraCuuThongTinCongDan(**params)
    assert found[0].SoDinhDanh == citizen.id_number
    assert responses.calls[0].request.req_kwargs["timeout"] == (3.0, 10.0)  # type: ignore[attr-defined]
    assert [e.direction for e in recorder.exchanges] == ["out", "in"]
    with pytest.raises(UpstreamMalformed, match="over the 4000-byte limit"):
        service.TraCuuThongTinCongDan(**params)


# -- the breaker hears the fault, not the status (issue 11) ------------------------------

POPULATION_URL = "https://population.test/ws"
QUERY = CitizenQuery(
    "r1", "2.000815.01", "CB1", "Nguyễn Văn An", BirthDate(1990, 1, 2), id_number="001090001234"
)
EMPTY_COLLECTION = (
    f'<e:Envelope xmlns:e="{SOAP}"><e:Body>'
    '<CongdanCollection xmlns="http://www.mic.gov.vn/dancu/1.0"/></e:Body></e:Envelope>'
).encode()


@pytest.mark.parametrize(
    ("status", "body", "down"),
    [
        (200, EMPTY_COLLECTION, False),
        (200, fault("Server", "busy"), True),
        (500, fault("Server", "busy"), True),
        (500, fault("Server.Busy", "busy"), True),
        (500, fault("Client", "bad"), False),
        (500, fault("Client.Validation", "MaDVC"), False),
        (401, fault("Client.Authentication", "wrong digest"), False),
        (503, fault("Client", "bad"), False),
        (500, b"", True),
        (500, b"<html>Internal Server Error</html>", True),
        (502, b"Fault", True),
        (401, b"", False),
    ],
)
def test_soap_partner_down_reads_the_fault_not_the_status(
    status: int, body: bytes, down: bool
) -> None:
    assert hardened.soap_partner_down(HttpAnswer(status, {}, body)) is down


def population(threshold: int, breaker: CircuitBreaker | None = None) -> PopulationClient:
    http_config = HttpConfig(
        "population", POPULATION_URL, failure_threshold=threshold, reset_after=60
    )
    http = PartnerHttp(http_config, ListRecorder(), breaker=breaker, sleep=lambda _: None)
    config = PopulationConfig(http_config, str(WSDL), "direct", "demo", "s")
    return PopulationClient(config, ListRecorder(), http=http)


def soap_call(client: PopulationClient) -> object:
    """The same lookup through SoapCaller.call (the generic path) instead of the client."""
    return client.soap.call(LOOKUP, population_wire.request_params(QUERY, LOOKUP))


CALLS = {
    "population-client": lambda client: client.lookup(QUERY),
    "soap-caller": soap_call,
    "zeep-service": lambda client: client.soap.client.create_service(
        "{http://dancuquocgia.bca/wsdl}DanCuSoapBinding", POPULATION_URL
    ).TraCuuThongTinCongDan(**population_wire.request_params(QUERY, LOOKUP)),
}


@responses.activate
@pytest.mark.parametrize("path", sorted(CALLS))
def test_server_faults_on_http_500_open_the_circuit(path: str) -> None:
    responses.add("POST", POPULATION_URL, status=500, body=fault("Server", "database down"))
    client = population(threshold=2)
    for _ in range(2):
        with pytest.raises((UpstreamUnavailable, zeep.exceptions.Fault)) as caught:
            CALLS[path](client)
        assert not isinstance(caught.value, CircuitOpen)
    assert client.breaker.state == "open"
    with pytest.raises(CircuitOpen):
        CALLS[path](client)
    assert len(responses.calls) == 2  # refused without calling: an expected 500 is not retried


@responses.activate
@pytest.mark.parametrize("path", sorted(CALLS))
def test_a_client_fault_is_rejected_and_keeps_the_link_up(path: str) -> None:
    responses.add("POST", POPULATION_URL, status=500, body=fault("Client.Validation", "MaDVC"))
    client = population(threshold=1)
    for _ in range(3):
        with pytest.raises((UpstreamRejected, zeep.exceptions.Fault)) as caught:
            CALLS[path](client)
        if isinstance(caught.value, UpstreamRejected):
            assert not caught.value.transient
    assert client.breaker.snapshot().consecutive_failures == 0
    assert client.breaker.state == "closed"
    assert len(responses.calls) == 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error", "state"),
    [
        (500, fault("Server", "down"), UpstreamUnavailable, "open"),
        (500, b"<html>Internal Server Error</html>", UpstreamUnavailable, "open"),
        (500, b"", UpstreamUnavailable, "open"),
        (500, fault("Client", "bad request"), UpstreamRejected, "closed"),
        (200, b"not xml", UpstreamMalformed, "closed"),
    ],
    ids=["server-fault", "not-a-fault", "empty", "client-fault", "malformed-200"],
)
def test_a_half_open_trial_is_settled_by_the_soap_answer(
    status: int, body: bytes, error: type[Exception], state: str
) -> None:
    responses.add("POST", POPULATION_URL, status=status, body=body)
    clock = Clock()
    breaker = CircuitBreaker("population", failure_threshold=3, reset_after=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    client = population(threshold=3, breaker=breaker)
    with pytest.raises(error):
        client.lookup(QUERY)
    assert breaker.state == state  # settled once: a 500 is never a success then a failure
    if state == "open":
        with pytest.raises(CircuitOpen):
            client.lookup(QUERY)
    else:
        breaker.before_call()  # no trial left in flight
        breaker.release()
    assert len(responses.calls) == 1
