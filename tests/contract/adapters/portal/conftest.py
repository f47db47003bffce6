"""Fixtures of the portal contract tests (defined in ``portal_harness``, a unique name:
test modules import helpers from it, never from ``conftest``, which other directories share)."""

from __future__ import annotations

from portal_harness import (  # noqa: F401
    binding,
    portal,
    rest_portal,
    served_mock,
    soap_portal,
    transport,
)
