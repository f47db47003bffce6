"""Consumer plumbing shared by both transports: batch/single handler adaptation.

Rules:
- A batch handler returns exactly one disposition per delivery, in order; anything else is a
  programming error and the whole batch is returned to the queue (not acked).
- Retry/park copies are written (and confirmed) before the original is acknowledged, so a crash
  in between can only duplicate a message, never lose it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.messaging.port import BatchHandler, Delivery, Disposition, Handler


def run_single(handler: Handler) -> BatchHandler:
    """Adapt a one-delivery handler to the batch interface."""

    def batch_handler(deliveries: Sequence[Delivery]) -> list[Disposition]:
        return [handler(delivery) for delivery in deliveries]

    return batch_handler


def apply_batch(
    deliveries: Sequence[Delivery],
    handler: BatchHandler,
    republish: Callable[[Delivery, Disposition], None],
) -> list[Disposition]:
    """Run ``handler`` on ``deliveries`` and republish every non-ack (retry tier or parked)."""
    dispositions = list(handler(deliveries))
    if len(dispositions) != len(deliveries):
        raise RuntimeError(
            f"batch handler returned {len(dispositions)} dispositions for {len(deliveries)} deliveries"
        )
    for delivery, disposition in zip(deliveries, dispositions, strict=True):
        if disposition.action != "ack":
            republish(delivery, disposition)
    return dispositions
