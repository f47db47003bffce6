"""Offline verification of an evidence bundle: needs only the bundle and ``cryptography``.

What it is for: ``tthc-gateway log verify-bundle FILE``, and a third party (an auditor,
a court expert) checking a bundle on a machine without the gateway. This file imports
nothing from the gateway on purpose: copy it next to the bundle and run
``python bundle_verify.py BUNDLE.json [--jwks TRUSTED.json]``. docs/operations.md
states the same procedure in prose, so it can be re-implemented in any language.

The procedure (every failure is reported naming the record or checkpoint):
1. Keys: the bundle's ``jwks`` (or a trusted JWKS given separately, which is what a
   careful verifier does: compare the RFC 7638 thumbprints printed here with the keys
   the gateway publishes at ``/.well-known/jwks.json``).
2. Checkpoints: each ``jws`` is a compact JWS with an attached payload; its header
   ``kid`` must be the checkpoint's ``kid`` and a key of the JWKS; ES256 (P-256,
   r||s) or EdDSA (Ed25519) over ``header "." payload``. The payload is JSON
   ``{"v", "writer", "at", "heads": {chain_id: {"seq", "hash"}}}``.
3. Records: a record's ``hash`` is SHA-256 (hex) of the canonical JSON (keys sorted, no
   spaces, UTF-8, non-ASCII kept) of ``v`` (1), ``chain_id``, ``seq``, ``at``,
   ``direction``, ``partner``, ``message_id``, ``correlation_id``, ``dossier_code``,
   ``body_sha256``, ``body_policy``, ``blob_sha256``, ``signature``, ``prev_hash``.
   Within a chain the bundle holds one contiguous run of sequence numbers; each
   record's ``prev_hash`` is the previous record's ``hash`` (64 zeros before #1).
4. Coverage: a signed head (chain, seq, hash) that falls in a chain's run must equal
   that record's hash; then every record up to it is covered (the links connect it
   to the signed head). Subject records after the last signed head are reported as
   *not yet covered by a checkpoint* (protected by the chain only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

BUNDLE_FORMAT = "tthc-evidence-bundle"
BUNDLE_VERSION = 1
GENESIS = "0" * 64
HASHED_FIELDS = (
    "chain_id", "seq", "at", "direction", "partner", "message_id", "correlation_id",
    "dossier_code", "body_sha256", "body_policy", "blob_sha256", "signature", "prev_hash",
)  # fmt: skip

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def record_hash(record: dict[str, Any]) -> str:
    """Step 3: the hash a record must carry."""
    fields = {name: record.get(name) for name in HASHED_FIELDS}
    fields["v"] = 1
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an EC or OKP public key."""
    members = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("crv", "kty", "x")
    return b64url_encode(hashlib.sha256(canonical_json({m: jwk[m] for m in members})).digest())


def load_key(jwk: dict[str, Any]) -> tuple[str, PublicKey]:
    """(algorithm, key) of a JWKS entry; ValueError naming what is unsupported."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv == "P-256":
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return "ES256", ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    raise ValueError(f"unsupported key type {kty}/{crv}")


def verify_jws(
    compact: str, keys: dict[str, tuple[str, PublicKey]]
) -> tuple[dict[str, Any], bytes]:
    """Step 2: (header, payload) of a verified compact JWS; ValueError saying why not."""
    parts = compact.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(b64url_decode(parts[0]))
    kid, alg = header.get("kid"), header.get("alg")
    if kid not in keys:
        raise ValueError(f"key {kid!r} is not in the JWKS")
    key_alg, key = keys[kid]
    if alg != key_alg:
        raise ValueError(f"algorithm {alg!r} is not the key's ({key_alg})")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    signature = b64url_decode(parts[2])
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise ValueError("ES256 signature is not 64 bytes")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, signed)
    except InvalidSignature:
        raise ValueError(f"signature does not verify with key {kid}") from None
    return header, b64url_decode(parts[1])


@dataclass
class BundleReport:
    """The outcome: ``ok`` when nothing failed; ``uncovered`` are warnings."""

    problems: list[str] = field(default_factory=list)
    subject_records: list[dict[str, Any]] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    checkpoints: int = 0
    thumbprints: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _keys(jwks: Any, report: BundleReport) -> dict[str, tuple[str, PublicKey]]:
    keys: dict[str, tuple[str, PublicKey]] = {}
    for index, jwk in enumerate(jwks.get("keys", []) if isinstance(jwks, dict) else []):
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            keys[str(kid)] = load_key(jwk)
            report.thumbprints[str(kid)] = jwk_thumbprint(jwk)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            report.problems.append(f"jwks key #{index} ({kid}): unusable ({error})")
    return keys


def _signed_heads(
    bundle: dict[str, Any], keys: dict[str, tuple[str, PublicKey]], report: BundleReport
) -> dict[str, list[tuple[int, str, Any]]]:
    heads: dict[str, list[tuple[int, str, Any]]] = {}
    for checkpoint in bundle.get("checkpoints", []):
        report.checkpoints += 1
        name = f"checkpoint {checkpoint.get('id')}"
        try:
            header, payload = verify_jws(str(checkpoint.get("jws", "")), keys)
            if header.get("kid") != checkpoint.get("kid"):
                raise ValueError(
                    f"signed by {header.get('kid')!r}, listed as {checkpoint.get('kid')!r}"
                )
            content = json.loads(payload)
            for chain_id, head in content["heads"].items():
                heads.setdefault(chain_id, []).append(
                    (int(head["seq"]), str(head["hash"]), checkpoint.get("id"))
                )
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            report.problems.append(f"{name}: {error}")
    return heads


def _check_chain(
    chain_id: str,
    records: list[dict[str, Any]],
    heads: list[tuple[int, str, Any]],
    report: BundleReport,
) -> int:
    """Steps 3-4 for one chain; returns the highest covered sequence number (0: none)."""
    previous: dict[str, Any] | None = None
    for record in records:
        seq = record["seq"]
        name = f"record {chain_id}#{seq}"
        if record_hash(record) != record.get("hash"):
            report.problems.append(f"{name}: content does not match its hash (altered)")
            return 0
        if previous is None:
            if seq == 1 and record.get("prev_hash") != GENESIS:
                report.problems.append(f"{name}: first record does not start from genesis")
                return 0
        elif seq != previous["seq"] + 1:
            report.problems.append(
                f"{name}: records #{previous['seq'] + 1}..#{seq - 1} are missing from the bundle"
            )
            return 0
        elif record.get("prev_hash") != previous["hash"]:
            report.problems.append(f"{name}: prev_hash does not link to record #{previous['seq']}")
            return 0
        previous = record
    by_seq = {r["seq"]: r["hash"] for r in records}
    covered = 0
    for seq, digest, checkpoint_id in heads:
        if seq not in by_seq:
            continue
        if by_seq[seq] != digest:
            report.problems.append(
                f"record {chain_id}#{seq}: hash differs from the one checkpoint {checkpoint_id} signed"
            )
            return 0
        covered = max(covered, seq)
    return covered


def verify_bundle(bundle: Any, *, trusted_jwks: dict[str, Any] | None = None) -> BundleReport:
    """Verify a parsed bundle (see the module procedure)."""
    report = BundleReport()
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        report.problems.append(f"not an evidence bundle (format is not {BUNDLE_FORMAT!r})")
        return report
    if bundle.get("version") != BUNDLE_VERSION:
        report.problems.append(f"bundle version {bundle.get('version')!r} is not {BUNDLE_VERSION}")
        return report
    keys = _keys(trusted_jwks if trusted_jwks is not None else bundle.get("jwks"), report)
    heads = _signed_heads(bundle, keys, report)
    chains: dict[str, list[dict[str, Any]]] = {}
    try:
        for record in bundle.get("records", []):
            chains.setdefault(str(record["chain_id"]), []).append(record)
            record["seq"] = int(record["seq"])
    except (KeyError, TypeError, ValueError) as error:
        report.problems.append(f"records: malformed ({error})")
        return report
    subject = bundle.get("subject", {})
    for chain_id, records in sorted(chains.items()):
        records.sort(key=lambda r: r["seq"])
        covered = _check_chain(chain_id, records, heads.get(chain_id, []), report)
        for record in records:
            if not record.get("subject"):
                continue
            name = f"record {chain_id}#{record['seq']}"
            for key in ("dossier_code", "message_id"):
                if subject.get(key) is not None and record.get(key) != subject[key]:
                    report.problems.append(f"{name}: {key} is not the bundle's subject")
            report.subject_records.append(record)
            (report.covered if record["seq"] <= covered else report.uncovered).append(name)
    if not report.subject_records and not report.problems:
        report.problems.append("the bundle holds no subject record")
    return report


def main(argv: list[str]) -> int:
    """``python bundle_verify.py BUNDLE [--jwks TRUSTED_JWKS]``: exit 0 ok, 1 not."""
    if not argv or len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--jwks"):
        print("usage: bundle_verify.py BUNDLE.json [--jwks TRUSTED_JWKS.json]", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as handle:
        bundle = json.loads(handle.read())
    trusted = None
    if len(argv) == 3:
        with open(argv[2], "rb") as handle:
            trusted = json.loads(handle.read())
    report = verify_bundle(bundle, trusted_jwks=trusted)
    for kid, thumbprint in sorted(report.thumbprints.items()):
        print(f"key {kid}: thumbprint {thumbprint}")
    for name in report.uncovered:
        print(f"warning: {name}: not yet covered by a checkpoint (chain only)")
    for problem in report.problems:
        print(f"FAIL: {problem}")
    verdict = "OK" if report.ok else "NOT VERIFIED"
    print(
        f"{verdict}: {len(report.subject_records)} subject records, {len(report.covered)} covered "
        f"by {report.checkpoints} checkpoints, {len(report.problems)} problems"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
