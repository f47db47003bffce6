"""Document reuse: find a citizen's digitised results in the data warehouse, fetch one.

Rules: the owner's and requester's CCCD are parsed before any call; the file is
size-limited by the adapter and returned base64 with its sniffed content type; the
search answer keeps the warehouse's national field names.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal, cast

from adapters.http import CallContext
from adapters.warehouse.port import DataWarehouse
from adapters.warehouse.records import DocumentQuery, ResultKind
from gateway.domain.citizen_ids import Cccd
from gateway.domain.identifiers import ProcedureCode
from gateway.flows.ports import CallContext as ApiContext

_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def sniff_content_type(data: bytes) -> str:
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return "application/octet-stream"


class DocumentService:
    """The API's ``DocumentPort`` on the data warehouse's port."""

    def __init__(self, client: DataWarehouse) -> None:
        self._client = client

    def search(self, query: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        Cccd.parse(query["SoDinhDanhChuSoHuu"])
        Cccd.parse(query["SoDinhDanhNguoiYeuCau"])
        ProcedureCode.parse(query["MaThuTuc"])
        channel = cast(Literal["1", "2", "3"], str(query["KenhThucHien"]))
        request = DocumentQuery(
            owner_id_number=query["SoDinhDanhChuSoHuu"],
            requester_name=query["HoTenNguoiYeuCau"],
            requester_id_number=query["SoDinhDanhNguoiYeuCau"],
            channel=channel,
            procedure_code=query["MaThuTuc"],
            kinds=tuple(
                ResultKind(kind["MaKetQua"], kind.get("SoKyHieu", ""))
                for kind in query.get("DanhSachDanhMucKetQua", [])
            ),
        )
        found = self._client.find_results(request, CallContext(ctx.correlation_id))
        return {
            "DanhSachGiayToKetQua": [
                {
                    "MaKetQua": document.kind_code,
                    "TenGiayTo": document.title,
                    **({"SoKyHieu": document.number} if document.number else {}),
                    "CoQuanChuQuan": document.issuing_agency,
                    "DanhSachTepDinhKem": [
                        {"TenTep": a.name, "DuongDan": a.path} for a in document.attachments
                    ],
                }
                for document in found.documents
            ]
        }

    def fetch(self, request: Mapping[str, Any], ctx: ApiContext) -> dict[str, Any]:
        agency, path = request["CoQuanChuQuan"], request["DuongDan"]
        data = self._client.fetch_file(agency, path, CallContext(ctx.correlation_id))
        return {
            "CoQuanChuQuan": agency,
            "DuongDan": path,
            "contentType": sniff_content_type(data),
            "sizeBytes": len(data),
            "contentBase64": base64.b64encode(data).decode("ascii"),
        }
