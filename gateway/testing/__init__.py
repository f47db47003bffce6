"""Fakes and test helpers shipped with the package, so tests read as scenarios (like
``structlog.testing``). Production code never imports this package.

    LocalStack, local_stack             gateway.testing.stack      migrated SQLite, real keys
    Scenario                            gateway.testing.scenario   worker + relay, fake partner
    FakePartner, FakePaymentPlatform,   gateway.testing.partners   fake partners, sample records
    CITIZEN, VN, sample_dossier,
    sample_progress
    ListRecorder                        gateway.testing.recorders  exchanges kept in memory
    NullRecorder                        gateway.testing.recorders  exchanges dropped
    InMemoryLedger                      gateway.testing.ledgers    a payment ledger in memory
"""

from __future__ import annotations

from gateway.testing.stack import LocalStack, local_stack

__all__ = ["LocalStack", "local_stack"]
