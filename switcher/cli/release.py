"""Releases on the colours: deploy, promote, rollback, and prune (old static files)."""

from __future__ import annotations

import click

from switcher.cli.base import cli, env_option, mutation_options, on_engine, say, switch_cutover
from switcher.cluster_cutover import ClusterCutover
from switcher.config import COLORS
from switcher.plans import Options


@cli.command()
@click.argument("release")
@click.option("--promote", "then_promote", is_flag=True, help="Promote the release once it is ready.")
@click.option("--stop-old", is_flag=True, help="With --promote: stop the old colour after draining.")
@click.option(
    "--maintenance",
    is_flag=True,
    help="Migrate behind the maintenance page, promote, then turn maintenance off (for migrations "
    "the live release cannot run beside).",
)
@click.option(
    "--accept-incompatible",
    is_flag=True,
    help="Apply migrations the live release cannot run beside while it serves (recorded in the history).",
)
@mutation_options
def deploy(
    release: str,
    then_promote: bool,
    stop_old: bool,
    maintenance: bool,
    accept_incompatible: bool,
    env_name: str | None,
    dry_run: bool,
    drain_timeout: float,
    health_timeout: float,
) -> None:
    """Put RELEASE on the idle colour and make it ready, without touching live traffic.

    Asks RELEASE what its unapplied migrations do and refuses operations the live release
    cannot run beside (a dropped or renamed column, NOT NULL, a type change, custom SQL or
    Python) unless --maintenance or --accept-incompatible; backs the database up when there is
    anything to migrate; recreates the idle colour, runs `migrate` (with MIGRATE_LOCK_TIMEOUT)
    and `check --deploy` in one-off containers of RELEASE, waits until it is healthy, warms it
    and checks it through the preview listener. On failure the idle colour is left stopped.
    """
    options = Options(
        drain_timeout=drain_timeout,
        health_timeout=health_timeout,
        stop_old=stop_old,
        maintenance=maintenance,
        accept_incompatible=accept_incompatible,
    )
    switch_cutover(env_name).deploy(release, options, dry_run=dry_run, then_promote=then_promote)


@cli.command()
@click.argument("color", required=False, type=click.Choice(COLORS))
@click.option("--stop-old", is_flag=True, help="Stop the old colour after draining it.")
@mutation_options
def promote(
    color: str | None, stop_old: bool, env_name: str | None, dry_run: bool, drain_timeout: float, health_timeout: float
) -> None:
    """Send live traffic to COLOR (default: the idle colour), with no failed request.

    Gates on COLOR being healthy and answering through preview, publishes its static files,
    switches nginx atomically, verifies through the live listener (switching back if that
    fails) and drains the old colour, which stays warm for an instant rollback.
    """
    options = Options(drain_timeout=drain_timeout, health_timeout=health_timeout, stop_old=stop_old)
    switch_cutover(env_name).promote(color, options, dry_run=dry_run)


@cli.command()
@mutation_options
def rollback(env_name: str | None, dry_run: bool, drain_timeout: float, health_timeout: float) -> None:
    """Promote the other colour back: instant when it is still warm, else started again first."""
    options = Options(drain_timeout=drain_timeout, health_timeout=health_timeout)
    switch_cutover(env_name).rollback(options, dry_run=dry_run)


@cli.command()
@env_option
@click.option("--dry-run", is_flag=True, help="Print which releases would be retained; change nothing.")
def prune(env_name: str | None, dry_run: bool) -> None:
    """Remove static files that no retained release references (RETAIN_RELEASES, default 3).

    The running colours' releases are always retained. `promote` prunes after draining.
    """
    kept = on_engine(env_name, lambda one: one.prune(dry_run), lambda stack: ClusterCutover(stack).prune(dry_run))
    if dry_run:
        say(f"would retain the static files of: {', '.join(kept)}")
