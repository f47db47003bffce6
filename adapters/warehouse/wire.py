"""Pure translation between warehouse records and its JSON messages.

Rules (reference section 5, ``contracts/warehouse/openapi.yaml``):
- Requests are built from records and checked against the contract's request schema;
  a violation raises ``InvalidInput`` naming the field (by path, never the value).
- Answers: ``errorCode`` 0 is success; 99 is ``UpstreamUnavailable`` (transient); 1, 2, 3
  and 4 are :class:`WarehouseRefused` (``UpstreamRejected`` carrying ``error_code``),
  2 ("not found") as :class:`WarehouseNotFound`, answered to the caller as ``404``; a
  body that breaks the contract is ``UpstreamMalformed``. No match is an empty list.
- ``GetGiayToByUrl`` answers the file as a JSON string in standard base64: decoded
  strictly and refused past ``max_file_bytes`` (checked on the encoded length first, so
  an oversized file is never decoded).
- No I/O (the contract is read once and cached).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from adapters._contracts import validator, violations
from adapters._text import mask_text
from adapters.warehouse.records import Attachment, DocumentList, DocumentQuery, ResultDocument
from gateway.domain.errors import (
    InvalidInput,
    UpstreamMalformed,
    UpstreamRejected,
    UpstreamUnavailable,
)

PARTNER = "warehouse"
CONTRACT = "warehouse/openapi.yaml"
FIND = "GetKetQuaGiayTo"
FETCH = "GetGiayToByUrl"
ERROR_CODES = {
    1: "invalid request data",
    2: "document not found",
    3: "access refused",
    4: "authentication failed",
    99: "system error",
}


class WarehouseRefused(UpstreamRejected):
    """The warehouse refused the request; ``error_code`` is its ``errorCode``."""

    def __init__(self, operation: str, error_code: int, text: str = "") -> None:
        meaning = ERROR_CODES.get(error_code, "unknown code")
        suffix = f": {mask_text(text, 120)}" if text else ""
        super().__init__(PARTNER, f"{operation}: errorCode {error_code} ({meaning}){suffix}")
        self.error_code = error_code


class WarehouseNotFound(WarehouseRefused):
    """``errorCode`` 2: the warehouse holds no such document; the caller's ``404``."""

    status = 404
    code = "not_found"


def _check(pointer: str, message: dict[str, Any], operation: str) -> None:
    errors = violations(validator(CONTRACT, pointer), message)
    if errors:
        raise InvalidInput(
            f"{operation} breaks the warehouse contract: {'; '.join(errors)}",
            field=errors[0].split(":")[0],
        )


def find_request(query: DocumentQuery) -> dict[str, Any]:
    """The ``GetKetQuaGiayTo`` body."""
    message: dict[str, Any] = {
        "SoDinhDanhChuSoHuu": query.owner_id_number,
        "HoTenNguoiYeuCau": " ".join(query.requester_name.split()),
        "SoDinhDanhNguoiYeuCau": query.requester_id_number,
        "KenhThucHien": query.channel,
        "MaThuTuc": query.procedure_code,
        "DanhSachDanhMucKetQua": [
            {"MaKetQua": kind.code, "SoKyHieu": kind.number} for kind in query.kinds
        ],
    }
    _check("/components/schemas/GetKetQuaGiayToRequest", message, FIND)
    return message


def fetch_request(agency_code: str, path: str) -> dict[str, Any]:
    """The ``GetGiayToByUrl`` body."""
    message = {"CoQuanChuQuan": agency_code, "DuongDan": path}
    _check("/components/schemas/GetGiayToByUrlRequest", message, FETCH)
    return message


def _json(body: bytes, operation: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: too deep
        raise UpstreamMalformed(PARTNER, f"{operation}: answer is not JSON") from None


def _refusal(data: dict[str, Any], operation: str) -> None:
    code = data.get("errorCode")
    if isinstance(code, bool) or not isinstance(code, int) or code == 0:
        return
    if code == 99:
        raise UpstreamUnavailable(PARTNER, f"{operation}: warehouse system error (errorCode 99)")
    if code == 2:
        raise WarehouseNotFound(operation, code, str(data.get("message", "")))
    raise WarehouseRefused(operation, code, str(data.get("message", "")))


def parse_find_answer(body: bytes) -> DocumentList:
    data = _json(body, FIND)
    if not isinstance(data, dict):
        raise UpstreamMalformed(PARTNER, f"{FIND}: answer is not a JSON object")
    _refusal(data, FIND)
    errors = violations(validator(CONTRACT, "/components/schemas/GetKetQuaGiayToResponse"), data)
    if errors:
        raise UpstreamMalformed(PARTNER, f"{FIND}: answer breaks the contract: {'; '.join(errors)}")
    documents = tuple(
        ResultDocument(
            kind_code=item["MaKetQua"],
            title=item["TenGiayTo"],
            number=item["SoKyHieu"],
            issuing_agency=item["CoQuanChuQuan"],
            attachments=tuple(
                Attachment(f["TenTep"], f["DuongDan"]) for f in item["DanhSachTepDinhKem"]
            ),
        )
        for item in data["result"]["DanhSachGiayToKetQua"]
    )
    return DocumentList(documents=documents, signature=data["signature"])


def parse_fetch_answer(body: bytes, max_file_bytes: int) -> bytes:
    data = _json(body, FETCH)
    if isinstance(data, dict):
        _refusal(data, FETCH)
        raise UpstreamMalformed(PARTNER, f"{FETCH}: answer is neither a file nor a refusal")
    if not isinstance(data, str):
        raise UpstreamMalformed(PARTNER, f"{FETCH}: answer is not a base64 string")
    if len(data) * 3 // 4 > max_file_bytes + 2:
        raise UpstreamMalformed(
            PARTNER,
            f"{FETCH}: file of about {len(data) * 3 // 4} bytes over the {max_file_bytes}-byte limit",
        )
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamMalformed(PARTNER, f"{FETCH}: answer is not standard base64") from None
    if len(content) > max_file_bytes:
        raise UpstreamMalformed(PARTNER, f"{FETCH}: file over the {max_file_bytes}-byte limit")
    if not content:
        raise UpstreamMalformed(PARTNER, f"{FETCH}: empty file")
    return content
