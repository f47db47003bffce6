"""What an adapter hands to the evidence log for every call and answer (a port).

Rules:
- Adapters never write the evidence log themselves: they call an
  :class:`ExchangeRecorder` given to them by the composition root.
- ``direction`` is ``out`` for what the gateway sends, ``in`` for what it receives.
- ``personal`` marks a body that carries personal data (population answers, citizen
  queries): the evidence log stores it encrypted or as a digest only, never in clear.
- A recorder must not raise into the adapter for a body it cannot store; it logs
  and keeps the digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class Exchange:
    partner: str
    operation: str
    direction: Direction
    body: bytes
    correlation_id: str = ""
    message_id: str = ""
    dossier_code: str = ""
    personal: bool = False
    status: int | None = None


class ExchangeRecorder(Protocol):
    def record(self, exchange: Exchange) -> None: ...
