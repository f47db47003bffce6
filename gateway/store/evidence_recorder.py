"""The adapters' :class:`~gateway.domain.exchange.ExchangeRecorder` on the evidence log.

What it is for: every partner client hands each request and answer to an
``ExchangeRecorder`` (:mod:`gateway.domain.exchange`); this one appends them to the
process's own evidence chain (:class:`~gateway.store.evidence.EvidenceLog`). The
composition root builds one per process and gives it to every partner's HTTP.

Rules:
- One evidence record per exchange, with its direction, partner, message id,
  correlation id and dossier code (empty ones stored as NULL).
- Personal bodies (``Exchange.personal``) are stored AES-GCM encrypted when an
  evidence key is configured, otherwise as digests only; other bodies as digests
  (their hash proves what crossed). Never in clear.
"""

from __future__ import annotations

from gateway.domain.exchange import Exchange
from gateway.store.evidence import EvidenceEntry, EvidenceLog
from gateway.store.evidence_format import BodyPolicy


class EvidenceRecorder:
    """Adapters' :class:`ExchangeRecorder` on this process's evidence chain (see the rules)."""

    def __init__(self, evidence: EvidenceLog, *, can_encrypt: bool) -> None:
        self._evidence = evidence
        self._can_encrypt = can_encrypt

    def record(self, exchange: Exchange) -> None:
        policy: BodyPolicy = "encrypted" if exchange.personal and self._can_encrypt else "digest"
        self._evidence.append(
            EvidenceEntry(
                direction=exchange.direction,
                partner=exchange.partner,
                body=exchange.body,
                message_id=exchange.message_id or None,
                correlation_id=exchange.correlation_id or None,
                dossier_code=exchange.dossier_code or None,
                body_policy=policy,
            )
        )
