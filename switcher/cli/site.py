"""The stack's own life: status, up, down, and push (a release's images to a cluster's registry)."""

from __future__ import annotations

import json
import sys

import click

from switcher.cli.base import cli, env_option, environment, format_record, noted, say
from switcher.cluster_lifecycle import ClusterLifecycle
from switcher.cluster_stack import ClusterStack
from switcher.cluster_status import cluster_lines
from switcher.config import PROJECT_LABEL, check_release
from switcher.cutover import Cutover
from switcher.errors import Refused
from switcher.overview import read_overview
from switcher.registry import Registry
from switcher.runtime import Docker
from switcher.stack import Stack
from switcher.state import StackStatus
from switcher.store import EnvironmentStore


def print_status(status: StackStatus, recent: list[dict] | None = None, schema: dict[str, str] | None = None) -> None:
    click.echo(f"environment  {status.env} (compose project {status.project})")
    click.echo(f"live colour  {status.live or 'unknown'}")
    for color, part in status.colors.items():
        role = "live" if color == status.live else "idle" if status.live else "?"
        migrations = f"  migrations {schema[color]}" if schema else ""
        click.echo(
            f"  {color:<6} {role:<5} release {part.release or '-':<24} {part.state:<10} {part.health}{migrations}"
        )
    services = "  ".join(f"{name} {part.state}/{part.health}" for name, part in status.services.items())
    click.echo(f"services     {services}")
    click.echo(f"live URL     {status.urls['live']}")
    click.echo(f"preview URL  {status.urls['preview']}  (the idle colour; loopback only)")
    for note in status.notes:
        click.echo(f"note: {note}")
    if status.maintenance:
        details = status.maintenance
        message = f": {details.get('message')}" if details.get("message") else ""
        click.echo(f"maintenance  ON since {details.get('since', '?')}{message} (switcher maintenance off)")
    else:
        click.echo("maintenance  off")
    if recent:
        click.echo("recent changes")
        for record in recent:
            click.echo(f"  {format_record(record)}")


@cli.command()
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(env_name: str | None, as_json: bool) -> None:
    """Show the live colour, each colour's release, state and health, and the URLs."""
    paths, env = environment(env_name, swarm=True)
    if env.engine == "swarm":
        cluster = ClusterStack(paths, env, say).status()
        click.echo(json.dumps(cluster.to_json(), indent=2) if as_json else "\n".join(cluster_lines(cluster)))
        return
    docker = Docker()
    overview = read_overview(env, docker, Cutover(paths, env, docker, say))
    result, holder, schema, tls = overview.stack, overview.lock, overview.migrations, overview.tls
    recent = noted(overview.history).last(5)
    if as_json:
        data = result.to_json()
        data["history"] = recent
        data["lock"] = None if holder is None else holder.describe()
        data["migrations"] = schema
        data["tls"] = tls
        click.echo(json.dumps(data, indent=2))
    else:
        print_status(result, recent, schema)
        cert, last = tls["certificate"], tls["last_renewal"]
        if cert is not None:
            names = ", ".join(cert["names"]) or cert["subject"]
            click.echo(f"certificate  {names} ({tls['mode']}), expires {cert['not_after']} ({cert['days_left']} days)")
        if last and last.get("outcome") == "failed":
            retry = f"; next attempt {last['next_attempt']}" if last.get("next_attempt") else ""
            click.echo(f"note: the last certificate renewal failed at {last.get('time')}: {last.get('error')}{retry}")
        if holder is not None:
            click.echo(f"locked by {holder.describe()}")


@cli.command()
@env_option
@click.option("--release", required=True, help="Release for containers that do not exist yet.")
def up(env_name: str | None, release: str) -> None:
    """Start the environment's stack (blue live when new) and wait until it is healthy.

    Containers that already exist keep their release: changing a colour's release is
    `switcher deploy`'s job. `make up` runs this after building what is missing. On a cluster
    it also puts every lb on the live colour and replaces the tasks of a colour that some lb's
    DNS lost (a node back from an outage; `switcher status` reports both).
    """
    paths, env = environment(env_name, swarm=True)
    check_release(release)
    if env.engine == "swarm":
        click.echo("\n".join(cluster_lines(ClusterLifecycle(ClusterStack(paths, env, say)).up(release))))
        return
    docker = Docker()
    result = Stack(paths, env, docker, EnvironmentStore(docker, env.project), say).up(release)
    if env.tls_mode == "acme":  # the self-signed stand-in serves until the CA's certificate comes
        say("the acme service asks the CA in the background; `switcher tls status` shows the outcome")
    print_status(result)


@cli.command()
@env_option
@click.option(
    "--volumes",
    is_flag=True,
    help="Also delete the volumes: the database, uploads and state, static files, credentials, history.",
)
@click.option("--yes", is_flag=True, help="Confirm --volumes without being asked.")
def down(env_name: str | None, volumes: bool, yes: bool) -> None:
    """Stop and remove the environment's containers (volumes are kept unless --volumes).

    Takes the environment's lock, so it refuses while a deploy, promote or other change runs.
    --volumes deletes every piece of the environment's data and asks first (or takes --yes).
    """
    paths, env = environment(env_name, swarm=True)
    if volumes and not yes and not sys.stdin.isatty():
        raise Refused(
            f"`down --volumes` deletes the database, uploads, state, credentials and history of {env.name}; "
            "add --yes to confirm"
        )
    if env.engine == "swarm":
        if volumes and not yes and not click.confirm(f"Delete the data of {env.name} on every node?", err=True):
            raise Refused("nothing was deleted")
        ClusterLifecycle(ClusterStack(paths, env, say)).down(volumes)
        return
    docker = Docker()
    if volumes and not yes:
        names = sorted(
            set(docker.volumes_labelled(f"{PROJECT_LABEL}={env.project}"))
            | set(docker.volumes_labelled(f"io.switcher.project={env.project}"))
        )
        click.echo(
            f"This deletes the database and every file of {env.name}: {', '.join(names) or 'no volumes'}.", err=True
        )
        if not click.confirm(f"Delete the data of {env.name}?", default=False, err=True):
            raise Refused("nothing was deleted")
    Stack(paths, env, docker, EnvironmentStore(docker, env.project), say).down(volumes)


@cli.command()
@click.argument("release")
@env_option
def push(release: str, env_name: str | None) -> None:
    """Push RELEASE's images (site, lb, db, memcached, broker, acme) to the environment's
    REGISTRY (ENGINE=swarm), each checked to be there as pushed; every node pulls from it."""
    _, env = environment(env_name, swarm=True)
    check_release(release)
    pushed = Registry(env, Docker(), say).push(release)
    for reference, digest in pushed:
        click.echo(f"{reference}  {digest}")
