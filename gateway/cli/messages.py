"""``messages list|show|reconcile``: find and inspect messages.

Rules:
- Commands call the service functions of :mod:`gateway.ops`; nothing here decides
  anything an API caller could not decide the same way.
- The actor is the OS user (``os:<user>``); ``--reason`` is required for ``--reveal``.
- Exit codes: 0 done; 1 not found / a check failed (``reconcile`` while the parked queue
  and the store disagree); 2 bad arguments or configuration.
- Heavy modules are imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli._common import database_errors, fail, filter_or_exit, load

if TYPE_CHECKING:
    from gateway.ops.messages import MessageDetail
    from gateway.store.messages import MessageView

messages_app = typer.Typer(no_args_is_help=True, help="Find and inspect messages.")

Opt = typer.Option


@messages_app.command("list")
def messages_list(
    status: Annotated[
        str | None, Opt(help="accepted|published|delivered|retrying|parked|...")
    ] = None,
    type_: Annotated[
        str | None, Opt("--type", help="message type, e.g. portal.dossier.sync")
    ] = None,
    partner: Annotated[str | None, Opt(help="partner, e.g. portal")] = None,
    dossier: Annotated[str | None, Opt(help="dossier code (MaHoSo)")] = None,
    since: Annotated[str | None, Opt(help="ISO time or age (30m, 2h, 1d)")] = None,
    until: Annotated[str | None, Opt(help="ISO time or age")] = None,
    error: Annotated[str | None, Opt(help="text the last error contains")] = None,
    limit: Annotated[int, Opt(min=1, max=1000)] = 50,
    as_json: Annotated[bool, Opt("--json", help="one JSON object per line")] = False,
) -> None:
    """Messages newest first, filtered (a table, or JSON lines with --json)."""
    from gateway.bootstrap import build_ops
    from gateway.ops.messages import MessageFilter, message_to_json
    from gateway.ops.search import list_messages

    settings = load()
    flt = filter_or_exit(
        lambda: MessageFilter.of(
            status=status, type=type_, partner=partner, dossier=dossier,
            since=since, until=until, error=error,
        )
    )  # fmt: skip
    ctx = build_ops(settings, with_transport=False)
    try:
        with database_errors():
            views = list_messages(ctx.store, flt, limit=limit)
    finally:
        ctx.close()
    if as_json:
        for view in views:
            typer.echo(json.dumps(message_to_json(view), ensure_ascii=False))
        return
    _print_table(views)


def _print_table(views: list[MessageView]) -> None:
    from rich.console import Console
    from rich.table import Table

    from gateway.ops.messages import scrub

    table = Table(title=f"{len(views)} message(s), newest first")
    for column in ("created (UTC)", "id", "type", "dossier", "status", "att.", "last error"):
        table.add_column(column, overflow="fold")
    for view in views:
        table.add_row(
            view.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            view.message_id + (f"\n(replay of {view.replay_of})" if view.replay_of else ""),
            view.type,
            view.dossier_code or "",
            view.status,
            str(view.attempts),
            scrub(view.last_error or "")[:120],
        )
    Console().print(table)


@messages_app.command("reconcile")
def messages_reconcile(
    fix: Annotated[bool, Opt(help="mark parked in the store what the parked queue holds")] = False,
    limit: Annotated[int, Opt(min=1, max=1_000_000, help="parked copies compared")] = 10_000,
    as_json: Annotated[bool, Opt("--json", help="one JSON document")] = False,
) -> None:
    """Compare the parked queue with the store's statuses (exit 1 while they disagree)."""
    from gateway.bootstrap import build_ops
    from gateway.envelope import EnvelopeVerifier
    from gateway.ops.reconcile import reconcile

    settings = load()
    ctx = build_ops(settings)
    try:
        with database_errors():
            verifier = EnvelopeVerifier(ctx.keystore)
            report = reconcile(ctx.store, ctx.transport, verifier, fix=fix, limit=limit)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"parked in the queue: {report.parked_in_queue}; "
            f"parked in the store: {report.parked_in_store}"
        )
        for mismatch in report.mismatches:
            state = "fixed" if mismatch.message_id in report.fixed else "NOT fixed (use --fix)"
            typer.echo(
                f"  {mismatch.message_id}: parked ({mismatch.queue_reason}) but the store said "
                f"{mismatch.store_status}: {state}"
            )
        for message_id in report.store_only:
            typer.echo(f"  {message_id}: the store says parked; the parked queue does not hold it")
        for message_id in report.unknown:
            typer.echo(f"  {message_id}: parked, but not a message of this store")
        for message_id in report.foreign:
            typer.echo(f"  {message_id}: a parked copy that is not the stored message (forged?)")
        typer.echo("consistent" if report.consistent else "NOT consistent")
    raise typer.Exit(0 if report.consistent else 1)


@messages_app.command("show")
def messages_show(
    message_id: Annotated[str, typer.Argument(help="the message id")],
    reveal: Annotated[bool, Opt(help="show personal data in clear (audited)")] = False,
    reason: Annotated[str | None, Opt(help="why (required with --reveal)")] = None,
    as_json: Annotated[bool, Opt("--json", help="one JSON document")] = False,
) -> None:
    """One message: timeline, attempts, errors, headers and body (masked unless --reveal)."""
    from gateway.bootstrap import build_ops
    from gateway.domain.errors import InvalidInput, NotFound
    from gateway.ops.context import os_actor
    from gateway.ops.messages import show_message

    if reveal and not (reason and reason.strip()):
        fail("--reveal needs --reason: say why personal data is shown (it is audited)", 2)
    settings = load()
    ctx = build_ops(settings, with_transport=False)
    try:
        with database_errors():
            detail = show_message(
                ctx.store, ctx.audit, message_id, actor=os_actor(), reveal=reveal, reason=reason
            )
    except NotFound as error:
        fail(str(error), 1)
    except InvalidInput as error:
        fail(str(error), 2)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(detail.to_json(), ensure_ascii=False, indent=2))
        return
    _print_detail(detail)


def _print_detail(detail: MessageDetail) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    data = detail.to_json()
    for key in ("message_id", "type", "partner", "dossier_code", "status", "attempts",
                "correlation_id", "created_at", "updated_at", "replay_of", "last_error"):  # fmt: skip
        if data[key] is not None:
            console.print(f"[bold]{key}[/bold]: {data[key]}", highlight=False, markup=True)
    timeline = Table(title="timeline")
    for column in ("at (UTC)", "event", "status", "attempt", "detail"):
        timeline.add_column(column, overflow="fold")
    for event in detail.view.timeline:
        timeline.add_row(
            event.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            event.event,
            event.status or "",
            "" if event.attempt is None else str(event.attempt),
            event.detail or "",
        )
    console.print(timeline)
    if detail.headers:
        console.print("[bold]headers[/bold]:")
        for key, value in detail.headers.items():
            console.print(f"  {key}: {value}", highlight=False, markup=False)
    label = "body (revealed; audited)" if detail.body_revealed else "body (personal data masked)"
    console.print(f"[bold]{label}[/bold]:")
    console.print_json(json.dumps(detail.body, ensure_ascii=False))
