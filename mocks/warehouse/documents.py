"""The warehouse's holdings: digitised results owned by citizens of the seeded population.

Rules:
- Owners are citizens of :func:`mocks.population.seed.generate_population` (same seed, so
  the same CCCD numbers as the population mock): every fourth citizen holds results.
- Deterministic: a ``random.Random`` derived from the seed picks kinds, numbers, issuers
  and storage paths; the files are small real PDFs (fpdf2, fixed creation date), made on
  first request and cached. PDF text is ASCII-folded (the core fonts have no Vietnamese).
- Which kinds a citizen holds follows their record: a birth certificate for everyone,
  a marriage certificate when married, adult papers (criminal record, school-leaving
  diploma, driving licence) from 18.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF

from mocks.population.people import Citizen
from mocks.population.seed import DEFAULT_SIZE, REFERENCE_DATE, SEED, generate_population

# (MaKetQua, TenGiayTo, short sign used in SoKyHieu, file name)
BIRTH = ("KQ.KHAISINH", "Giấy khai sinh", "KS", "giay-khai-sinh.pdf")
MARRIAGE = ("KQ.KETHON", "Giấy chứng nhận kết hôn", "KH", "giay-chung-nhan-ket-hon.pdf")
CRIMINAL_RECORD = ("KQ.LLTP", "Phiếu lý lịch tư pháp số 1", "LLTP", "phieu-ly-lich-tu-phap.pdf")
DIPLOMA = ("KQ.TNTHPT", "Bằng tốt nghiệp trung học phổ thông", "THPT", "bang-tot-nghiep.pdf")
DRIVING_LICENCE = ("KQ.GPLX", "Giấy phép lái xe", "GPLX", "giay-phep-lai-xe.pdf")
KINDS = (BIRTH, MARRIAGE, CRIMINAL_RECORD, DIPLOMA, DRIVING_LICENCE)


@dataclass(frozen=True)
class Attachment:
    """One attached file: its name and storage path (``DuongDan``)."""

    file_name: str
    path: str


@dataclass(frozen=True)
class ResultDocument:
    """One digitised result (a ``GiayToKetQua``)."""

    owner_id: str
    result_code: str
    title: str
    reference_number: str
    issuer: str
    issued_year: int
    attachments: tuple[Attachment, ...]

    def as_wire(self) -> dict[str, object]:
        """The national field names, as the warehouse answers them."""
        return {
            "MaKetQua": self.result_code,
            "TenGiayTo": self.title,
            "SoKyHieu": self.reference_number,
            "CoQuanChuQuan": self.issuer,
            "DanhSachTepDinhKem": [
                {"TenTep": a.file_name, "DuongDan": a.path} for a in self.attachments
            ],
        }


def ascii_fold(text: str) -> str:
    """Vietnamese text without diacritics (for the PDF core fonts)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def render_pdf(document: ResultDocument, owner: Citizen) -> bytes:
    """A one-page PDF standing for the scanned result."""
    pdf = FPDF()
    pdf.set_creation_date(datetime(document.issued_year, 1, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=16)
    pdf.cell(text=ascii_fold(document.title.upper()), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    lines = (
        f"So/Ky hieu: {document.reference_number}",
        f"Co quan cap: {document.issuer}",
        f"Nam cap: {document.issued_year}",
        f"Chu so huu: {ascii_fold(owner.full_name)} - {owner.id_number}",
        "BAN SO HOA - DU LIEU GIA LAP (mock)",
    )
    for line in lines:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _issuer(owner: Citizen, rng: random.Random) -> str:
    district = owner.permanent_address.district_code or "000"
    return f"000.{int(district) % 100:02d}.{rng.randint(1, 30):02d}.H26"


def _kinds_for(owner: Citizen, rng: random.Random) -> list[tuple[str, str, str, str]]:
    age = (REFERENCE_DATE - owner.birth_date).days // 365
    kinds = [BIRTH]
    if owner.marital_status == "2":
        kinds.append(MARRIAGE)
    if age >= 18:
        kinds += [
            kind for kind in (CRIMINAL_RECORD, DIPLOMA, DRIVING_LICENCE) if rng.random() < 0.4
        ]
    return kinds


def generate_documents(
    seed: int = SEED, size: int = DEFAULT_SIZE
) -> tuple[dict[str, Citizen], list[ResultDocument]]:
    """The owners (by CCCD) and their documents, deterministic for a seed."""
    population = generate_population(seed, size)
    rng = random.Random(seed * 7919 + 5)
    owners: dict[str, Citizen] = {}
    documents: list[ResultDocument] = []
    for owner in population.citizens[::4]:
        owners[owner.id_number] = owner
        for code, title, sign, file_name in _kinds_for(owner, rng):
            year = (
                owner.birth_date.year
                if code == BIRTH[0]
                else rng.randint(max(owner.birth_date.year + 18, 1995), REFERENCE_DATE.year)
            )
            path = f"kho/{year}/{rng.getrandbits(64):016x}.pdf"
            documents.append(
                ResultDocument(
                    owner_id=owner.id_number,
                    result_code=code,
                    title=title,
                    reference_number=f"{rng.randint(1, 9999)}/{year}/{sign}",
                    issuer=_issuer(owner, rng),
                    issued_year=year,
                    attachments=(Attachment(file_name, path),),
                )
            )
    return owners, documents
