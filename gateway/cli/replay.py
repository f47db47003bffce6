"""``replay``: replay parked messages, re-signed, published with confirm, audited.

Rules:
- The command calls the service functions of :mod:`gateway.ops`; nothing here decides
  anything an API caller could not decide the same way.
- The actor is the OS user (``os:<user>``); ``--reason`` is required for a replay
  (not for ``--dry-run``).
- Exit codes: 0 done; 1 some message was not replayed; 2 bad arguments or configuration;
  130 interrupted (Ctrl-C), after saying what was done: every message not reported
  replayed is still parked.
- Heavy modules are imported inside the command so ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli._common import database_errors, fail, filter_or_exit, load

if TYPE_CHECKING:
    from gateway.ops.replay import ReplayResult

Opt = typer.Option


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
    from gateway.bootstrap import build_ops
    from gateway.domain.errors import InvalidInput
    from gateway.ops.context import os_actor
    from gateway.ops.messages import MessageFilter
    from gateway.ops.replay import ReplayRequest, replay_messages, select_parked

    per_second = parse_rate(rate)
    if not dry_run and not reason.strip():
        fail("replay needs --reason: say why (it is recorded in the audit trail)", 2)
    if bool(message_ids) + bool(filter_) + all_parked != 1:
        fail("replay: give message ids, or --filter KEY=VALUE..., or --all (one of them)", 2)
    flt = filter_or_exit(lambda: MessageFilter.from_pairs(filter_ or []))
    try:
        request = ReplayRequest(os_actor(), reason, dry_run=dry_run, rate_per_second=per_second)
    except InvalidInput as error:
        fail(str(error), 2)
    settings = load()
    ctx = build_ops(settings)
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
