"""The store side of the gateway on a fresh database, for tests.

:func:`local_stack` builds it on a fresh SQLite file (migrated), with a real key store,
signer, verifier, message store and evidence log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from gateway.envelope import EnvelopeSigner, EnvelopeVerifier
from gateway.keys import KeyStore
from gateway.store.db import make_engine, upgrade
from gateway.store.evidence import EvidenceLog
from gateway.store.messages import MessageStore


@dataclass
class LocalStack:
    engine: Engine
    keystore: KeyStore
    signer: EnvelopeSigner
    verifier: EnvelopeVerifier
    store: MessageStore
    evidence: EvidenceLog


def local_stack(tmp_path: Path, url: str | None = None) -> LocalStack:
    """A migrated database (SQLite under ``tmp_path`` unless ``url``) and real keys."""
    url = url or f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    keystore = KeyStore.ensure(tmp_path / "keys", "ES256", timedelta(days=30))
    return LocalStack(
        engine=engine,
        keystore=keystore,
        signer=EnvelopeSigner(keystore),
        verifier=EnvelopeVerifier(
            keystore,
            allowed_algorithms=("ES256", "EdDSA"),
            max_age=timedelta(days=1),
            clock_skew=timedelta(seconds=60),
        ),
        store=MessageStore(engine),
        evidence=EvidenceLog(engine, keystore=keystore, encryption_key=b"k" * 32),
    )
