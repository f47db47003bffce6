"""The citizen record the population mock holds, and the name pools it draws from.

Rules:
- Frozen dataclasses with English names; the wire names (``SoDinhDanh`` ...) appear only in
  :mod:`mocks.population.soap`, which renders these records.
- Names are stored in normal case (``Nguyễn Văn An``); the service answers them upper-cased,
  as the real database does.
- Name pools reflect real frequencies roughly (Nguyễn first, "Văn"/"Thị" the usual middle
  names); they are fake people, any resemblance is chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# (family name, weight in per mille), roughly the national distribution
FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 50),
    ("Phan", 45),
    ("Vũ", 40),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Đinh", 8),
    ("Trịnh", 6),
    ("Đào", 6),
    ("Lương", 4),
    ("Tạ", 3),
    ("Khúc", 1),
)
MIDDLE_NAMES_MALE = ("Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Xuân", "Tiến")
MIDDLE_NAMES_FEMALE = ("Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Phương", "Hồng", "Thùy")
GIVEN_NAMES_MALE = (
    "An", "Bình", "Cường", "Dũng", "Duy", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khánh",
    "Long", "Minh", "Nam", "Phong", "Quân", "Sơn", "Thắng", "Trung", "Tuấn", "Việt", "Vinh",
    "Đạt", "Kiên", "Thành", "Tùng",
)  # fmt: skip
GIVEN_NAMES_FEMALE = (
    "Anh", "Châu", "Dung", "Giang", "Hà", "Hạnh", "Hiền", "Hoa", "Hương", "Lan", "Linh",
    "Mai", "Ngọc", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Vân", "Yến", "Huyền",
)  # fmt: skip

MALE = "1"
FEMALE = "2"

# relation to the household head (ChuHo/QuanHe)
RELATION_HEAD = "01"
RELATION_WIFE = "02"
RELATION_HUSBAND = "03"
RELATION_CHILD = "04"
RELATION_FATHER = "05"
RELATION_MOTHER = "06"


@dataclass(frozen=True)
class Address:
    """An address: province always, district and ward when known, free-text detail."""

    province_code: str  # two digits, "01" = Hà Nội
    province_name: str
    district_code: str = ""
    district_name: str = ""
    ward_code: str = ""
    ward_name: str = ""
    detail: str = ""
    country: str = "VN"


@dataclass(frozen=True)
class Relative:
    """A relative as the answer names them (numbers empty when not on record)."""

    full_name: str
    id_number: str = ""
    old_id_number: str = ""
    nationality: str = "VN"


@dataclass(frozen=True)
class HouseholdHead:
    """The household head, seen from a member: relation code, numbers, name."""

    relation: str
    id_number: str
    old_id_number: str
    full_name: str


@dataclass(frozen=True)
class Citizen:
    """One seeded citizen."""

    id_number: str  # SoDinhDanh, 12 digits
    old_id_number: str  # SoCMND, 9 digits or ""
    family_name: str
    middle_name: str
    given_name: str
    gender: str  # "1" male, "2" female
    birth_date: date
    birth_year_only: bool  # the record holds only the year
    ethnicity: str
    religion: str
    nationality: str
    marital_status: str
    blood_group: str
    birth_registration: Address
    hometown: Address
    permanent_address: Address
    current_address: Address
    household_head: HouseholdHead
    household_book: str
    father: Relative | None = None
    mother: Relative | None = None
    spouse: Relative | None = None
    representative: Relative | None = None

    @property
    def full_name(self) -> str:
        """Family, middle and given name joined by single spaces."""
        return " ".join(
            part for part in (self.family_name, self.middle_name, self.given_name) if part
        )

    @property
    def birth_year(self) -> str:
        return f"{self.birth_date.year:04d}"

    @property
    def birth_date_text(self) -> str:
        """``yyyyMMdd``, or ``""`` when the record holds only the year."""
        return "" if self.birth_year_only else self.birth_date.strftime("%Y%m%d")
