"""Evidence bundles: an honest one verifies offline; every kind of tampering is named."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from gateway.domain.errors import InvalidInput, NotFound
from gateway.keys import KeyStore
from gateway.ops import bundle_verify
from gateway.ops.bundle import build_bundle, export_bundle
from gateway.ops.bundle_verify import verify_bundle
from gateway.store.evidence_format import record_hash
from gateway.testing.scenario import Scenario


def delivered_dossier(scenario: Scenario, count: int = 4) -> tuple[list[str], str]:
    ids = scenario.submit(count)
    scenario.drain(until=lambda: len(scenario.partner.received) >= count)
    scenario.evidence.close()  # final checkpoint covers the chain's head
    view = scenario.ctx.store.get(ids[1])
    assert view is not None and view.dossier_code
    return ids, view.dossier_code


@pytest.fixture
def honest(scenario: Scenario, keystore: KeyStore) -> dict[str, Any]:
    _, dossier = delivered_dossier(scenario)
    return build_bundle(scenario.ctx.engine, keystore, dossier_code=dossier)


def problems(bundle: dict[str, Any]) -> list[str]:
    return verify_bundle(json.loads(json.dumps(bundle))).problems


def test_honest_bundle_verifies_and_covers_the_subject(honest: dict[str, Any]) -> None:
    report = verify_bundle(copy.deepcopy(honest))
    assert report.ok, report.problems
    subject = [r for r in honest["records"] if r["subject"]]
    assert len(subject) == 1 and subject[0]["dossier_code"] == honest["subject"]["dossier_code"]
    assert report.covered == [f"record {subject[0]['chain_id']}#{subject[0]['seq']}"]
    assert report.uncovered == []
    assert honest["jwks"]["keys"] and all("d" not in k for k in honest["jwks"]["keys"])
    assert len(report.thumbprints) == 1


def test_offline_hash_is_the_store_hash(honest: dict[str, Any]) -> None:
    """The standalone verifier's definition equals the writer's (same bytes hashed)."""
    from datetime import datetime

    for record in honest["records"]:
        assert bundle_verify.record_hash(record) == record["hash"]
    sample = honest["records"][0]
    fields = {k: sample[k] for k in bundle_verify.HASHED_FIELDS if k != "blob_sha256"}
    fields["at"] = datetime.fromisoformat(sample["at"].replace("Z", "+00:00"))
    assert sample["blob_sha256"] is None
    assert record_hash(body_blob=None, **fields) == sample["hash"]


def first_subject(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in bundle["records"] if r["subject"])


def test_altered_record_is_named(honest: dict[str, Any]) -> None:
    record = first_subject(honest)
    record["body_sha256"] = "0" * 64
    found = problems(honest)
    assert found == [
        f"record {record['chain_id']}#{record['seq']}: content does not match its hash (altered)"
    ]


def test_rehashed_record_breaks_the_link_or_the_signed_head(honest: dict[str, Any]) -> None:
    record = first_subject(honest)
    record["direction"] = "in"
    record["hash"] = bundle_verify.record_hash(record)
    found = problems(honest)
    assert len(found) == 1
    assert f"{record['chain_id']}#" in found[0]
    assert "does not link" in found[0] or "checkpoint" in found[0]


def test_missing_link_record_is_named(honest: dict[str, Any]) -> None:
    subject = first_subject(honest)
    later = [r for r in honest["records"] if r["seq"] > subject["seq"]]
    assert later, "the fixture needs link records after the subject"
    honest["records"].remove(later[0])
    found = problems(honest)
    assert any("missing from the bundle" in p for p in found)


def test_forged_checkpoint_signature_is_named(honest: dict[str, Any]) -> None:
    checkpoint = honest["checkpoints"][0]
    head, payload, signature = checkpoint["jws"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    checkpoint["jws"] = f"{head}.{payload}.{flipped}"
    found = problems(honest)
    assert any(p.startswith(f"checkpoint {checkpoint['id']}:") for p in found)


def test_key_swapped_for_an_attackers_is_caught_by_trusted_jwks(
    honest: dict[str, Any], tmp_path: Any, keystore: KeyStore
) -> None:
    from joserfc import jws as jose_jws

    from gateway.keys import jws_registry

    attacker = KeyStore.ensure(tmp_path / "attacker", "ES256")
    key = attacker.active()
    record = first_subject(honest)
    record["partner"] = "forged"
    record["hash"] = bundle_verify.record_hash(record)
    # rebuild the chain after it and re-sign the head with the attacker's key under the same kid
    chain = sorted(
        (r for r in honest["records"] if r["chain_id"] == record["chain_id"]),
        key=lambda r: r["seq"],
    )
    for previous, current in itertools.pairwise(chain):
        current["prev_hash"] = previous["hash"]
        current["hash"] = bundle_verify.record_hash(current)
    checkpoint = honest["checkpoints"][0]
    kid = checkpoint["kid"]
    payload = json.loads(bundle_verify.b64url_decode(checkpoint["jws"].split(".")[1]))
    payload["heads"][record["chain_id"]] = {"seq": chain[-1]["seq"], "hash": chain[-1]["hash"]}
    checkpoint["jws"] = jose_jws.serialize_compact(
        {"alg": "ES256", "kid": kid}, bundle_verify.canonical_json(payload), key.key,
        registry=jws_registry(["ES256"]),
    )  # fmt: skip
    jwk = dict(key.key.as_dict(private=False), kid=kid, alg="ES256", use="sig")
    honest["jwks"] = {"keys": [jwk]}
    forged = json.loads(json.dumps(honest))
    assert verify_bundle(copy.deepcopy(forged)).ok  # self-consistent forgery...
    trusted = keystore.public_jwks()
    found = verify_bundle(forged, trusted_jwks=trusted).problems
    assert found and "signature does not verify" in found[0]  # ...fails with the real keys


def test_export_is_audited_and_needs_a_subject(scenario: Scenario, keystore: KeyStore) -> None:
    ids, dossier = delivered_dossier(scenario, 2)
    result = export_bundle(
        scenario.ctx.engine, keystore, scenario.ctx.audit,
        actor="os:auditor", reason="court request 17", dossier_code=dossier,
    )  # fmt: skip
    (entry,) = scenario.ctx.audit.list(action="export")
    assert (entry.actor, entry.target, entry.reason) == (
        "os:auditor",
        f"dossier:{dossier}",
        "court request 17",
    )
    assert entry.detail["bundle_sha256"] == result.sha256
    by_message = build_bundle(scenario.ctx.engine, keystore, message_id=ids[0])
    assert verify_bundle(by_message).ok
    assert all(r["message_id"] == ids[0] for r in by_message["records"] if r["subject"])
    with pytest.raises(NotFound):
        build_bundle(scenario.ctx.engine, keystore, dossier_code="no-such-dossier")
    with pytest.raises(InvalidInput):
        build_bundle(scenario.ctx.engine, keystore)


def test_records_after_the_last_checkpoint_are_reported_uncovered(
    scenario: Scenario, keystore: KeyStore
) -> None:
    _, _dossier = delivered_dossier(scenario, 2)
    more = scenario.submit(1, prefix="000.00.00.H26-261128")
    # no close: the newest records are after the last checkpoint
    scenario.drain(until=lambda: "000.00.00.H26-261128-0001" in scenario.partner.received)
    view = scenario.ctx.store.get(more[0])
    assert view is not None and view.dossier_code
    report = verify_bundle(
        build_bundle(scenario.ctx.engine, keystore, dossier_code=view.dossier_code)
    )
    assert report.ok and report.covered == [] and len(report.uncovered) == 1


def test_bundle_spanning_several_writer_chains(engine: Any, keystore: KeyStore) -> None:
    """Two processes (chains) wrote about the same dossier; one checkpoint covers both."""
    from gateway.store.evidence import EvidenceEntry, EvidenceLog

    api = EvidenceLog(engine, keystore=keystore, chain_id="api-1")
    worker = EvidenceLog(engine, keystore=keystore, chain_id="worker-1")
    for index in range(3):
        api.append(EvidenceEntry("in", "city", b'{"n": %d}' % index, dossier_code=f"D-{index}"))
        worker.append(EvidenceEntry("out", "portal", b"{}", dossier_code="D-1"))
    api.append(EvidenceEntry("in", "city", b"{}", dossier_code="D-1"))
    worker.close()  # signs its own head and the api chain's
    bundle = build_bundle(engine, keystore, dossier_code="D-1")
    chains = {r["chain_id"] for r in bundle["records"]}
    assert chains == {"api-1", "worker-1"} and len(bundle["checkpoints"]) == 1
    report = verify_bundle(copy.deepcopy(bundle))
    assert report.ok, report.problems
    assert len(report.covered) == 3 + 2 and report.uncovered == []
    del bundle["records"][1]  # api-1#3 (a link between the two api-1 subjects)
    assert problems(bundle) == ["record api-1#4: records #3..#3 are missing from the bundle"]
