"""The data warehouse mock: GetKetQuaGiayTo and GetGiayToByUrl over seeded documents.

Served under ``/warehouse`` (``mocks.server``): ``POST /warehouse/GetKetQuaGiayTo`` and
``POST /warehouse/GetGiayToByUrl``, contract ``contracts/warehouse/openapi.yaml``.

Rules:
- Every request is checked before it is served: Content-Type JSON, a JSON body, then the
  contract's request schema; a refusal is the warehouse's own form ``{errorCode: 1,
  message, signature: "", result: null}`` with the JSON path of the first errors.
- ``KenhThucHien`` 2 (online) means the citizen asks: they may only read their own results
  (``errorCode`` 3 otherwise). An owner with no matching result gets an empty list.
- ``GetGiayToByUrl`` answers the file as a base64 JSON string; an unknown path, or one the
  named agency does not hold, is ``errorCode`` 2.
- Injected faults answer ``errorCode`` 99 (HTTP 500 or the injected status); an
  ``expired_session`` fault answers ``errorCode`` 4 with HTTP 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from mocks.framework import (
    FaultSpec,
    MockRequest,
    MockResponse,
    PartnerMock,
    json_validator,
    schema_errors,
)
from mocks.population.people import Citizen
from mocks.population.seed import DEFAULT_SIZE, SEED
from mocks.settings import MockSettings
from mocks.warehouse.documents import ResultDocument, generate_documents, render_pdf

CONTRACT = "warehouse/openapi.yaml"
OK, INVALID, NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, SYSTEM_ERROR = 0, 1, 2, 3, 4, 99


def error(code: int, message: str, status: int = 200) -> MockResponse:
    """A refusal in the warehouse's own form."""
    body = {"errorCode": code, "message": message, "signature": "", "result": None}
    return MockResponse.json(body, status=status)


def signature_of(result: dict[str, Any]) -> str:
    """The mock's integrity value: SHA-256 of the canonical JSON of ``result``."""
    canonical = json.dumps(result, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class WarehouseMock(PartnerMock):
    """The electronic data warehouse, holding results of seeded citizens."""

    name = "warehouse"

    def __init__(
        self, settings: MockSettings | None = None, *, seed: int = SEED, size: int = DEFAULT_SIZE
    ) -> None:
        super().__init__(seed)
        self.settings = settings or MockSettings()
        self.owners: dict[str, Citizen]
        self.owners, self.documents = generate_documents(seed, size)
        self._by_owner: dict[str, list[ResultDocument]] = {}
        self._by_path: dict[str, ResultDocument] = {}
        for document in self.documents:
            self._by_owner.setdefault(document.owner_id, []).append(document)
            for attachment in document.attachments:
                self._by_path[attachment.path] = document
        self._files: dict[str, bytes] = {}
        self.route("POST", "/GetKetQuaGiayTo", self.get_results)
        self.route("POST", "/GetGiayToByUrl", self.get_file)

    def _checked(self, request: MockRequest, schema: str) -> tuple[Any, MockResponse | None]:
        if "application/json" not in request.header("content-type"):
            return None, error(INVALID, "Content-Type must be application/json")
        try:
            data = request.json()
        except (ValueError, UnicodeDecodeError):
            return None, error(INVALID, "body is not valid JSON")
        problems = schema_errors(json_validator(CONTRACT, f"/components/schemas/{schema}"), data)
        if problems:
            return None, error(INVALID, "; ".join(problems[:3]))
        return data, None

    def get_results(self, request: MockRequest) -> MockResponse:
        data, refusal = self._checked(request, "GetKetQuaGiayToRequest")
        if refusal is not None:
            return refusal
        owner_id = data["SoDinhDanhChuSoHuu"]
        if data["KenhThucHien"] == "2" and data["SoDinhDanhNguoiYeuCau"] != owner_id:
            return error(
                FORBIDDEN, "online (KenhThucHien 2): a citizen may read only their own results"
            )
        wanted = [
            (item["MaKetQua"], item.get("SoKyHieu", "")) for item in data["DanhSachDanhMucKetQua"]
        ]
        found = [
            document.as_wire()
            for document in self._by_owner.get(owner_id, [])
            if any(
                document.result_code == code and (not number or number == document.reference_number)
                for code, number in wanted
            )
        ]
        result = {"DanhSachGiayToKetQua": found}
        body = {
            "errorCode": OK,
            "message": "Thành công",
            "signature": signature_of(result),
            "result": result,
        }
        return MockResponse.json(body)

    def get_file(self, request: MockRequest) -> MockResponse:
        data, refusal = self._checked(request, "GetGiayToByUrlRequest")
        if refusal is not None:
            return refusal
        path, issuer = data["DuongDan"], data["CoQuanChuQuan"]
        document = self._by_path.get(path)
        if document is None or document.issuer != issuer:
            return error(NOT_FOUND, f"không tìm thấy tệp {path} của cơ quan {issuer}")
        with self.lock:
            content = self._files.get(path)
            if content is None:
                content = render_pdf(document, self.owners[document.owner_id])
                self._files[path] = content
        return MockResponse.json(base64.b64encode(content).decode("ascii"))

    def file_bytes(self, path: str) -> bytes:
        """The file stored at ``path`` (for tests comparing what a client decoded)."""
        document = self._by_path[path]
        return render_pdf(document, self.owners[document.owner_id])

    def fault_response(self, request: MockRequest, spec: FaultSpec) -> MockResponse:
        if spec.expired_session:
            return error(UNAUTHENTICATED, "phiên làm việc hết hạn (session expired)", 401)
        return error(SYSTEM_ERROR, "lỗi hệ thống (injected fault)", spec.status or 500)

    def not_found(self, request: MockRequest) -> MockResponse:
        return error(NOT_FOUND, f"no service at {request.method} {request.path}", 404)

    def state(self) -> dict[str, Any]:
        return {
            "owners": len(self.owners),
            "documents": [
                {"SoDinhDanhChuSoHuu": document.owner_id, **document.as_wire()}
                for document in self.documents
            ],
        }


def create_mock(settings: MockSettings) -> WarehouseMock:
    """The factory ``mocks.server`` calls."""
    return WarehouseMock(settings)
