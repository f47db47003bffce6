"""What the store knows of a message (events, ledger claims): for a failing test's report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from gateway.store.schema import message_events, messages, processed


def statuses(engine: Engine, ids: set[str]) -> dict[str, str]:
    """``message id -> status`` for the ``ids`` the store has."""
    with engine.connect() as connection:
        rows = connection.execute(select(messages.c.id, messages.c.status)).all()
    return {row.id: row.status for row in rows if row.id in ids}


def story_of(engine: Engine, message_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        events = connection.execute(
            select(message_events.c.event, message_events.c.detail)
            .where(message_events.c.message_id == message_id)
            .order_by(message_events.c.id)
        ).all()
        claims = connection.execute(
            select(processed.c.consumer, processed.c.state, processed.c.claims).where(
                processed.c.message_id == message_id
            )
        ).all()
    return {"events": [tuple(e) for e in events], "ledger": [tuple(c) for c in claims]}


def delivery_report(engine: Engine, ids: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(not handled, handled but not on the timeline)`` among ``ids``, with their stories.

    The second kind must stay empty: when the store goes away after a batch's ledger
    completions are committed and before its timeline is written, the redelivered copies
    find their claims ``done``, and the worker then records ``delivered`` and the evidence
    it had not written (the partner got the message once).
    """
    found = statuses(engine, ids)
    missing = {mid: {"status": None} for mid in ids - set(found)}
    not_delivered = {mid: story_of(engine, mid) for mid, s in found.items() if s != "delivered"}
    lost = {
        mid: story
        for mid, story in not_delivered.items()
        if story["ledger"] and all(state == "done" for _, state, _ in story["ledger"])
    }
    unhandled = {**missing, **{m: s for m, s in not_delivered.items() if m not in lost}}
    return unhandled, lost


def delivered_count(engine: Engine, ids: set[str]) -> int:
    """How many of ``ids`` were handled (delivered, or their ledger claim is done)."""
    unhandled, _ = delivery_report(engine, ids)
    return len(ids) - len(unhandled)


def settled(engine: Engine, ids: set[str]) -> bool:
    """Every message handled and recorded delivered (a repair on redelivery included)."""
    unhandled, lost = delivery_report(engine, ids)
    return not unhandled and not lost


TIMELINE_LOST = (
    "handled (ledger done) but not recorded delivered: a cut between a batch's ledger "
    "completion and its timeline write was not repaired on redelivery"
)
