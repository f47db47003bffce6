"""The evidence-log commands: ``log verify``, ``log export``, ``log verify-bundle``.

Rules:
- ``log verify`` walks every chain and checkpoint in the database, checks them against
  the anchors (``evidence.anchor_dir``) and the time-stamp tokens against the TSA
  certificates (``evidence.tsa_certificate``, or ``--tsa-certificate``), and names the
  first record of each chain (or checkpoint, or anchor) that does not verify; exit 1
  then. Records after the last checkpoint, or after the last time-stamped one, are
  counted per chain (warnings, not failures: that is where a cut would not show yet).
- ``log export`` writes a self-contained bundle (see :mod:`gateway.ops.bundle`), checks
  it with the offline verifier before saying it is done, and records the export in
  the audit trail (who, why, the bundle's SHA-256).
- ``log verify-bundle`` needs nothing but the file (no configuration, no database, no
  key directory): what a third party runs. ``--jwks`` gives keys obtained separately
  (the gateway's published JWKS) instead of trusting the ones inside the bundle, and
  ``--tsa`` the TSA's certificates instead of the bundle's copy; it checks the time-stamp
  tokens offline and says which subject records they date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli._common import database_errors, fail, load

if TYPE_CHECKING:
    from gateway.settings_model import Settings
    from gateway.store.anchors import Witness
    from gateway.store.evidence_report import VerifyReport
    from gateway.store.timestamps import TsaTrust

log_app = typer.Typer(no_args_is_help=True, help="The evidence log: verify, export, check bundles.")


@log_app.command("verify")
def log_verify(
    tsa_certificate: Annotated[
        Path | None,
        typer.Option(help="TSA certificate bundle (PEM) [default: evidence.tsa_certificate]"),
    ] = None,
    anchor_dir: Annotated[
        list[Path] | None,
        typer.Option(
            help="an anchor directory to check (repeat for each host's) [default: evidence.anchor_dir]"
        ),
    ] = None,
) -> None:
    """Check every chain, checkpoint, anchor and time-stamp; name the first failure and
    the records not yet covered by a checkpoint or a time-stamp."""
    from gateway.bootstrap import build_ops, evidence_witness
    from gateway.store.anchors import FileWitness
    from gateway.store.evidence import verify

    settings = load()
    trust, warning = _tsa_trust(settings, tsa_certificate)
    witnesses: list[Witness] = (
        [FileWitness(d) for d in anchor_dir] if anchor_dir else [evidence_witness(settings)]
    )
    ctx = build_ops(settings, with_transport=False)
    try:
        with database_errors():
            report = verify(
                ctx.engine,
                ctx.keystore,
                encryption_key=ctx.evidence_key,
                witness=witnesses,
                tsa_trust=trust,
            )
    finally:
        ctx.close()
    _print_report(report, ", ".join(w.name for w in witnesses), warning)
    if report.ok:
        typer.echo("OK: every record, checkpoint, anchor and time-stamp verifies")
        return
    first = report.first
    typer.echo(f"FIRST FAILURE: {first}", err=True)
    for problem in report.problems[1:]:
        typer.echo(f"also: {problem}", err=True)
    raise typer.Exit(1)


def _tsa_trust(settings: Settings, given: Path | None) -> tuple[TsaTrust | None, str | None]:
    """The TSA certificates to check tokens with, or (None, why not)."""
    from gateway.domain.errors import ConfigError
    from gateway.store.timestamps import TsaTrust

    evidence = settings.evidence
    if given is None and not evidence.tsa_url and evidence.tsa_certificate is None:
        return None, None
    path = given or evidence.effective_tsa_certificate(settings.var_dir)
    try:
        return TsaTrust.from_file(path), None
    except ConfigError as error:
        return None, f"time-stamps not checked: {error}"


def _print_report(report: VerifyReport, witness: str, warning: str | None) -> None:
    stamps = f", {report.stamps} time-stamps" if report.stamps_checked else ""
    if report.last_stamp is not None:
        stamps += f" (newest {report.last_stamp.isoformat()})"
    typer.echo(
        f"{report.records} records in {report.chains} chains, {report.checkpoints} checkpoints,"
        f" {report.anchors} anchors in {witness}{stamps}"
    )
    for note in (*report.notes, *([warning] if warning else [])):
        typer.echo(f"warning: {note}")
    for tail in report.uncovered:
        typer.echo(f"not yet checkpointed: {tail} after the last checkpoint (chain only)")
    for tail in report.unstamped:
        typer.echo(f"not yet time-stamped: {tail} after the last time-stamped checkpoint")
    if report.unanchored:
        ids = report.unanchored
        span = f"{ids[0]}" if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"
        typer.echo(f"not yet anchored: {len(ids)} checkpoints ({span}) after the last anchor")


@log_app.command("export")
def log_export(
    out: Annotated[Path, typer.Option("--out", help="bundle file to write")],
    dossier: Annotated[str | None, typer.Option(help="dossier code (MaHoSo)")] = None,
    message: Annotated[str | None, typer.Option(help="message id")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded in the audit trail)")] = "",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a self-contained evidence bundle for a dossier or a message."""
    from gateway.bootstrap import build_ops
    from gateway.domain.errors import InvalidInput, NotFound
    from gateway.ops.bundle import export_bundle
    from gateway.ops.bundle_verify import verify_bundle
    from gateway.ops.context import os_actor

    if (dossier is None) == (message is None):
        fail("log export: give exactly one of --dossier CODE or --message ID", 2)
    if out.exists() and not force:
        fail(f"log export: {out} exists (use --force to overwrite)", 2)
    settings = load()
    tsa_path = settings.evidence.effective_tsa_certificate(settings.var_dir)
    tsa_pem = tsa_path.read_bytes() if settings.evidence.tsa_url and tsa_path.is_file() else None
    ctx = build_ops(settings, with_transport=False)
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
                tsa_certificates=tsa_pem,
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
    for name in report.unstamped:
        typer.echo(f"warning: {name} is not yet time-stamped", err=True)
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
    tsa: Annotated[
        Path | None,
        typer.Option(help="trusted TSA certificates, PEM (else the bundle's own)", exists=True),
    ] = None,
) -> None:
    """Verify a bundle offline: needs only the file. Exit 1 naming what does not match."""
    from gateway.ops.bundle_verify import verify_bundle

    source = bundle
    try:
        data = json.loads(bundle.read_bytes())
        source = jwks or bundle
        trusted = json.loads(jwks.read_bytes()) if jwks is not None else None
        source = tsa or bundle
        trusted_tsa = tsa.read_bytes() if tsa is not None else None
    except (ValueError, OSError) as error:
        typer.echo(f"FAIL: cannot read {source}: {error}", err=True)
        raise typer.Exit(1) from None
    report = verify_bundle(data, trusted_jwks=trusted, trusted_tsa=trusted_tsa)
    for kid, thumbprint in sorted(report.thumbprints.items()):
        typer.echo(f"key {kid}: RFC 7638 thumbprint {thumbprint}")
    for line in report.stamped:
        typer.echo(f"time-stamped: {line}")
    for name in report.unstamped:
        typer.echo(f"warning: {name}: not yet time-stamped")
    for note in report.notes:
        typer.echo(f"note: {note}")
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
        f" {len(report.stamped)} time-stamped, {len(report.problems)} problems"
    )
    if not report.ok:
        raise typer.Exit(1)
