"""RFC 3161 on the TSA's side: parse a TimeStampReq, answer a TimeStampResp (pure, no I/O).

What it is for: the TSA mock (:mod:`mocks.tsa.app`); written from RFC 3161 and RFC 5652
(CMS) with ``asn1crypto``, never from the gateway's client, so a mistake on one side is
not mirrored on the other.

Rules:
- A request must be ``version`` 1 with a SHA-256/384/512 ``messageImprint`` of the
  right length; otherwise the answer is ``rejection`` with ``badAlg`` or
  ``badDataFormat`` (a body that is not DER: ``badRequest``). A ``reqPolicy`` other
  than :data:`POLICY` is refused with ``unacceptedPolicy``.
- A granted token is a CMS SignedData over a TSTInfo: the request's imprint and
  nonce, :data:`POLICY`, a serial number that increases, ``genTime`` in UTC with
  microseconds, accuracy 1 s. Signed attributes: content type (id-ct-TSTInfo), message
  digest, signing time, and the ESS ``signingCertificateV2`` (SHA-256 of the TSA
  certificate), which RFC 5816 requires and ``openssl ts -verify`` checks. ECDSA with
  SHA-256. The TSA certificate and its root are included when ``certReq`` is true.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mocks.tsa.certs import TsaIdentity

POLICY = "1.3.6.1.4.1.57264.2.1"  # the mock's policy (an arbitrary private arc)
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


class _Response(core.Sequence):
    """TimeStampResp with the token OPTIONAL, as RFC 3161 has it (asn1crypto's requires it)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class Issued:
    """What the TSA answered: the DER response, and for the mock's state what it stamped."""

    response: bytes
    granted: bool
    serial: int | None = None
    imprint_hex: str | None = None
    failure: str | None = None


def rejection(failure: str, text: str) -> Issued:
    """A ``rejection`` answer with one failure bit (``badAlg``, ``badRequest``...)."""
    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({_failure_name(failure)}),
        }
    )
    return Issued(_Response({"status": status}).dump(), False, failure=failure)


def _failure_name(failure: str) -> str:
    return {
        "badAlg": "bad_alg",
        "badRequest": "bad_request",
        "badDataFormat": "bad_data_format",
        "unacceptedPolicy": "unaccepted_policy",
    }[failure]


def issue(identity: TsaIdentity, request_der: bytes, serial: int, now: datetime) -> Issued:
    """Answer one TimeStampReq (see the module rules)."""
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        version = request["version"].native
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        nonce = request["nonce"].native
        policy = request["req_policy"].native
        cert_req = bool(request["cert_req"].native)
    except (ValueError, TypeError, KeyError):
        return rejection("badRequest", "not a DER TimeStampReq")
    if version != "v1":
        return rejection("badDataFormat", f"version {version!r} is not v1")
    if algorithm not in DIGEST_SIZES:
        return rejection("badAlg", f"hash algorithm {algorithm} is not accepted")
    if len(digest) != DIGEST_SIZES[algorithm]:
        return rejection(
            "badDataFormat", f"a {algorithm} digest is {DIGEST_SIZES[algorithm]} bytes"
        )
    if policy is not None and policy != POLICY:
        return rejection("unacceptedPolicy", f"policy {policy} is not {POLICY}")
    info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": {
                "hash_algorithm": {"algorithm": algorithm},
                "hashed_message": digest,
            },
            "serial_number": serial,
            "gen_time": now.astimezone(UTC),
            "accuracy": {"seconds": 1},
            "nonce": nonce,
            "tsa": x509.GeneralName(
                name="directory_name",
                value=x509.Name.load(identity.certificate.subject.public_bytes()),
            ),
        }
    )
    token = _signed_data(identity, info.dump(), now, cert_req)
    status = tsp.PKIStatusInfo({"status": "granted"})
    response = tsp.TimeStampResp({"status": status, "time_stamp_token": token})
    return Issued(response.dump(), True, serial=serial, imprint_hex=digest.hex())


def _signed_data(
    identity: TsaIdentity, content: bytes, now: datetime, cert_req: bool
) -> cms.ContentInfo:
    certificate_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    certificate = x509.Certificate.load(certificate_der)
    ess = tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": hashlib.sha256(certificate_der).digest(),
                    "issuer_serial": {
                        "issuer": [
                            x509.GeneralName(name="directory_name", value=certificate.issuer)
                        ],
                        "serial_number": certificate.serial_number,
                    },
                }
            ]
        }
    )
    signed_attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]}
            ),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
        ]
    )
    signature = identity.key.sign(signed_attributes.dump(), ec.ECDSA(hashes.SHA256()))
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": certificate.issuer,
                        "serial_number": certificate.serial_number,
                    }
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    certificates = []
    if cert_req:
        root_der = identity.root.public_bytes(serialization.Encoding.DER)
        certificates = [certificate, x509.Certificate.load(root_der)]
    signed_data = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {
            "content_type": "tst_info",
            "content": core.ParsableOctetString(content),
        },
        "signer_infos": [signer],
    }
    if certificates:
        signed_data["certificates"] = certificates
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
