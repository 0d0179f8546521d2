"""``meshploy admin``: key generation and rotation."""

from __future__ import annotations

import base64

import click

from meshploy_core.cli.common import fail, run, settings_from_context
from meshploy_core.db.engine import create_engine, keyring_from_settings
from meshploy_core.encryption.keyring import generate_key, key_id
from meshploy_core.encryption.rotation import RotationReport, count_stale, rotate


@click.group("admin")
def admin() -> None:
    """Administrative operations."""


@admin.command("generate-key")
def generate_key_cmd() -> None:
    """Print a new random ENCRYPTION_KEY (base64)."""
    click.echo(base64.b64encode(generate_key()).decode())


@admin.command("rotate-encryption-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_context
def rotate_cmd(ctx: click.Context, batch_size: int) -> None:
    """Re-encrypt every stored secret under ENCRYPTION_KEY.

    Set ENCRYPTION_KEY to the new key and ENCRYPTION_KEY_PREVIOUS to the old one (comma-
    separated if several), run this, then remove ENCRYPTION_KEY_PREVIOUS. Safe to re-run.
    """
    settings = settings_from_context(ctx)
    ring = keyring_from_settings(settings)
    if not ring.previous:
        fail(
            "ENCRYPTION_KEY_PREVIOUS is not set; set ENCRYPTION_KEY to the new key and "
            "ENCRYPTION_KEY_PREVIOUS to the old one, then run this again"
        )

    def progress(column: str, done: int, batch: int) -> None:
        click.echo(f"  {column}: {done} re-encrypted", err=True)

    async def go() -> tuple[RotationReport, int]:
        engine = create_engine(settings, pool_size=1)
        try:
            report = await rotate(engine, ring, batch_size=batch_size, progress=progress)
            return report, await count_stale(engine, ring)
        finally:
            await engine.dispose()

    click.echo(f"re-encrypting under key id {key_id(ring.current)} ...", err=True)
    report, stale = run(go())
    click.echo(f"re-encrypted {report.rotated} value(s); {stale} left under an old key")
    if stale == 0:
        click.echo("rotation complete: you can now remove ENCRYPTION_KEY_PREVIOUS")
