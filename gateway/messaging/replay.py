"""Replay of a parked message, transport side: publish the new copy first, then unpark.

The ops tool (``tthc-gateway replay``) re-signs the parked envelope (a new envelope carrying
``replay_of``), records the replay in the store and the audit trail; this module only does the
two transport steps in the one safe order:

1. publish the re-signed copy and wait for the broker's confirm;
2. only then remove the parked copy (:meth:`Transport.take_parked`).

A crash between the two leaves both copies (the parked one can be replayed again or taken
away); it never loses the message.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.errors import NotFound
from gateway.domain.messages import Envelope
from gateway.messaging.port import ParkedMessage, Transport


def find_parked(transport: Transport, message_id: str, limit: int = 10_000) -> ParkedMessage:
    for parked in transport.list_parked(limit):
        if parked.envelope.message_id == message_id:
            return parked
    raise NotFound(f"message {message_id} is not parked")


def replay_parked(
    transport: Transport,
    message_id: str,
    resign: Callable[[ParkedMessage], Envelope],
) -> Envelope:
    """Publish ``resign(parked)`` with confirm, then take the parked copy; returns the new one."""
    parked = find_parked(transport, message_id)
    replacement = resign(parked)
    transport.publish([replacement])
    transport.take_parked(message_id)
    return replacement
