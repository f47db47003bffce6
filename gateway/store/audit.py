"""The operator audit trail: who did what to which message, when and why.

What it is for: replays, manual parks, key rotations and other operator actions leave
a trace that cannot be edited afterwards.

Rules:
- Append-only: this module only INSERTs and SELECTs; the schema adds triggers that
  refuse UPDATE and DELETE on ``audit`` in both databases.
- ``reason`` is required (an operator action without a stated reason is refused).
- ``detail`` is a JSON object for structured extras; it must not carry personal data
  in clear (mask identifiers first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, select

from gateway.domain.errors import InvalidInput
from gateway.store.db import read_tx, utcnow, write_tx
from gateway.store.schema import audit


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


class AuditTrail:
    """Append-only operator audit trail on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        actor: str,
        action: str,
        target: str,
        reason: str,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry and return it."""
        for name, value in (("actor", actor), ("action", action), ("target", target)):
            if not value or not value.strip():
                raise InvalidInput(f"audit: {name} is required", field=name)
        if not reason or not reason.strip():
            raise InvalidInput(
                "audit: a reason is required for every operator action", field="reason"
            )
        now = utcnow()
        with write_tx(self.engine) as connection:
            result = connection.execute(
                audit.insert().values(
                    at=now,
                    actor=actor,
                    action=action,
                    target=target,
                    reason=reason,
                    detail=detail or {},
                )
            )
            assert result.inserted_primary_key is not None
            entry_id = int(result.inserted_primary_key[0])
        return AuditEntry(entry_id, now, actor, action, target, reason, dict(detail or {}))

    def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries newest first, filtered."""
        conditions = []
        if actor is not None:
            conditions.append(audit.c.actor == actor)
        if action is not None:
            conditions.append(audit.c.action == action)
        if target is not None:
            conditions.append(audit.c.target == target)
        if since is not None:
            conditions.append(audit.c.at >= since)
        query = select(audit)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(audit.c.id.desc()).limit(limit)
        with read_tx(self.engine) as connection:
            return [
                AuditEntry(
                    int(row["id"]),
                    row["at"],
                    row["actor"],
                    row["action"],
                    row["target"],
                    row["reason"],
                    dict(row["detail"] or {}),
                )
                for row in connection.execute(query).mappings()
            ]
