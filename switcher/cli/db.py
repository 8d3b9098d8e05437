"""`switcher db`: backups, restore, export and import, replace --from another environment."""

from __future__ import annotations

import json

import click

from switcher import backups
from switcher.cli.base import cli, database, env_option, say
from switcher.errors import Refused


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
    backup = database(env_name).backup_locked(label)
    click.echo(backup.id)


@db.command(name="list")
@env_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backup.")
def db_list(env_name: str | None, as_json: bool) -> None:
    """The environment's backups, newest first."""
    for backup in database(env_name).backups():
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
    database(env_name).verify(backup_id)
    say(f"backup {backup_id} is intact")


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
    for line in database(env_name).restore(backup_id):
        say(line)


@db.command(name="export")
@click.argument("backup_id")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@env_option
def db_export(backup_id: str, path: str, env_name: str | None) -> None:
    """Copy backup BACKUP_ID out to PATH on this host: one tar archive holding the dump and its
    record (mode 0600; an existing file is never overwritten)."""
    from pathlib import Path

    backup = database(env_name).export(backup_id, Path(path))
    say(f"exported {backup.id} ({backup.size} bytes of dump) to {path}")


@db.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@env_option
def db_import(path: str, env_name: str | None) -> None:
    """Bring an archive `db export` made (here or on another host) into this environment's
    backups; checked before it is listed. `db restore ID` then puts it in place."""
    from pathlib import Path

    backup = database(env_name).import_archive(Path(path))
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
    target = database(env_name)
    source = database(source_name)
    refuse_replacing(target.env.name, source.env.name)  # before asking
    if not yes:
        click.confirm(f"Replace the database of {target.env.name} with {source_name}'s?", abort=True)
    for line in target.replace_from(source, backup_id, fresh):
        say(line)
