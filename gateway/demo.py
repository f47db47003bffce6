"""``tthc-gateway demo``: drive flows 1–6 through a running stack and say what happened.

Rules:
- It talks to the gateway only through its public HTTP API with the demo keys, and to
  the mocks only through their control API (``/_mock/*``), like an integrator would.
- Every step checks an outcome it can observe (the portal mock holds the dossier at
  status 10, the city mock received the payment event exactly once, ...); a step that
  cannot show its outcome within its deadline fails, and the command exits non-zero.
- Request bodies come from the examples in ``contracts/gateway/openapi.yaml`` with fresh
  dossier codes, so the demo exercises the same shapes the contract documents.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from gateway.domain.time_zone import VIETNAM

#: the gateway's own contract, read from the checkout like an integrator reads it (the demo
#: drives the stack from outside: it imports nothing of the composition root)
GATEWAY_OPENAPI = Path(__file__).resolve().parent.parent / "contracts" / "gateway" / "openapi.yaml"


class StepFailed(Exception):
    pass


@dataclass
class Step:
    flow: str
    name: str
    partner: str
    outcome: str = "ok"
    seconds: float = 0.0
    message_id: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _spec_examples() -> dict[str, Any]:
    spec = yaml.safe_load(GATEWAY_OPENAPI.read_text("utf-8"))
    paths = spec["paths"]

    def example(path: str) -> Any:
        content = paths[path]["post"]["requestBody"]["content"]["application/json"]
        if "example" in content:
            return content["example"]
        ref = next(iter(content["examples"].values()))["$ref"].rsplit("/", 1)[-1]
        return spec["components"]["examples"][ref]["value"]

    return {
        "dossier": example("/v1/dossiers"),
        "progress": example("/v1/dossiers/{dossierCode}/progress"),
        "payment": example("/v1/payments"),
    }


def _now() -> str:
    return datetime.now(VIETNAM).strftime("%Y%m%d%H%M%S")


@dataclass
class Demo:
    gateway_url: str = "http://127.0.0.1:8080"
    mocks_url: str = "http://127.0.0.1:8090"
    city_key: str = "demo-city-key"
    agency_code: str = "000.00.00.H26"
    deadline_seconds: float = 30.0
    steps: list[Step] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)

    # -- plumbing -------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        headers = {"X-API-Key": self.city_key, "X-Correlation-ID": f"demo-{uuid.uuid4().hex[:12]}"}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = self.session.request(
            method, self.gateway_url + path, json=body, headers=headers, timeout=30
        )
        if response.status_code != expect:
            raise StepFailed(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        if response.headers.get("content-type", "").startswith("application/pdf"):
            return response.content
        return response.json() if response.content else None

    def mock(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self.mocks_url + path, json=body, timeout=30)
        if response.status_code >= 300:
            raise StepFailed(
                f"mock {method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return response.json()

    def wait(self, what: str, probe: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.deadline_seconds
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise StepFailed(f"{what}: not seen within {self.deadline_seconds:.0f} s")
            time.sleep(0.2)

    def delivered(self, message_id: str) -> dict[str, Any]:
        def probe() -> Any:
            status = self.api("GET", f"/v1/messages/{message_id}")
            if status["status"] in ("parked", "failed"):
                raise StepFailed(
                    f"message {message_id} {status['status']}: {status.get('lastError', '')}"
                )
            return status if status["status"] == "delivered" else None

        return dict(self.wait(f"message {message_id} delivered", probe))

    def step(self, flow: str, name: str, partner: str, action: Callable[[], str | None]) -> None:
        started = time.perf_counter()
        step = Step(flow, name, partner)
        try:
            step.message_id = action() or ""
        except (StepFailed, requests.RequestException, KeyError, ValueError) as error:
            step.outcome = f"FAILED: {error}"
        step.seconds = time.perf_counter() - started
        self.steps.append(step)

    def new_dossier_code(self) -> str:
        today = datetime.now(VIETNAM).strftime("%y%m%d")
        return f"{self.agency_code}-{today}-{random.randint(10000, 99999)}"

    # -- the flows ------------------------------------------------------------------------

    def run(self) -> list[Step]:
        examples = _spec_examples()
        self.flow_citizens()
        self.flow_portal_push()
        self.flow_city_sync(examples)
        self.flow_payment(examples)
        self.flow_documents()
        self.flow_procedures()
        return self.steps

    def flow_citizens(self) -> None:
        citizen = next(
            c
            for c in self.mock("GET", "/population/_mock/state")["citizens"]
            if c["SoDinhDanh"].startswith("001")
        )
        birth = citizen["NgayThangNamSinh"]
        query = {
            "SoDinhDanh": citizen["SoDinhDanh"],
            "HoVaTen": citizen["HoVaTen"],
            "NgayThangNamSinh": birth.get("NgayThangNam") or birth["Nam"],
            "MaCanBo": "demo-officer",
        }

        def lookup() -> None:
            answer = self.api("POST", "/v1/citizens/lookup", query)
            if not answer["found"] or answer["CongDan"]["SoDinhDanh"] != query["SoDinhDanh"]:
                raise StepFailed("the seeded citizen was not found")

        def verify() -> None:
            if not self.api("POST", "/v1/citizens/verify", query)["match"]:
                raise StepFailed("the seeded citizen's data did not verify")
            wrong = {**query, "HoVaTen": query["HoVaTen"] + " Sai"}
            if self.api("POST", "/v1/citizens/verify", wrong)["match"]:
                raise StepFailed("a wrong name verified")

        self.step("1 citizens", "look up a citizen (CCCD)", "population", lookup)
        self.step("1 citizens", "verify matching and wrong data", "population", verify)

    def flow_portal_push(self) -> None:
        def push() -> str:
            pushed = self.mock("POST", "/portal/_mock/push", {})
            message_id = str(pushed["answer"]["messageId"])
            self.wait(
                "city received the dossier",
                lambda: self.mock("GET", "/city/_mock/state")["deliveries"].get(message_id) == 1,
            )
            return message_id

        self.step(
            "2 portal → city",
            "dossier submitted online, delivered to the city",
            "portal→city",
            push,
        )

    def flow_city_sync(self, examples: dict[str, Any]) -> None:
        code = self.new_dossier_code()
        record = copy.deepcopy(examples["dossier"]) | {"MaHoSo": code, "NgayTiepNhan": _now()}

        def sync(status: str, **extra: str) -> Callable[[], str]:
            def action() -> str:
                body = record | {"TrangThaiHoSo": status, **extra}
                message_id = str(self.api("POST", "/v1/dossiers", body, expect=202)["messageId"])
                self.delivered(message_id)
                return message_id

            return action

        def progress(status: str) -> Callable[[], str]:
            def action() -> str:
                body = copy.deepcopy(examples["progress"]) | {
                    "TrangThai": status,
                    "ThoiDiemXuLy": _now(),
                }
                answer = self.api("POST", f"/v1/dossiers/{code}/progress", body, expect=202)
                self.delivered(str(answer["messageId"]))
                return str(answer["messageId"])

            return action

        def on_portal() -> None:
            status = self.api("GET", f"/v1/dossiers/{code}/portal-status")
            if not status["foundOnPortal"] or status["TrangThaiHoSo"] != 10:
                raise StepFailed(f"portal holds {status}")

        def illegal() -> None:
            body = copy.deepcopy(examples["progress"]) | {"TrangThai": "4", "ThoiDiemXuLy": _now()}
            problem = self.api("POST", f"/v1/dossiers/{code}/progress", body, expect=422)
            if "cannot become 4" not in problem.get("detail", ""):
                raise StepFailed(f"unexpected problem {problem}")

        self.step("3 city → portal", f"sync {code} status 2 (accepted)", "portal", sync("2"))
        self.step("3 city → portal", "progress status 4 (in process)", "portal", progress("4"))
        self.step("3 city → portal", "progress status 9 (processed)", "portal", progress("9"))
        self.step(
            "3 city → portal",
            "sync status 10 (result returned)",
            "portal",
            sync("10", NgayTra=_now()),
        )
        self.step("3 city → portal", "portal holds the dossier at status 10", "portal", on_portal)
        self.step("3 city → portal", "illegal 10 → 4 refused at the API (422)", "gateway", illegal)

    def _create_payment(self, example: dict[str, Any]) -> dict[str, Any]:
        code = self.new_dossier_code()
        body = copy.deepcopy(example)
        body["MaHoSo"] = code
        body["ThongTinBienLai"]["MaHoSo"] = code
        return dict(self.api("POST", "/v1/payments", body, expect=201))

    def _city_got_once(self, reference: str) -> str:
        def probe() -> str | None:
            state = self.mock("GET", "/city/_mock/state")
            for event in state["events"]:
                payment = event.get("event", {}).get("payment", {})
                if payment.get("MaThamChieu") == reference:
                    if state["deliveries"][event["messageId"]] != 1:
                        raise StepFailed("the payment event was delivered more than once")
                    return str(event["messageId"])
            return None

        return str(self.wait(f"city received payment {reference}", probe))

    def flow_payment(self, examples: dict[str, Any]) -> None:
        created: dict[str, Any] = {}

        def init() -> None:
            created.update(self._create_payment(examples["payment"]))
            if "/checkout/" not in created["UrlThanhToan"]:
                raise StepFailed(f"unexpected checkout URL {created['UrlThanhToan']}")

        def pay() -> str:
            self.session.post(created["UrlThanhToan"], data={"action": "pay"}, timeout=30)
            message_id = self._city_got_once(created["MaThamChieu"])
            self.mock(
                "POST", f"/payment/_mock/callbacks/{created['MaThamChieu']}"
            )  # a repeated IPN
            time.sleep(1.0)
            self._city_got_once(created["MaThamChieu"])
            status = self.api("GET", f"/v1/payments/{created['MaThamChieu']}")
            if status["status"] != "paid":
                raise StepFailed(f"status after paying: {status['status']}")
            return message_id

        def receipt() -> None:
            pdf = self.api("GET", f"/v1/payments/{created['MaThamChieu']}/receipt")
            if not (isinstance(pdf, bytes) and pdf.startswith(b"%PDF-")):
                raise StepFailed("the receipt is not a PDF")

        def lost_callback() -> str:
            lost = self._create_payment(examples["payment"])
            self.mock("POST", f"/payment/_mock/pay/{lost['MaThamChieu']}", {"callback": False})
            return self._city_got_once(lost["MaThamChieu"])

        self.step("4 payment", "INIT: checkout URL", "payment", init)
        self.step(
            "4 payment", "citizen pays; confirm delivered to the city once", "payment→city", pay
        )
        self.step("4 payment", "receipt (GET_BILL) is a PDF", "payment", receipt)
        self.step(
            "4 payment", "lost callback recovered by reconciliation", "payment→city", lost_callback
        )

    def flow_documents(self) -> None:
        found: dict[str, Any] = {}

        def search() -> None:
            document = self.mock("GET", "/warehouse/_mock/state")["documents"][0]
            owner = document["SoDinhDanhChuSoHuu"]
            answer = self.api(
                "POST",
                "/v1/documents/search",
                {
                    "SoDinhDanhChuSoHuu": owner,
                    "HoTenNguoiYeuCau": "Cán bộ một cửa",
                    "SoDinhDanhNguoiYeuCau": owner,
                    "KenhThucHien": 1,
                    "MaThuTuc": "1.001193",
                    "DanhSachDanhMucKetQua": [{"MaKetQua": document["MaKetQua"]}],
                },
            )
            if not answer["DanhSachGiayToKetQua"]:
                raise StepFailed("no digitised result found for a seeded citizen")
            found.update(answer["DanhSachGiayToKetQua"][0])

        def fetch() -> None:
            attachment = found["DanhSachTepDinhKem"][0]
            file = self.api(
                "POST",
                "/v1/documents/fetch",
                {"CoQuanChuQuan": found["CoQuanChuQuan"], "DuongDan": attachment["DuongDan"]},
            )
            if file["sizeBytes"] <= 0 or file["contentType"] != "application/pdf":
                raise StepFailed(f"unexpected file {file['contentType']} {file['sizeBytes']} B")

        self.step(
            "5 documents", "search the warehouse for a citizen's results", "warehouse", search
        )
        self.step("5 documents", "fetch one digitised result", "warehouse", fetch)

    def flow_procedures(self) -> None:
        def fetches() -> int:
            seen = self.mock("GET", "/portal/_mock/requests").get("requests", [])
            return sum(1 for request in seen if "LayThuTuc" in str(request))

        def lookup() -> None:
            before = fetches()
            first = self.api("GET", "/v1/procedures/1.001193")
            again = self.api("GET", "/v1/procedures/1.001193")
            if first["MATTHC"] != again["MATTHC"] or not first["TENTTHC"]:
                raise StepFailed("the procedure answers differ")
            if fetches() - before > 1:
                raise StepFailed("the portal was asked twice: the catalogue cache did not serve")

        self.step("6 procedures", "catalogue lookup, then served from cache", "portal", lookup)
