"""The port the gateway calls the portal's online payment platform through (a Protocol).

:class:`~adapters.payment.client.PaymentClient` (INIT, QUERY, GET_BILL over JSON POST)
implements it; the composition root builds that one, and tests may pass any other object
with the same methods (a fake platform). The flows depend on this Protocol, never on the
client. It is a :class:`~adapters.payment.reconcile.StatusSource` too (``query``).

Errors (all from :mod:`gateway.domain.errors`): ``InvalidInput`` before anything is sent; ``UpstreamTimeout`` / ``UpstreamUnavailable`` (transient) and
``UpstreamRejected`` (the platform's ``MaLoi``, as
:class:`~adapters.payment.wire.PaymentRefused`) / ``UpstreamMalformed`` (permanent) after.
INIT is never retried by the port (a retry is the caller's decision).
"""

from __future__ import annotations

from typing import Protocol

from adapters.http import NO_CONTEXT, CallContext
from adapters.payment.records import InitResult, PaymentRequest, PaymentStatus


class PaymentPlatform(Protocol):
    def init(
        self,
        request: PaymentRequest,
        context: CallContext = NO_CONTEXT,
        *,
        reference: str | None = None,
    ) -> InitResult:
        """INIT: a new transaction (``MaThamChieu`` fresh, or ``reference``); the checkout URL."""
        ...

    def query(self, reference: str, context: CallContext = NO_CONTEXT) -> PaymentStatus:
        """QUERY: the transaction's status (paid, pending, failed)."""
        ...

    def get_bill(self, reference: str, context: CallContext = NO_CONTEXT) -> bytes:
        """GET_BILL: the receipt PDF of a paid transaction."""
        ...
