"""Running the site: maintenance, cron, config files, manage.py, logs, history, unlock."""

from __future__ import annotations

import json
import sys

import click

from switcher.cli.base import cli, env_option, environment, format_record, on_engine, read_history, say, switch_cutover
from switcher.cluster_cutover import ClusterCutover
from switcher.cluster_stack import ClusterStack
from switcher.config import parse_since
from switcher.cutover import Cutover
from switcher.lock import break_lock
from switcher.runtime import Docker


@cli.group()
def maintenance() -> None:
    """Maintenance mode: every dynamic request gets the live release's maintenance page (503).

    /static/ and /healthz keep working; operators reach the real site with the bypass token
    (cookie `switcher_bypass` or header `X-Maintenance-Bypass`, see `switcher maintenance token`)
    or from an allowed client address. The state survives lb restarts and promotes.
    """


@maintenance.command(name="on")
@env_option
@click.option("--message", default=None, help="A line shown on the maintenance page.")
@click.option(
    "--retry-after",
    type=click.IntRange(1, 86400),
    default=300,
    show_default=True,
    help="Seconds for the Retry-After header.",
)
@click.option(
    "--allow",
    multiple=True,
    metavar="NETWORK",
    help="A client address or CIDR network that bypasses it (repeatable); the connection's own address "
    "is checked, or with TRUSTED_PROXIES set, the address a trusted proxy forwarded.",
)
def maintenance_on(env_name: str | None, message: str | None, retry_after: int, allow: tuple[str, ...]) -> None:
    """Turn maintenance mode on (no request is dropped).

    Clients on this host reach the lb through Docker's userland proxy, so the lb sees the
    network's gateway, never 127.0.0.1: use the bypass token for them.
    """
    switch_cutover(env_name).maintenance(True, message, retry_after, list(allow))
    say("maintenance mode is on")


@maintenance.command(name="off")
@env_option
def maintenance_off(env_name: str | None) -> None:
    """Turn maintenance mode off (no request is dropped)."""
    switch_cutover(env_name).maintenance(False, None, 0, [])
    say("maintenance mode is off")


@maintenance.command(name="token")
@env_option
def maintenance_token(env_name: str | None) -> None:
    """Print the environment's bypass token."""
    click.echo(switch_cutover(env_name).maintenance_token())


@cli.command(name="cron")
@click.argument("action", type=click.Choice(["status", "stop", "start"]), default="status")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print the cron state as JSON.")
def cron_command(action: str, env_name: str | None, as_json: bool) -> None:
    """Stop, start or show the site's cron (conf/crontab.txt, run from the live release).

    `stop` lets a running job finish (up to CRON_STOP_TIMEOUT) and keeps cron stopped across
    promotes until `start`. `promote` and `rollback` hand cron over to the new live release.
    """
    state = switch_cutover(env_name).cron(action)
    if as_json:
        click.echo(json.dumps(state, indent=2))
    else:
        held = " (stopped by an operator: `switcher cron start`)" if state["stopped_by_operator"] else ""
        click.echo(f"cron  {state['state']}  release {state['release'] or '-'}{held}")


@cli.group()
def config() -> None:
    """Site configuration files (the old guide's coposweb.ini), in a volume both colours and
    cron mount read-only at /var/lib/site/config: never copied by hand between releases. On a
    cluster: in SHARED_DIR, the same on every node."""


@config.command(name="put")
@click.argument("file", type=click.File("rb"))
@click.option("--name", default=None, help="Name in the volume [default: the file's name].")
@env_option
def config_put(file, name: str | None, env_name: str | None) -> None:
    """Store FILE in the configuration volume (replacing a file of the same name atomically)."""
    import os

    from switcher.cluster_config import ClusterConfig

    target = name or os.path.basename(file.name)
    content = file.read()
    on_engine(
        env_name, lambda one: one.config_put(target, content), lambda stack: ClusterConfig(stack).put(target, content)
    )
    say(f"stored {target}; the site reads it at /var/lib/site/config/{target}")


@config.command(name="list")
@env_option
def config_list(env_name: str | None) -> None:
    """List the files in the configuration volume."""
    from switcher.cluster_config import ClusterConfig

    for name in on_engine(env_name, Cutover.config_list, lambda stack: ClusterConfig(stack).list()):
        click.echo(name)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@env_option
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def manage(env_name: str | None, arguments: tuple[str, ...]) -> None:
    """Run `manage.py ARGUMENTS` in a one-off container of the live release.

    With the stack's volumes and settings, as the site's user; interactive when a terminal is
    attached (`switcher manage createsuperuser`, `switcher manage shell`), its input and output
    piped otherwise. Options before ARGUMENTS are switcher's (--env), the rest manage.py's.
    Exits with the command's exit code. On a cluster (ENGINE=swarm): the same, in a one-off
    task of the colours' settings on any node.
    """
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    code = on_engine(
        env_name,
        lambda one: one.manage(list(arguments), terminal),
        lambda stack: ClusterCutover(stack).manage(list(arguments), terminal),
    )
    sys.exit(code)


LOG_SERVICES = ("live", "idle", "blue", "green", "lb", "cron", "worker", "beat", "broker", "db", "memcached")


@cli.command()
@click.argument("service", default="live", type=click.Choice(LOG_SERVICES))
@env_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until interrupted.")
@click.option("--since", metavar="WHEN", default=None, help="Only lines since WHEN: 10m, 2h, 1d, or 2026-11-25T10:00.")
@click.option("-n", "--tail", type=click.IntRange(0), default=None, help="Only the last N lines (before following).")
def logs(service: str, env_name: str | None, follow: bool, since: str | None, tail: int | None) -> None:
    """Print a service's log: the live colour's by default, or idle, blue, green, lb, cron, worker,
    beat, broker, db, memcached."""
    moment = parse_since(since) if since else None
    paths, env = environment(env_name, swarm=True)
    if env.engine == "swarm":  # every task's log, on whichever node (through the manager)
        cluster = ClusterCutover(ClusterStack(paths, env, say))
        stream = cluster.swarm.log_stream(cluster.log_service(service), follow, moment, tail)
    else:
        chores = Cutover(paths, env, Docker(), say)
        stream = chores.docker.log_stream(chores.log_target(service), follow, moment, tail)
    try:
        for chunk in stream:
            click.echo(chunk.decode("utf-8", "replace"), nl=False)
    except KeyboardInterrupt:
        pass


@cli.command(name="history")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.option("-n", "--last", type=int, default=20, show_default=True, help="How many entries.")
def history_command(env_name: str | None, as_json: bool, last: int) -> None:
    """Every change made to the environment: time, user, host, action, colours, releases, outcome."""
    paths, env = environment(env_name, swarm=True)
    docker = ClusterStack(paths, env, say).swarm.manager if env.engine == "swarm" else Docker()  # the store's engine
    for record in read_history(docker, env).last(last):
        click.echo(json.dumps(record, sort_keys=True) if as_json else format_record(record))


@cli.command()
@env_option
def unlock(env_name: str | None) -> None:
    """Break the environment's lock: only when the switcher holding it is gone."""
    paths, env = environment(env_name, swarm=True)
    docker = ClusterStack(paths, env, say).swarm.manager if env.engine == "swarm" else Docker()  # the lock's engine
    holder = break_lock(docker, env.project)
    say("no lock was held" if holder is None else f"broke the lock held by {holder.describe()}")
