"""The operations context: the store, audit trail, transport and signer the ops act on.

What it is for: the composition root builds one from settings for the ops CLI
(:func:`gateway.bootstrap.build_ops`) and one for the API (its admin and message
ports); tests build it from their own engine and transport with
:meth:`OpsContext.build`. Service functions take the pieces they need.

Rules:
- The context holds what it is given; only the composition root builds one from
  settings. No schema is created for it: the database must be at the newest revision
  (``tthc-gateway db upgrade``); the composition root declares the transport's topology.
- The CLI's actor is ``os:<user>`` (the OS account running the command); the API's
  actor is the caller name bound to the API key. Both go into the audit trail.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field

from sqlalchemy import Engine

from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.messaging.port import RetryPolicy, Transport
from gateway.store.audit import AuditTrail
from gateway.store.messages import MessageStore


@dataclass
class OpsContext:
    """What operator actions need; ``close`` releases the transport and the engine."""

    engine: Engine
    store: MessageStore
    audit: AuditTrail
    transport: Transport
    keystore: KeyStore
    signer: EnvelopeSigner
    evidence_key: bytes | None = None
    owns_engine: bool = field(default=True)

    @classmethod
    def build(
        cls,
        engine: Engine,
        transport: Transport,
        keystore: KeyStore,
        *,
        evidence_key: bytes | None = None,
        owns_engine: bool = False,
    ) -> OpsContext:
        return cls(
            engine=engine,
            store=MessageStore(engine),
            audit=AuditTrail(engine),
            transport=transport,
            keystore=keystore,
            signer=EnvelopeSigner(keystore),
            evidence_key=evidence_key,
            owns_engine=owns_engine,
        )

    def close(self) -> None:
        self.transport.close()
        if self.owns_engine:
            self.engine.dispose()


def os_actor() -> str:
    """``os:<user>``: who runs a CLI command (``$SUDO_USER`` first, to name the person)."""
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"os:{user}"


class NoTransport:
    """Stands in when a command does not need the broker; any use is a programming error."""

    retry_policy = RetryPolicy()

    def __getattr__(self, name: str) -> object:
        if name == "close":
            return lambda: None
        raise RuntimeError(f"this command was opened without a transport (used {name!r})")
