"""Hypothesis strategies and sample records for the portal adapter's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from adapters.portal.records import (
    Channel,
    DossierRecord,
    Fee,
    FeeCollection,
    FeeKind,
    OwnerIdentifier,
    OwnerIdentifierKind,
    ProgressRecord,
    ResultDocument,
    ReturnMethod,
    SubjectType,
    SubmittedDocument,
    SupplementRequest,
    SupplementState,
)
from gateway.domain.status import DossierStatus
from gateway.testing.partners import VN as VN  # re-exported for the unit tests
from gateway.testing.partners import sample_dossier as sample_dossier
from gateway.testing.partners import sample_progress as sample_progress

# Vietnamese and ASCII letters, digits, spaces and punctuation: what names and notes hold.
_alphabet = st.characters(
    codec="utf-8",
    categories=("L", "N", "P", "Zs"),
    exclude_characters="\x85\xa0",
)


def words(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(_alphabet, min_size=min_size, max_size=max_size).filter(
        lambda s: s.strip() != "" or min_size == 0
    )


def optional_words(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), words(1, max_size))


agency = st.builds(
    lambda a, b, c, letter, n: f"{a:03d}.{b:02d}.{c:02d}.{letter}{n:02d}",
    st.integers(0, 999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from("GH"),
    st.integers(0, 99),
)
dossier_code = st.builds(
    lambda ag, d, seq: f"{ag}-{d:%y%m%d}-{seq}",
    agency,
    st.dates(datetime(2000, 1, 1).date(), datetime(2099, 12, 31).date()),
    st.one_of(
        st.integers(0, 9999).map(lambda n: f"{n:04d}"),
        st.integers(0, 99999).map(lambda n: f"{n:05d}"),
    ),
)
procedure_code = st.builds(
    lambda head, number, local: f"{head}.{number:06d}" + (f".{local}" if local else ""),
    st.integers(0, 9),
    st.integers(0, 999999),
    st.one_of(st.just(""), agency),
)
code50 = st.from_regex(r"\A[0-9A-Za-z._-]{1,20}\Z")
moment = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.sampled_from([VN, UTC]),
).map(lambda d: d.replace(microsecond=0))
optional_moment = st.one_of(st.none(), moment)
url = st.one_of(st.just(""), st.from_regex(r"\Ahttps://[a-z]{1,10}\.vn/[A-Za-z0-9/_.-]{0,30}\Z"))

owner_identifier = st.one_of(
    st.builds(
        OwnerIdentifier, st.just(OwnerIdentifierKind.PERSONAL_ID), st.from_regex(r"\A[0-9]{12}\Z")
    ),
    st.builds(
        OwnerIdentifier,
        st.just(OwnerIdentifierKind.OLD_ID_CARD),
        st.from_regex(r"\A([0-9]{9}|[0-9]{12})\Z"),
    ),
    st.builds(
        OwnerIdentifier, st.just(OwnerIdentifierKind.PASSPORT), st.from_regex(r"\A[A-Z0-9]{6,12}\Z")
    ),
    st.builds(
        OwnerIdentifier,
        st.just(OwnerIdentifierKind.ENTERPRISE_CODE),
        st.from_regex(r"\A[0-9]{10}(-[0-9]{3})?\Z"),
    ),
)
document = st.builds(
    SubmittedDocument,
    attachment_id=words(1, 30),
    file_name=words(1, 60),
    component_code=optional_words(20),
    url=url,
    deleted=st.booleans(),
    digitised=st.booleans(),
    reused=st.booleans(),
    from_national_warehouse=st.booleans(),
    replacing_result_code=optional_words(20),
)
fee = st.builds(
    Fee,
    name=words(1, 60),
    code=code50,
    collection=st.sampled_from(FeeCollection),
    amount=st.integers(0, 10**12),
    kind=st.sampled_from(FeeKind),
)
supplement = st.builds(
    SupplementRequest,
    supplement_id=words(1, 30),
    requested_by=words(1, 60),
    content=words(1, 100),
    requested_at=moment,
    state=st.sampled_from(SupplementState),
    previous_due_at=optional_moment,
    new_due_at=optional_moment,
    received_by=optional_words(60),
    received_at=optional_moment,
)
result_document = st.builds(
    ResultDocument,
    name=words(1, 60),
    document_id=words(1, 30),
    url=url,
    component_code=optional_words(20),
    result_code=optional_words(20),
)

dossiers = st.builds(
    DossierRecord,
    dossier_code=dossier_code,
    procedure_code=procedure_code,
    procedure_name=words(1, 100),
    field_code=code50,
    field_name=words(1, 60),
    channel=st.sampled_from(Channel),
    owner_name=words(1, 60),
    subject_type=st.sampled_from(SubjectType),
    summary=words(1, 200),
    received_at=moment,
    due_at=moment,
    status=st.sampled_from(DossierStatus),
    return_method=st.sampled_from(ReturnMethod),
    processing_unit=words(1, 100),
    subject_code=optional_words(30),
    owner_document_number=st.one_of(st.just(""), st.from_regex(r"\A[0-9A-Za-z-]{6,20}\Z")),
    owner_identifiers=st.lists(owner_identifier, max_size=3).map(tuple),
    email=st.one_of(st.just(""), st.from_regex(r"\A[a-z0-9.]{1,20}@[a-z]{1,10}\.vn\Z")),
    phone=st.one_of(st.just(""), st.from_regex(r"\A\+?[0-9]{9,15}\Z")),
    submitted_at=optional_moment,
    returned_at=optional_moment,
    refused_at=optional_moment,
    processing_finished_at=optional_moment,
    submission_place=optional_words(100),
    has_digitised_components=st.booleans(),
    vneid_verified=st.booleans(),
    paid_online=st.booleans(),
    note=optional_words(200),
    documents=st.lists(document, max_size=3).map(tuple),
    fees=st.lists(fee, max_size=2).map(tuple),
    supplements=st.lists(supplement, max_size=2).map(tuple),
    results=st.lists(result_document, max_size=2).map(tuple),
    reused_databases=st.lists(st.from_regex(r"\A[0-9A-Za-z_]{1,20}\Z"), max_size=3).map(tuple),
)

progresses = st.builds(
    ProgressRecord,
    dossier_code=dossier_code,
    handler_name=words(1, 60),
    handled_at=moment,
    department=words(1, 100),
    content=words(1, 200),
    status=st.sampled_from(DossierStatus),
    started_at=moment,
    due_at=moment,
    handler_title=optional_words(60),
)
