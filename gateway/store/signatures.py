"""What the evidence log needs of the gateway's keys: sign a checkpoint, verify one.

The store holds no keys and imports nothing from ``gateway.keys`` (design.md, "Target
shape"): the composition root hands the evidence log something that keeps these two
promises (``gateway.keys.KeyStore`` does).

Rules:
- ``sign_checkpoint(payload)`` answers ``(kid, compact JWS)`` over exactly ``payload``
  with the active key, the JWS header's ``typ`` being ``tthc-checkpoint``.
- ``verify_checkpoint(jws, kid)`` answers the signed payload's bytes, or raises
  ``ValueError`` whose text says why (``unknown key …``, ``does not verify (…)``): a kid
  it does not hold, a bad signature, or a header ``kid`` other than ``kid``.
"""

from __future__ import annotations

from typing import Protocol


class CheckpointSigner(Protocol):
    def sign_checkpoint(self, payload: bytes) -> tuple[str, str]:
        """``(kid, compact JWS)`` over ``payload`` with the active key."""
        ...


class CheckpointVerifier(Protocol):
    def verify_checkpoint(self, compact: str, kid: str) -> bytes:
        """The payload ``compact`` signs under ``kid``; ``ValueError`` saying why not."""
        ...
