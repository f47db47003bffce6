"""The operations commands: ``messages list|show|reconcile`` and ``replay`` (``log``: cli_log).

Registered in ``gateway/cli.py`` (the marked block) with :func:`register`. Rules:
- Commands call the service functions of :mod:`gateway.ops`; nothing here decides
  anything an API caller could not decide the same way.
- The actor is the OS user (``os:<user>``); ``--reason`` is required for a replay and
  for ``--reveal``.
- Exit codes: 0 done; 1 some message was not replayed / not found / a check failed;
  2 bad arguments or configuration; 130 interrupted (Ctrl-C), after saying what was
  done: every message not reported replayed is still parked.
- Heavy modules are imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gateway.ops.messages import MessageDetail, MessageFilter
    from gateway.ops.replay import ReplayResult
    from gateway.store.messages import MessageView

messages_app = typer.Typer(no_args_is_help=True, help="Find and inspect messages.")


def register(app: typer.Typer) -> None:
    """Add ``messages``, ``replay`` and ``log`` to the main app."""
    from gateway.ops.cli_log import log_app

    app.add_typer(messages_app, name="messages")
    app.command("replay")(replay_command)
    app.add_typer(log_app, name="log")


Opt = typer.Option


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database failure into one line and exit 1 (no stack trace for operators)."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.cli import fail

    try:
        yield
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
        fail(f"database: {cause} (is it reachable, and migrated? `tthc-gateway db upgrade`)", 1)


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
    from gateway.cli import load
    from gateway.ops.context import open_context
    from gateway.ops.messages import MessageFilter, message_to_json
    from gateway.ops.search import list_messages

    settings = load()
    flt = _filter_or_exit(
        lambda: MessageFilter.of(
            status=status, type=type_, partner=partner, dossier=dossier,
            since=since, until=until, error=error,
        )
    )  # fmt: skip
    ctx = open_context(settings, with_transport=False)
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


def _filter_or_exit(make: Callable[[], MessageFilter]) -> MessageFilter:
    from gateway.cli import fail
    from gateway.domain.errors import InvalidInput

    try:
        return make()
    except InvalidInput as error:
        fail(str(error), 2)


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
    from gateway.cli import load
    from gateway.envelope import EnvelopeVerifier
    from gateway.ops.context import open_context
    from gateway.ops.reconcile import reconcile

    settings = load()
    ctx = open_context(settings)
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
    from gateway.cli import fail, load
    from gateway.domain.errors import InvalidInput, NotFound
    from gateway.ops.context import open_context, os_actor
    from gateway.ops.messages import show_message

    if reveal and not (reason and reason.strip()):
        fail("--reveal needs --reason: say why personal data is shown (it is audited)", 2)
    settings = load()
    ctx = open_context(settings, with_transport=False)
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


def parse_rate(raw: str | None) -> float | None:
    """``10``, ``10/s`` or ``600/m`` → messages per second."""
    if raw is None:
        return None
    text = raw.strip().lower()
    per = 1.0
    if text.endswith("/s"):
        text = text[:-2]
    elif text.endswith("/m"):
        text, per = text[:-2], 60.0
    try:
        value = float(text) / per
    except ValueError:
        raise typer.BadParameter(f"{raw!r}: expected N, N/s or N/m") from None
    if value <= 0:
        raise typer.BadParameter(f"{raw!r}: must be positive")
    return value


def replay_command(
    message_ids: Annotated[list[str] | None, typer.Argument(help="parked message ids")] = None,
    filter_: Annotated[
        list[str] | None,
        Opt("--filter", help="KEY=VALUE (type, partner, dossier, since, until, error); repeat"),
    ] = None,
    all_parked: Annotated[bool, Opt("--all", help="every parked message")] = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="show what would be replayed")] = False,
    rate: Annotated[str | None, Opt(help="at most N per second: N, N/s or N/m")] = None,
    reason: Annotated[str, Opt(help="why (required; audited)")] = "",
) -> None:
    """Replay parked messages: re-signed, published with confirm, audited, then unparked."""
    from gateway.cli import fail, load
    from gateway.domain.errors import InvalidInput
    from gateway.ops.context import open_context, os_actor
    from gateway.ops.messages import MessageFilter
    from gateway.ops.replay import ReplayRequest, replay_messages, select_parked

    per_second = parse_rate(rate)
    if not dry_run and not reason.strip():
        fail("replay needs --reason: say why (it is recorded in the audit trail)", 2)
    if bool(message_ids) + bool(filter_) + all_parked != 1:
        fail("replay: give message ids, or --filter KEY=VALUE..., or --all (one of them)", 2)
    flt = _filter_or_exit(lambda: MessageFilter.from_pairs(filter_ or []))
    try:
        request = ReplayRequest(os_actor(), reason, dry_run=dry_run, rate_per_second=per_second)
    except InvalidInput as error:
        fail(str(error), 2)
    settings = load()
    ctx = open_context(settings)
    results: list[ReplayResult] = []
    try:
        with database_errors():
            selection = select_parked(
                ctx.store,
                ctx.transport,
                message_ids=message_ids or (),
                flt=None if message_ids else flt,
            )
            total = len(selection.parked) + len(selection.missing)
            _run_with_progress(
                total,
                lambda on_result: replay_messages(
                    ctx.store, ctx.audit, ctx.transport, ctx.signer, selection, request,
                    on_result=on_result,
                ),
                results,
            )  # fmt: skip
    except KeyboardInterrupt:
        _summary(results, dry_run)
        typer.echo("interrupted: every message not listed as replayed is still parked", err=True)
        raise typer.Exit(130) from None
    finally:
        ctx.close()
    _summary(results, dry_run)
    if any(r.outcome in ("failed", "not_parked", "refused", "tampered") for r in results):
        raise typer.Exit(1)


def _run_with_progress(
    total: int,
    run: Callable[[Callable[[ReplayResult], None]], object],
    done: list[ReplayResult],
) -> None:
    """Run ``run(on_result)`` under a progress bar; results are appended to ``done`` as
    they happen (so an interrupted run can still say what was replayed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=total)

        def on_result(result: ReplayResult) -> None:
            done.append(result)
            progress.update(task, advance=1, description=f"{result.message_id}: {result.outcome}")

        run(on_result)


def _summary(results: list[ReplayResult], dry_run: bool) -> None:
    for result in results:
        extra = f" ({result.detail})" if result.detail else ""
        typer.echo(f"{result.message_id}: {result.outcome}{extra}")
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing selected"
    typer.echo(("dry run: " if dry_run else "") + summary)
