"""The operations context: the store, audit trail, transport and signer the ops act on.

What it is for: the CLI builds one :class:`OpsContext` from settings with
:func:`open_context`; the API builds it once in the composition root; tests build it
from their own engine and transport. Service functions take the pieces they need.

Rules:
- No schema is created here: the database must be at the newest revision
  (``tthc-gateway db upgrade``); the transport's topology is declared (idempotent).
- The CLI's actor is ``os:<user>`` (the OS account running the command); the API's
  actor is the caller name bound to the API key. Both go into the audit trail.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Engine

from gateway.envelope import EnvelopeSigner
from gateway.keys import KeyStore
from gateway.messaging.port import RetryPolicy, Transport
from gateway.store.audit import AuditTrail
from gateway.store.db import make_engine
from gateway.store.messages import MessageStore

if TYPE_CHECKING:
    from gateway.settings_model import Settings


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


def make_transport(settings: Settings, engine: Engine) -> Transport:
    """The configured transport (one place maps the ``broker`` section: messaging.factory)."""
    from gateway.messaging.factory import make_transport as build

    return build(settings.broker, engine)


def evidence_key_of(settings: Settings) -> bytes | None:
    import base64

    raw = settings.evidence.encryption_key.get_secret_value()
    return base64.b64decode(raw) if raw else None


def open_context(settings: Settings, *, with_transport: bool = True) -> OpsContext:
    """Wire an :class:`OpsContext` from settings (for the CLI; the lead folds it into
    ``gateway.bootstrap``). ``with_transport=False`` skips connecting to the broker
    (read-only commands: ``messages``, ``log``)."""
    url = settings.database.effective_url(settings.var_dir)
    engine = make_engine(url, pool_size=settings.database.pool_size)
    keystore = KeyStore(
        settings.keys.directory,
        settings.keys.algorithm,
        timedelta(days=settings.keys.retention_days),
    )
    transport: Transport = (
        make_transport(settings, engine) if with_transport else cast(Transport, _NoTransport())
    )
    if with_transport:
        transport.declare()  # idempotent; a replay must not be refused as unroutable
    return OpsContext.build(
        engine,
        transport,
        keystore,
        evidence_key=evidence_key_of(settings),
        owns_engine=True,
    )


def os_actor() -> str:
    """``os:<user>``: who runs a CLI command (``$SUDO_USER`` first, to name the person)."""
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"os:{user}"


class _NoTransport:
    """Stands in when a command does not need the broker; any use is a programming error."""

    retry_policy = RetryPolicy()

    def __getattr__(self, name: str) -> object:
        if name == "close":
            return lambda: None
        raise RuntimeError(f"this command was opened without a transport (used {name!r})")
