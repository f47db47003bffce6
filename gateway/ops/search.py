"""Searching messages for operators: the filter as SQL, a page, and the total.

What it is for: ``messages list``, ``GET /v1/admin/messages`` (``total`` in the page).

Rules:
- ``error`` matches case-insensitively on every database (the contract says so;
  ``LIKE`` alone is case-sensitive on PostgreSQL), with ``%``/``_`` taken literally.
- Newest first, ties broken by id; page with ``offset`` or, stable under writes, with
  ``before`` = (created_at, message_id) of the previous page's last item.
- Views come with their timelines (one query per message; pages are small).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, select, tuple_

from gateway.domain.errors import InvalidInput
from gateway.ops.messages import MessageFilter
from gateway.store.db import read_tx
from gateway.store.messages import MessageStore, MessageView
from gateway.store.schema import messages

MAX_PAGE = 1000


def _conditions(flt: MessageFilter) -> list[Any]:
    conditions: list[Any] = []
    for column, value in (
        (messages.c.status, flt.status),
        (messages.c.type, flt.type),
        (messages.c.partner, flt.partner),
        (messages.c.dossier_code, flt.dossier_code),
    ):
        if value is not None:
            conditions.append(column == value)
    if flt.since is not None:
        conditions.append(messages.c.created_at >= flt.since)
    if flt.until is not None:
        conditions.append(messages.c.created_at < flt.until)
    if flt.error_contains:
        conditions.append(messages.c.last_error.icontains(flt.error_contains, autoescape=True))
    return conditions


def list_messages(
    store: MessageStore,
    flt: MessageFilter,
    *,
    limit: int = 50,
    offset: int = 0,
    before: tuple[datetime, str] | None = None,
) -> list[MessageView]:
    """Messages newest first matching ``flt``, with timelines."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit: must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset: must not be negative", field="offset")
    conditions = _conditions(flt)
    if before is not None:
        conditions.append(tuple_(messages.c.created_at, messages.c.id) < tuple_(*before))
    query = select(messages.c.id)
    if conditions:
        query = query.where(and_(*conditions))
    query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc())
    with read_tx(store.engine) as connection:
        ids = list(connection.execute(query.limit(limit).offset(offset)).scalars())
    views = [store.get(message_id) for message_id in ids]
    return [view for view in views if view is not None]


def count_messages(engine: Engine, flt: MessageFilter) -> int:
    """How many messages match ``flt`` (the page's ``total``)."""
    query = select(func.count()).select_from(messages)
    conditions = _conditions(flt)
    if conditions:
        query = query.where(and_(*conditions))
    with read_tx(engine) as connection:
        return int(connection.execute(query).scalar_one())
