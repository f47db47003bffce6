"""The evidence-log commands: ``log verify``, ``log export``, ``log verify-bundle``.

Rules:
- ``log verify`` walks every chain and checkpoint in the database and names the first
  record of each chain that does not verify; exit 1 then.
- ``log export`` writes a self-contained bundle (see :mod:`gateway.ops.bundle`), checks
  it with the offline verifier before saying it is done, and records the export in
  the audit trail (who, why, the bundle's SHA-256).
- ``log verify-bundle`` needs nothing but the file (no configuration, no database, no
  key directory): what a third party runs. ``--jwks`` gives keys obtained separately
  (the gateway's published JWKS) instead of trusting the ones inside the bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

log_app = typer.Typer(no_args_is_help=True, help="The evidence log: verify, export, check bundles.")


@log_app.command("verify")
def log_verify() -> None:
    """Walk every chain and checkpoint; name the first record that does not verify."""
    from gateway.cli import load
    from gateway.ops.cli import database_errors
    from gateway.ops.context import open_context
    from gateway.store.evidence import verify

    settings = load()
    ctx = open_context(settings, with_transport=False)
    try:
        with database_errors():
            report = verify(ctx.engine, ctx.keystore, encryption_key=ctx.evidence_key)
    finally:
        ctx.close()
    typer.echo(
        f"{report.records} records in {report.chains} chains, {report.checkpoints} checkpoints"
    )
    if report.ok:
        typer.echo("OK: every record and checkpoint verifies")
        return
    first = report.first
    typer.echo(f"FIRST FAILURE: {first}", err=True)
    for problem in report.problems[1:]:
        typer.echo(f"also: {problem}", err=True)
    raise typer.Exit(1)


@log_app.command("export")
def log_export(
    out: Annotated[Path, typer.Option("--out", help="bundle file to write")],
    dossier: Annotated[str | None, typer.Option(help="dossier code (MaHoSo)")] = None,
    message: Annotated[str | None, typer.Option(help="message id")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded in the audit trail)")] = "",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a self-contained evidence bundle for a dossier or a message."""
    from gateway.cli import fail, load
    from gateway.domain.errors import InvalidInput, NotFound
    from gateway.ops.bundle import export_bundle
    from gateway.ops.bundle_verify import verify_bundle
    from gateway.ops.cli import database_errors
    from gateway.ops.context import open_context, os_actor

    if (dossier is None) == (message is None):
        fail("log export: give exactly one of --dossier CODE or --message ID", 2)
    if out.exists() and not force:
        fail(f"log export: {out} exists (use --force to overwrite)", 2)
    settings = load()
    ctx = open_context(settings, with_transport=False)
    try:
        with database_errors():
            result = export_bundle(
                ctx.engine,
                ctx.keystore,
                ctx.audit,
                actor=os_actor(),
                reason=reason.strip() or "evidence export (no reason given)",
                dossier_code=dossier,
                message_id=message,
            )
    except NotFound as error:
        fail(str(error), 1)
    except InvalidInput as error:
        fail(str(error), 2)
    finally:
        ctx.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.data)
    typer.echo(
        f"wrote {out}: {result.subject_records} subject records, {result.records} records "
        f"with links, {result.checkpoints} checkpoints; sha256 {result.sha256}"
    )
    report = verify_bundle(json.loads(result.data))
    for name in report.uncovered:
        typer.echo(f"warning: {name} is not yet covered by a checkpoint (chain only)", err=True)
    if not report.ok:
        for problem in report.problems:
            typer.echo(f"FAIL: {problem}", err=True)
        raise typer.Exit(1)


@log_app.command("verify-bundle")
def log_verify_bundle(
    bundle: Annotated[Path, typer.Argument(help="the bundle file", exists=True, dir_okay=False)],
    jwks: Annotated[
        Path | None,
        typer.Option(help="trusted JWKS file (else the bundle's own keys)", exists=True),
    ] = None,
) -> None:
    """Verify a bundle offline: needs only the file. Exit 1 naming what does not match."""
    from gateway.ops.bundle_verify import verify_bundle

    try:
        data = json.loads(bundle.read_bytes())
        trusted = json.loads(jwks.read_bytes()) if jwks is not None else None
    except (ValueError, OSError) as error:
        typer.echo(f"FAIL: cannot read {bundle if jwks is None else jwks}: {error}", err=True)
        raise typer.Exit(1) from None
    report = verify_bundle(data, trusted_jwks=trusted)
    for kid, thumbprint in sorted(report.thumbprints.items()):
        typer.echo(f"key {kid}: RFC 7638 thumbprint {thumbprint}")
    for record in report.subject_records:
        typer.echo(
            f"record {record['chain_id']}#{record['seq']}: {record['at']} {record['direction']}"
            f" {record['partner']} message {record['message_id']} body sha256 {record['body_sha256']}"
        )
    for name in report.uncovered:
        typer.echo(f"warning: {name}: not yet covered by a checkpoint (chain only)")
    for problem in report.problems:
        typer.echo(f"FAIL: {problem}", err=True)
    typer.echo(
        f"{'OK' if report.ok else 'NOT VERIFIED'}: {len(report.subject_records)} subject records,"
        f" {len(report.covered)} covered by {report.checkpoints} checkpoints,"
        f" {len(report.problems)} problems"
    )
    if not report.ok:
        raise typer.Exit(1)
