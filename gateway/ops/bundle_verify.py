"""Offline verification of an evidence bundle: needs only the bundle and ``cryptography``
(and ``rfc3161-client`` to check time-stamp tokens; without it they are only listed).

What it is for: ``tthc-gateway log verify-bundle FILE``, and a third party (an auditor,
a court expert) checking a bundle on a machine without the gateway. This file imports
nothing from the gateway on purpose: copy it next to the bundle and run
``python bundle_verify.py BUNDLE.json [--jwks TRUSTED.json] [--tsa TSA.pem]``.
docs/operations.md states the same procedure in prose, so it can be re-implemented in
any language.

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
5. Time-stamps (version 2): a checkpoint's hash is the SHA-256 (hex) of its compact
   JWS; a version 2 payload has ``prev``, the hash of the checkpoint before it. Each
   ``timestamps`` token is an RFC 3161 TimeStampResp (DER, base64) whose imprint must
   be its checkpoint's hash and whose signature must chain to the TSA certificates
   (``--tsa``, else the bundle's ``tsa_certificates``); the same check is
   ``openssl ts -verify -digest HASH -in token.tsr -CAfile TSA.pem``. A token dates its
   checkpoint and, through ``prev`` links between consecutive checkpoints of the
   bundle, the ones before it. A covered subject record is *time-stamped* when one of
   the checkpoints covering it is dated; otherwise it is reported as *not yet
   time-stamped*.
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

try:  # optional: checks RFC 3161 tokens (without it they are listed, not checked)
    import rfc3161_client
    from cryptography import x509
except ImportError:  # pragma: no cover - the gateway always has it
    rfc3161_client = None  # type: ignore[assignment]

BUNDLE_FORMAT = "tthc-evidence-bundle"
BUNDLE_VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    stamped: list[str] = field(default_factory=list)
    unstamped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tokens: int = 0

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


@dataclass(frozen=True)
class _Checkpoint:
    id: int
    hash: str
    prev: str | None


def _signed_heads(
    bundle: dict[str, Any], keys: dict[str, tuple[str, PublicKey]], report: BundleReport
) -> tuple[dict[str, list[tuple[int, str, Any]]], list[_Checkpoint]]:
    heads: dict[str, list[tuple[int, str, Any]]] = {}
    valid: list[_Checkpoint] = []
    for checkpoint in bundle.get("checkpoints", []):
        report.checkpoints += 1
        name = f"checkpoint {checkpoint.get('id')}"
        try:
            compact = str(checkpoint.get("jws", ""))
            header, payload = verify_jws(compact, keys)
            if header.get("kid") != checkpoint.get("kid"):
                raise ValueError(
                    f"signed by {header.get('kid')!r}, listed as {checkpoint.get('kid')!r}"
                )
            content = json.loads(payload)
            for chain_id, head in content["heads"].items():
                heads.setdefault(chain_id, []).append(
                    (int(head["seq"]), str(head["hash"]), checkpoint.get("id"))
                )
            digest = hashlib.sha256(compact.encode("ascii")).hexdigest()
            valid.append(_Checkpoint(int(checkpoint["id"]), digest, content.get("prev")))
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            report.problems.append(f"{name}: {error}")
    return heads, sorted(valid, key=lambda c: c.id)


def _tsa_roots(pem: bytes | None, report: BundleReport) -> list[Any]:
    if pem is None or rfc3161_client is None:
        return []
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        report.problems.append(f"tsa certificates: unreadable ({error})")
        return []
    return list(certificates)


def _dated_checkpoints(
    bundle: dict[str, Any], valid: list[_Checkpoint], tsa_pem: bytes | None, report: BundleReport
) -> dict[int, tuple[str, int]]:
    """Step 5: checkpoint id -> (genTime, id of the stamped checkpoint that dates it)."""
    by_id = {c.id: c for c in valid}
    roots = _tsa_roots(tsa_pem, report)
    stamped: dict[int, str] = {}
    for item in bundle.get("timestamps", []) or []:
        checkpoint_id = item.get("checkpoint_id")
        name = f"time-stamp on checkpoint {checkpoint_id}"
        checkpoint = by_id.get(checkpoint_id)
        if checkpoint is None:
            report.problems.append(f"{name}: no valid checkpoint {checkpoint_id} in the bundle")
            continue
        if rfc3161_client is None or not roots:
            report.notes.append(
                f"{name}: not checked here ({'no TSA certificates' if rfc3161_client else 'rfc3161-client is not installed'});"
                f" openssl ts -verify -digest {checkpoint.hash} -in token.tsr -CAfile TSA.pem"
            )
            continue
        try:
            response = rfc3161_client.decode_timestamp_response(base64.b64decode(item["token"]))
            builder = rfc3161_client.VerifierBuilder()
            for root in roots:
                builder = builder.add_root_certificate(root)
            builder.build().verify(response, bytes.fromhex(checkpoint.hash))
        except (
            ValueError,
            KeyError,
            TypeError,
            binascii.Error,
            rfc3161_client.VerificationError,
        ) as error:
            report.problems.append(f"{name}: does not verify ({error})")
            continue
        report.tokens += 1
        stamped[checkpoint.id] = response.tst_info.gen_time.isoformat()
    dated: dict[int, tuple[str, int]] = {}
    later: tuple[str, int] | None = None
    for index in range(len(valid) - 1, -1, -1):
        checkpoint = valid[index]
        if checkpoint.id in stamped:
            later = (stamped[checkpoint.id], checkpoint.id)
        elif later is not None:
            following = valid[index + 1]
            if following.prev != checkpoint.hash:
                later = None  # the run is broken: a later token does not date this one
        if later is not None:
            dated[checkpoint.id] = later
    return dated


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


def verify_bundle(
    bundle: Any,
    *,
    trusted_jwks: dict[str, Any] | None = None,
    trusted_tsa: bytes | None = None,
) -> BundleReport:
    """Verify a parsed bundle (see the module procedure)."""
    report = BundleReport()
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        report.problems.append(f"not an evidence bundle (format is not {BUNDLE_FORMAT!r})")
        return report
    if bundle.get("version") not in READABLE_VERSIONS:
        report.problems.append(
            f"bundle version {bundle.get('version')!r} is not one of {READABLE_VERSIONS}"
        )
        return report
    keys = _keys(trusted_jwks if trusted_jwks is not None else bundle.get("jwks"), report)
    heads, valid = _signed_heads(bundle, keys, report)
    own_tsa = bundle.get("tsa_certificates")
    tsa_pem = trusted_tsa if trusted_tsa is not None else (own_tsa.encode() if own_tsa else None)
    dated = _dated_checkpoints(bundle, valid, tsa_pem, report)
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
        chain_heads = heads.get(chain_id, [])
        covered = _check_chain(chain_id, records, chain_heads, report)
        run = {r["seq"] for r in records}
        for record in records:
            if not record.get("subject"):
                continue
            name = f"record {chain_id}#{record['seq']}"
            for key in ("dossier_code", "message_id"):
                if subject.get(key) is not None and record.get(key) != subject[key]:
                    report.problems.append(f"{name}: {key} is not the bundle's subject")
            report.subject_records.append(record)
            (report.covered if record["seq"] <= covered else report.uncovered).append(name)
            if record["seq"] > covered:
                continue
            dates = sorted(
                dated[cid]
                for seq, _, cid in chain_heads
                if seq >= record["seq"] and seq in run and cid in dated
            )
            if dates:
                when, by = dates[0]
                report.stamped.append(f"{name}: existed by {when} (token on checkpoint {by})")
            else:
                report.unstamped.append(name)
    if not report.subject_records and not report.problems:
        report.problems.append("the bundle holds no subject record")
    return report


def main(argv: list[str]) -> int:
    """``python bundle_verify.py BUNDLE [--jwks TRUSTED_JWKS] [--tsa TSA.pem]``: exit 0 ok, 1 not."""
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    if not argv or len(argv) % 2 != 1 or set(options) - {"--jwks", "--tsa"}:
        print("usage: bundle_verify.py BUNDLE.json [--jwks TRUSTED_JWKS.json] [--tsa TSA.pem]",
              file=sys.stderr)  # fmt: skip
        return 2
    with open(argv[0], "rb") as handle:
        bundle = json.loads(handle.read())
    trusted = None
    if "--jwks" in options:
        with open(options["--jwks"], "rb") as handle:
            trusted = json.loads(handle.read())
    tsa = None
    if "--tsa" in options:
        with open(options["--tsa"], "rb") as handle:
            tsa = handle.read()
    report = verify_bundle(bundle, trusted_jwks=trusted, trusted_tsa=tsa)
    for kid, thumbprint in sorted(report.thumbprints.items()):
        print(f"key {kid}: thumbprint {thumbprint}")
    for line in report.stamped:
        print(f"time-stamped: {line}")
    for name in report.uncovered:
        print(f"warning: {name}: not yet covered by a checkpoint (chain only)")
    for name in report.unstamped:
        print(f"warning: {name}: not yet time-stamped")
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"FAIL: {problem}")
    verdict = "OK" if report.ok else "NOT VERIFIED"
    print(
        f"{verdict}: {len(report.subject_records)} subject records, {len(report.covered)} covered "
        f"by {report.checkpoints} checkpoints, {len(report.stamped)} time-stamped,"
        f" {len(report.problems)} problems"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
