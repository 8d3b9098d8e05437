"""`switcher tls` (the lb's certificate) and `switcher secrets rotate`."""

from __future__ import annotations

import json

import click

from switcher.cli.base import cli, env_option, on_engine, one_engine, say
from switcher.credentials import ROTATABLE


@cli.group()
def tls() -> None:
    """The lb's certificate (TLS_MODE selfsigned or files): what it is, and renewing it with no
    connection dropped (nginx loads it per handshake)."""


@tls.command(name="status")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def tls_status(env_name: str | None, as_json: bool) -> None:
    """The certificate's names, issuer, expiry and fingerprint, and the last renewal's outcome."""
    data = on_engine(env_name, lambda one: one.tls_status(), lambda stack: stack.tls_status())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    cert, last = data["certificate"], data["last_renewal"]
    click.echo(f"mode         {data['mode']}")
    if cert is None:
        click.echo("certificate  none yet (`make up` makes one)")
    else:
        click.echo(f"names        {', '.join(cert['names']) or cert['subject']}")
        click.echo(f"issuer       {cert['issuer']}")
        click.echo(f"expires      {cert['not_after']} ({cert['days_left']} days)")
        click.echo(f"sha256       {cert['sha256']}")
    if last:
        error = f": {last['error']}" if last.get("error") else ""
        by = f" (by {last['by']})" if last.get("by") else ""
        click.echo(f"last renewal {last.get('time', '?')} {last.get('outcome', '?')}{by}{error}")
        if last.get("next_attempt"):
            failures = int(last.get("failures") or 0)
            click.echo(f"next attempt {last['next_attempt']}" + (f" (after {failures} failed)" if failures else ""))


@tls.command(name="renew")
@click.option("--force", is_flag=True, help="Renew even when it is not due (or TLS_CERT did not change).")
@env_option
def tls_renew(force: bool, env_name: str | None) -> None:
    """selfsigned: a new certificate when within 30 days of expiry; files: TLS_CERT and TLS_KEY
    again (after you replaced them), checked to be a pair; acme: ask the CA now (the acme
    service also checks daily). New connections get it at once; open connections are kept."""
    say(one_engine(env_name).tls_renew(force))


@cli.group()
def secrets() -> None:
    """The environment's secrets, kept in its store (docs/security.md); values are never printed."""


@secrets.command(name="rotate")
@click.argument("name", type=click.Choice(sorted(ROTATABLE)))
@env_option
def secrets_rotate(name: str, env_name: str | None) -> None:
    """Make a new value for NAME, store it and apply it.

    \b
    maintenance-token      at once (maintenance mode, if on, takes the new one)
    db-superuser-password  at once, in the database
    db-password            the site's role: set in the database, then both colours and cron
                           are recreated with it; needs maintenance mode on
    django-secret-key      both colours and cron are recreated with it (sessions and signed
                           values of the old key stop being valid); needs maintenance mode on
    broker-password        a cluster's only: the broker and every task of the site replaced
                           with it (its queue stays in its volume); needs maintenance mode on

    On a cluster (ENGINE=swarm) the same, on every lb; "recreated" there means every task of
    both colours, cron, the workers and beat replaced (the colours one at a time).
    """
    from switcher.cluster_secrets import ClusterSecrets

    for line in on_engine(
        env_name, lambda one: one.rotate_secret(name), lambda stack: ClusterSecrets(stack).rotate(name)
    ):
        say(line)
