"""The `switcher` command: thin click commands over the core; errors become one line here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import docker.errors

from switcher import backups, history
from switcher.cluster_cutover import ClusterCutover
from switcher.cluster_db import ClusterDatabase
from switcher.cluster_lifecycle import ClusterLifecycle
from switcher.cluster_stack import ClusterStack
from switcher.cluster_status import cluster_lines
from switcher.config import (
    COLORS,
    PROJECT_LABEL,
    Environment,
    Paths,
    check_release,
    default_env_name,
    load_environment,
    parse_since,
)
from switcher.credentials import ROTATABLE
from switcher.cutover import Cutover
from switcher.errors import EXIT_CODES, ConfigError, Refused, SwitcherError
from switcher.lock import break_lock
from switcher.overview import read_overview
from switcher.plans import Options
from switcher.registry import Registry
from switcher.runtime import Docker
from switcher.stack import Stack
from switcher.state import StackStatus
from switcher.store import EnvironmentStore

T = TypeVar("T")


class SwitcherGroup(click.Group):
    """Maps every SwitcherError to `switcher: error: …` and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwitcherError as error:
            click.echo(f"switcher: error: {error}", err=True)
            sys.exit(error.exit_code)
        except docker.errors.APIError as error:  # one no step expected (a container gone meanwhile)
            reason = (error.explanation or str(error)).splitlines()[0][:300]
            click.echo(f"switcher: error: the Docker daemon refused: {reason}", err=True)
            sys.exit(1)


LOG_SERVICES = ("live", "idle", "blue", "green", "lb", "cron", "worker", "beat", "broker", "db", "memcached")


def _exit_codes_help() -> str:
    return "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())


@click.group(
    cls=SwitcherGroup,
    epilog="\b\nExit codes:\n" + _exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """Blue/green releases of a Django site behind nginx.

    Acts on the environment `make up` last started (or SWITCHER_ENV, or --env).
    """


def env_option(function: Any) -> Any:
    return click.option(
        "--env",
        "env_name",
        metavar="ENV",
        default=None,
        help="Environment: a file compose/env/ENV.env [default: the one `make up` started].",
    )(function)


def _environment(env_name: str | None, swarm: bool = False) -> tuple[Paths, Environment]:
    """The environment's settings; ENGINE=swarm only for the commands built for it (`swarm`)."""
    paths = Paths.discover()
    env = load_environment(env_name or default_env_name(paths), paths)
    if env.engine == "swarm" and not swarm:
        raise ConfigError(
            f"{env.name} has ENGINE=swarm: only push, up, status, deploy, promote, rollback, maintenance, cron, "
            "db backup/list/verify/restore/export/import/replace, secrets rotate, config, manage, logs, history, "
            "prune, tls status, unlock and down work on a cluster yet "
            "(this command is not built for it: issue #11)"
        )
    return paths, env


def _say(message: str) -> None:
    click.echo(f"switcher: {message}", err=True)


def _history(docker: Docker, env: Environment) -> history.History:
    return _noted(history.read(EnvironmentStore(docker, env.project)))


def _noted(found: history.History) -> history.History:
    """The history, after saying what could not be read of it."""
    if found.note:
        _say(f"note: {found.note}")
    return found


def _format_record(record: dict) -> str:
    parts = [record.get("action", "?"), record.get("state"), record.get("color"), record.get("release")]
    what = " ".join(str(part) for part in parts if part)
    before = record.get("previous_release") or record.get("previous")
    if before:
        what += f" (was {record.get('previous_color', record.get('color', ''))} {before})"
    error = f": {record['error']}" if record.get("error") else ""
    return (
        f"{record.get('time', '?')}  {record.get('user', '?')}@{record.get('host', '?')}  "
        f"{what}  {record.get('outcome', '?')} in {record.get('duration', 0):.1f} s{error}"
    )


def _print_status(status: StackStatus, recent: list[dict] | None = None, schema: dict[str, str] | None = None) -> None:
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
            click.echo(f"  {_format_record(record)}")


@cli.command()
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(env_name: str | None, as_json: bool) -> None:
    """Show the live colour, each colour's release, state and health, and the URLs."""
    paths, env = _environment(env_name, swarm=True)
    if env.engine == "swarm":
        cluster = ClusterStack(paths, env, _say).status()
        click.echo(json.dumps(cluster.to_json(), indent=2) if as_json else "\n".join(cluster_lines(cluster)))
        return
    docker = Docker()
    overview = read_overview(env, docker, Cutover(paths, env, docker, _say))
    result, holder, schema, tls = overview.stack, overview.lock, overview.migrations, overview.tls
    recent = _noted(overview.history).last(5)
    if as_json:
        data = result.to_json()
        data["history"] = recent
        data["lock"] = None if holder is None else holder.describe()
        data["migrations"] = schema
        data["tls"] = tls
        click.echo(json.dumps(data, indent=2))
    else:
        _print_status(result, recent, schema)
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
    paths, env = _environment(env_name, swarm=True)
    check_release(release)
    if env.engine == "swarm":
        click.echo("\n".join(cluster_lines(ClusterLifecycle(ClusterStack(paths, env, _say)).up(release))))
        return
    docker = Docker()
    result = Stack(paths, env, docker, EnvironmentStore(docker, env.project), _say).up(release)
    if env.tls_mode == "acme":  # the self-signed stand-in serves until the CA's certificate comes
        _say("the acme service asks the CA in the background; `switcher tls status` shows the outcome")
    _print_status(result)


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
    paths, env = _environment(env_name, swarm=True)
    if volumes and not yes and not sys.stdin.isatty():
        raise Refused(
            f"`down --volumes` deletes the database, uploads, state, credentials and history of {env.name}; "
            "add --yes to confirm"
        )
    if env.engine == "swarm":
        if volumes and not yes and not click.confirm(f"Delete the data of {env.name} on every node?", err=True):
            raise Refused("nothing was deleted")
        ClusterLifecycle(ClusterStack(paths, env, _say)).down(volumes)
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
    Stack(paths, env, docker, EnvironmentStore(docker, env.project), _say).down(volumes)


def mutation_options(function: Any) -> Any:
    function = click.option("--dry-run", is_flag=True, help="Print the plan of named steps; change nothing.")(function)
    function = click.option(
        "--drain-timeout",
        type=float,
        default=Options.drain_timeout,
        show_default=True,
        help="Seconds to wait for the old colour's requests in flight.",
    )(function)
    function = click.option(
        "--health-timeout",
        type=float,
        default=Options.health_timeout,
        show_default=True,
        help="Seconds to wait for the new colour to become healthy.",
    )(function)
    return env_option(function)


def _cutover(env_name: str | None) -> Cutover:
    paths, env = _environment(env_name)
    return Cutover(paths, env, Docker(), _say)


def _database(env_name: str | None) -> Cutover | ClusterDatabase:
    """db backup, list, verify, restore, export, import: on one engine (compose) or on a Swarm."""
    paths, env = _environment(env_name, swarm=True)
    if env.engine == "swarm":
        return ClusterDatabase(ClusterStack(paths, env, _say))
    return Cutover(paths, env, Docker(), _say)


def _on_engine(env_name: str | None, one: Callable[[Cutover], T], cluster: Callable[[ClusterStack], T]) -> T:
    """`one` on one engine (compose), `cluster` on a Swarm: a command built for both."""
    paths, env = _environment(env_name, swarm=True)
    if env.engine == "swarm":
        return cluster(ClusterStack(paths, env, _say))
    return one(Cutover(paths, env, Docker(), _say))


def _switch_cutover(env_name: str | None) -> Cutover | ClusterCutover:
    """deploy, promote, rollback, maintenance, cron: on one engine (compose) or on a Swarm."""
    paths, env = _environment(env_name, swarm=True)
    if env.engine == "swarm":
        return ClusterCutover(ClusterStack(paths, env, _say))
    return Cutover(paths, env, Docker(), _say)


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
    _switch_cutover(env_name).deploy(release, options, dry_run=dry_run, then_promote=then_promote)


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
    _switch_cutover(env_name).promote(color, options, dry_run=dry_run)


@cli.command()
@mutation_options
def rollback(env_name: str | None, dry_run: bool, drain_timeout: float, health_timeout: float) -> None:
    """Promote the other colour back: instant when it is still warm, else started again first."""
    options = Options(drain_timeout=drain_timeout, health_timeout=health_timeout)
    _switch_cutover(env_name).rollback(options, dry_run=dry_run)


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
    _switch_cutover(env_name).maintenance(True, message, retry_after, list(allow))
    _say("maintenance mode is on")


@maintenance.command(name="off")
@env_option
def maintenance_off(env_name: str | None) -> None:
    """Turn maintenance mode off (no request is dropped)."""
    _switch_cutover(env_name).maintenance(False, None, 0, [])
    _say("maintenance mode is off")


@maintenance.command(name="token")
@env_option
def maintenance_token(env_name: str | None) -> None:
    """Print the environment's bypass token."""
    click.echo(_switch_cutover(env_name).maintenance_token())


@cli.command()
@env_option
@click.option("--dry-run", is_flag=True, help="Print which releases would be retained; change nothing.")
def prune(env_name: str | None, dry_run: bool) -> None:
    """Remove static files that no retained release references (RETAIN_RELEASES, default 3).

    The running colours' releases are always retained. `promote` prunes after draining.
    """
    kept = _on_engine(env_name, lambda one: one.prune(dry_run), lambda stack: ClusterCutover(stack).prune(dry_run))
    if dry_run:
        _say(f"would retain the static files of: {', '.join(kept)}")


@cli.command(name="cron")
@click.argument("action", type=click.Choice(["status", "stop", "start"]), default="status")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print the cron state as JSON.")
def cron_command(action: str, env_name: str | None, as_json: bool) -> None:
    """Stop, start or show the site's cron (conf/crontab.txt, run from the live release).

    `stop` lets a running job finish (up to CRON_STOP_TIMEOUT) and keeps cron stopped across
    promotes until `start`. `promote` and `rollback` hand cron over to the new live release.
    """
    state = _switch_cutover(env_name).cron(action)
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
    _on_engine(
        env_name, lambda one: one.config_put(target, content), lambda stack: ClusterConfig(stack).put(target, content)
    )
    _say(f"stored {target}; the site reads it at /var/lib/site/config/{target}")


@config.command(name="list")
@env_option
def config_list(env_name: str | None) -> None:
    """List the files in the configuration volume."""
    from switcher.cluster_config import ClusterConfig

    for name in _on_engine(env_name, Cutover.config_list, lambda stack: ClusterConfig(stack).list()):
        click.echo(name)


@cli.group()
def tls() -> None:
    """The lb's certificate (TLS_MODE selfsigned or files): what it is, and renewing it with no
    connection dropped (nginx loads it per handshake)."""


@tls.command(name="status")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def tls_status(env_name: str | None, as_json: bool) -> None:
    """The certificate's names, issuer, expiry and fingerprint, and the last renewal's outcome."""
    data = _on_engine(env_name, lambda one: one.tls_status(), lambda stack: stack.tls_status())
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
    _say(_cutover(env_name).tls_renew(force))


@cli.command()
@click.argument("release")
@env_option
def push(release: str, env_name: str | None) -> None:
    """Push RELEASE's images (site, lb, db, memcached, broker, acme) to the environment's
    REGISTRY (ENGINE=swarm), each checked to be there as pushed; every node pulls from it."""
    _, env = _environment(env_name, swarm=True)
    check_release(release)
    pushed = Registry(env, Docker(), _say).push(release)
    for reference, digest in pushed:
        click.echo(f"{reference}  {digest}")


@cli.group()
def db() -> None:
    """The environment's database: backups in its `backups` volume (kept across `down`; on a
    cluster, on the db's node), restore, export and import, and `replace --from` another
    environment (on this engine, or on another: a cluster and one host)."""


@db.command(name="backup")
@click.option("--label", default="", help="A word for the backup's id (lower-case letters, digits, -).")
@env_option
def db_backup(label: str, env_name: str | None) -> None:
    """A consistent pg_dump of the database while the site serves, with its size, checksum,
    release and row counts recorded; then only the newest BACKUP_RETAIN are kept."""
    backup = _database(env_name).backup_locked(label)
    click.echo(backup.id)


@db.command(name="list")
@env_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backup.")
def db_list(env_name: str | None, as_json: bool) -> None:
    """The environment's backups, newest first."""
    for backup in _database(env_name).backups():
        if as_json:
            click.echo(json.dumps(backup.to_json(), sort_keys=True))
        else:
            rows = sum(backup.tables.values())
            label = f"  {backup.label}" if backup.label else ""
            click.echo(f"{backup.id}  {backup.size:>12} bytes  {rows:>9} rows  release {backup.release}{label}")


@db.command(name="verify")
@click.argument("backup_id")
@env_option
def db_verify(backup_id: str, env_name: str | None) -> None:
    """Check that a backup's dump matches its recorded checksum and pg_restore can read it."""
    _database(env_name).verify(backup_id)
    _say(f"backup {backup_id} is intact")


@db.command(name="restore")
@click.argument("backup_id")
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@env_option
def db_restore(backup_id: str, yes: bool, env_name: str | None) -> None:
    """Put backup BACKUP_ID in place of the environment's database.

    Maintenance goes on (and stays on), cron, beat and workers stop, the current database is
    backed up first, the backup is restored into a fresh database and its rows checked against
    its record, and only then swapped in. A damaged or failing backup changes nothing.
    """
    backups.check_id(backup_id)
    if not yes:
        click.confirm(f"Replace the database of {env_name or 'the environment'} with backup {backup_id}?", abort=True)
    for line in _database(env_name).restore(backup_id):
        _say(line)


@db.command(name="export")
@click.argument("backup_id")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@env_option
def db_export(backup_id: str, path: str, env_name: str | None) -> None:
    """Copy backup BACKUP_ID out to PATH on this host: one tar archive holding the dump and its
    record (mode 0600; an existing file is never overwritten)."""
    from pathlib import Path

    backup = _database(env_name).export(backup_id, Path(path))
    _say(f"exported {backup.id} ({backup.size} bytes of dump) to {path}")


@db.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@env_option
def db_import(path: str, env_name: str | None) -> None:
    """Bring an archive `db export` made (here or on another host) into this environment's
    backups; checked before it is listed. `db restore ID` then puts it in place."""
    from pathlib import Path

    backup = _database(env_name).import_archive(Path(path))
    click.echo(backup.id)


@db.command(name="replace")
@click.option("--from", "source_name", required=True, help="The environment whose data comes here.")
@click.option("--backup", "backup_id", default=None, help="Its backup to use [default: its newest].")
@click.option("--fresh", is_flag=True, help="Take a fresh backup of the other environment first.")
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
@env_option
def db_replace(source_name: str, backup_id: str | None, fresh: bool, yes: bool, env_name: str | None) -> None:
    """Replace this environment's database with another's (the old guide's
    integration_db_replace): this environment's credentials are kept, its own database is backed
    up first, the live release migrates the data, DB_REPLACE_HOOK runs (to anonymise), then
    maintenance goes off and cron on. Never replaces production. Either environment may be a
    cluster (ENGINE=swarm): the backup then travels as `db export`'s archive."""
    from switcher.db_replace import refuse_replacing

    if backup_id is not None:
        backups.check_id(backup_id)
    if fresh and backup_id is not None:
        raise Refused("choose --backup or --fresh, not both")
    target = _database(env_name)
    source = _database(source_name)
    refuse_replacing(target.env.name, source.env.name)  # before asking
    if not yes:
        click.confirm(f"Replace the database of {target.env.name} with {source_name}'s?", abort=True)
    for line in target.replace_from(source, backup_id, fresh):
        _say(line)


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

    for line in _on_engine(
        env_name, lambda one: one.rotate_secret(name), lambda stack: ClusterSecrets(stack).rotate(name)
    ):
        _say(line)


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
    code = _on_engine(
        env_name,
        lambda one: one.manage(list(arguments), terminal),
        lambda stack: ClusterCutover(stack).manage(list(arguments), terminal),
    )
    sys.exit(code)


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
    paths, env = _environment(env_name, swarm=True)
    if env.engine == "swarm":  # every task's log, on whichever node (through the manager)
        cluster = ClusterCutover(ClusterStack(paths, env, _say))
        stream = cluster.swarm.log_stream(cluster.log_service(service), follow, moment, tail)
    else:
        chores = Cutover(paths, env, Docker(), _say)
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
    paths, env = _environment(env_name, swarm=True)
    docker = ClusterStack(paths, env, _say).swarm.manager if env.engine == "swarm" else Docker()  # the store's engine
    for record in _history(docker, env).last(last):
        click.echo(json.dumps(record, sort_keys=True) if as_json else _format_record(record))


@cli.command()
@env_option
def unlock(env_name: str | None) -> None:
    """Break the environment's lock: only when the switcher holding it is gone."""
    paths, env = _environment(env_name, swarm=True)
    docker = ClusterStack(paths, env, _say).swarm.manager if env.engine == "swarm" else Docker()  # the lock's engine
    holder = break_lock(docker, env.project)
    _say("no lock was held" if holder is None else f"broke the lock held by {holder.describe()}")


def main() -> None:
    cli(prog_name="switcher")


if __name__ == "__main__":
    main()
