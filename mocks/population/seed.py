"""The seeded population: a deterministic town of fake Hà Nội households.

Rules:
- Deterministic: one ``random.Random(seed)`` drives everything, in a fixed order, so the
  same seed gives the same citizens (numbers, names, addresses) on every start and in every
  process; the warehouse mock reuses this generator to own documents of the same people.
- Every CCCD number is valid: ``PPP G YY SSSSSS`` with PPP a real province code (mostly
  001 Hà Nội), G the gender/century digit consistent with the birth date (even male, odd
  female; 0/1 for the 1900s, 2/3 for the 2000s), YY the birth year's last two digits and
  a serial unique in the population. Old 9-digit CMND numbers exist for some people born
  before 2002.
- Households: a head, often a spouse, children (whose father's family name and home town
  they carry), sometimes a widowed parent of the head; everyone's ChuHo names the head and
  their relation to them; children under 18 have a representative (a parent).
- Some older citizens are on record with the birth year only.
- Whole households are generated until at least ``size`` citizens exist.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from mocks.population import people as p
from mocks.population.places import HANOI_CODE, HANOI_WARDS, PROVINCES, Ward

SEED = 20241120
DEFAULT_SIZE = 1200
REFERENCE_DATE = date(2025, 6, 1)  # "today" for ages, fixed for determinism
_OTHER_PROVINCES = tuple(code for code in PROVINCES if code != HANOI_CODE)


def century_gender_digit(gender: str, year: int) -> str:
    """The CCCD's G digit: (century - 19) * 2, plus one for a woman."""
    return str((year // 100 - 19) * 2 + (1 if gender == p.FEMALE else 0))


@dataclass(frozen=True)
class Population:
    """The seeded citizens with their indexes by CCCD and by old CMND number."""

    citizens: tuple[p.Citizen, ...]
    by_id: Mapping[str, p.Citizen]
    by_old_id: Mapping[str, p.Citizen]


@dataclass
class _Member:
    relation: str
    gender: str
    birth_date: date
    year_only: bool
    family: str
    middle: str
    given: str
    province: str  # CCCD province of birth registration
    id_number: str = ""
    old_id: str = ""
    hometown: p.Address | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.family} {self.middle} {self.given}"

    def as_relative(self) -> p.Relative:
        return p.Relative(self.full_name, self.id_number, self.old_id)


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_ids: set[str] = set()
        self.used_old_ids: set[str] = set()
        self.used_books: set[str] = set()

    # -- small draws ---------------------------------------------------------------------
    def family_name(self) -> str:
        return self.code(p.FAMILY_NAMES)

    def middle_given(self, gender: str) -> tuple[str, str]:
        if gender == p.MALE:
            return self.rng.choice(p.MIDDLE_NAMES_MALE), self.rng.choice(p.GIVEN_NAMES_MALE)
        return self.rng.choice(p.MIDDLE_NAMES_FEMALE), self.rng.choice(p.GIVEN_NAMES_FEMALE)

    def birth_date(self, year: int) -> date:
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    def province(self, hanoi_share: float) -> str:
        return HANOI_CODE if self.rng.random() < hanoi_share else self.rng.choice(_OTHER_PROVINCES)

    def ward_address(self, ward: Ward, detail_prefix: str = "") -> p.Address:
        parts = [detail_prefix] if detail_prefix else []
        parts += [ward.ward_name, ward.district_name, PROVINCES[HANOI_CODE]]
        return p.Address(
            "01", PROVINCES[HANOI_CODE], ward.district_code, ward.district_name,
            ward.ward_code, ward.ward_name, ", ".join(parts),
        )  # fmt: skip

    def place(self, province: str) -> p.Address:
        """An address at ward level in Hà Nội, at province level elsewhere."""
        if province == HANOI_CODE:
            return self.ward_address(self.rng.choice(HANOI_WARDS))
        return p.Address(province[1:], PROVINCES[province], detail=PROVINCES[province])

    def member(self, relation: str, gender: str, year: int, family: str, province: str) -> _Member:
        middle, given = self.middle_given(gender)
        year_only = self.rng.random() < (0.4 if year < 1960 else 0.02)
        return _Member(relation, gender, self.birth_date(year), year_only, family, middle,
                       given, province)  # fmt: skip

    def assign_numbers(self, member: _Member) -> None:
        year = member.birth_date.year
        prefix = f"{member.province}{century_gender_digit(member.gender, year)}{year % 100:02d}"
        while True:
            number = f"{prefix}{self.rng.randrange(1_000_000):06d}"
            if number not in self.used_ids:
                self.used_ids.add(number)
                member.id_number = number
                break
        if year <= 2001 and self.rng.random() < 0.65:
            area = "01" if member.province == HANOI_CODE else f"{self.rng.randint(2, 38):02d}"
            while True:
                old = f"{area}{self.rng.randrange(10_000_000):07d}"
                if old not in self.used_old_ids:
                    self.used_old_ids.add(old)
                    member.old_id = old
                    break

    def book_number(self) -> str:
        while True:
            book = f"0{self.rng.randrange(100_000_000):08d}"
            if book not in self.used_books:
                self.used_books.add(book)
                return book

    def code(self, choices: tuple[tuple[str, int], ...]) -> str:
        values = [value for value, _ in choices]
        weights = [weight for _, weight in choices]
        return str(self.rng.choices(values, weights=weights)[0])

    # -- one household --------------------------------------------------------------------
    def household(self) -> list[p.Citizen]:
        rng = self.rng
        ward = rng.choice(HANOI_WARDS)
        house = f"Số {rng.randint(1, 199)}"
        if rng.random() < 0.5:
            house += f", ngõ {rng.randint(2, 120)}"
        permanent = self.ward_address(ward, f"{house} {rng.choice(ward.streets)}")
        book = self.book_number()

        head_gender = p.MALE if rng.random() < 0.7 else p.FEMALE
        head_year = rng.randint(1950, 1995)
        head = self.member(p.RELATION_HEAD, head_gender, head_year, self.family_name(),
                           self.province(0.65))  # fmt: skip
        head.hometown = self.place(self.province(0.55))
        members = [head]
        father: _Member | None = head if head_gender == p.MALE else None
        mother: _Member | None = head if head_gender == p.FEMALE else None
        spouse: _Member | None = None
        if rng.random() < 0.8:
            spouse_gender = p.FEMALE if head_gender == p.MALE else p.MALE
            offset = rng.randint(-2, 6)
            spouse_year = head_year + offset if spouse_gender == p.FEMALE else head_year - offset
            relation = p.RELATION_WIFE if spouse_gender == p.FEMALE else p.RELATION_HUSBAND
            spouse = self.member(relation, spouse_gender, spouse_year, self.family_name(),
                                 self.province(0.6))  # fmt: skip
            spouse.hometown = self.place(self.province(0.55))
            members.append(spouse)
            father, mother = (head, spouse) if head_gender == p.MALE else (spouse, head)
        children: list[_Member] = []
        if father is not None and mother is not None:
            for _ in range(rng.choice((0, 1, 1, 2, 2, 2, 3))):
                year = mother.birth_date.year + rng.randint(20, 38)
                if year > REFERENCE_DATE.year - 1:
                    continue
                gender = rng.choice((p.MALE, p.FEMALE))
                child = self.member(p.RELATION_CHILD, gender, year, father.family,
                                    self.province(0.92))  # fmt: skip
                child.hometown = father.hometown
                children.append(child)
        members += children
        elder: _Member | None = None
        if rng.random() < 0.2:
            gender = rng.choice((p.MALE, p.FEMALE))
            relation = p.RELATION_FATHER if gender == p.MALE else p.RELATION_MOTHER
            family = head.family if gender == p.MALE else self.family_name()
            province = head.province if rng.random() < 0.7 else self.province(0.5)
            elder = self.member(relation, gender, head_year - rng.randint(22, 35), family, province)
            elder.hometown = head.hometown
            members.append(elder)

        for member in members:
            self.assign_numbers(member)
        return [
            self.citizen(m, head, permanent, book, father, mother, spouse, elder, children)
            for m in members
        ]

    def citizen(
        self,
        m: _Member,
        head: _Member,
        permanent: p.Address,
        book: str,
        father: _Member | None,
        mother: _Member | None,
        spouse: _Member | None,
        elder: _Member | None,
        children: list[_Member],
    ) -> p.Citizen:
        rng = self.rng
        dad: p.Relative | None = None
        mum: p.Relative | None = None
        partner: p.Relative | None = None
        representative: p.Relative | None = None
        marital = "1"
        if m in children:
            dad = father.as_relative() if father else None
            mum = mother.as_relative() if mother else None
            age = (REFERENCE_DATE - m.birth_date).days // 365
            if age < 18:
                representative = dad or mum
        elif m is elder:
            marital = "4"
        else:
            if spouse is not None:
                partner = (spouse if m is head else head).as_relative()
                marital = "2"
            if m is head and elder is not None:
                linked = elder.as_relative()
                dad, mum = (linked, None) if elder.gender == p.MALE else (None, linked)
            dad = dad or p.Relative(f"{m.family} {' '.join(self.middle_given(p.MALE))}")
            mum = mum or p.Relative(f"{self.family_name()} {' '.join(self.middle_given(p.FEMALE))}")
        current = permanent
        if rng.random() < 0.15:
            current = self.ward_address(rng.choice(HANOI_WARDS))
        ethnicity_choices = (("01", 92), ("02", 2), ("03", 2), ("04", 1), ("06", 2), ("07", 1))
        return p.Citizen(
            id_number=m.id_number,
            old_id_number=m.old_id,
            family_name=m.family,
            middle_name=m.middle,
            given_name=m.given,
            gender=m.gender,
            birth_date=m.birth_date,
            birth_year_only=m.year_only,
            ethnicity=self.code(ethnicity_choices),
            religion=self.code((("00", 85), ("01", 10), ("02", 5))),
            nationality="VN",
            marital_status=marital,
            blood_group=self.code((("00", 40), ("01", 25), ("02", 15), ("03", 15), ("04", 5))),
            birth_registration=self.place(m.province),
            hometown=m.hometown or self.place(m.province),
            permanent_address=permanent,
            current_address=current,
            household_head=p.HouseholdHead(m.relation, head.id_number, head.old_id, head.full_name),
            household_book=book,
            father=dad,
            mother=mum,
            spouse=partner,
            representative=representative,
        )


def generate_population(seed: int = SEED, size: int = DEFAULT_SIZE) -> Population:
    """At least ``size`` citizens, in whole households, the same for the same seed."""
    if size < 1:
        raise ValueError(f"population size must be positive, got {size}")
    generator = _Generator(seed)
    citizens: list[p.Citizen] = []
    while len(citizens) < size:
        citizens.extend(generator.household())
    return Population(
        citizens=tuple(citizens),
        by_id={c.id_number: c for c in citizens},
        by_old_id={c.old_id_number: c for c in citizens if c.old_id_number},
    )
