"""`switcher db replace --from SOURCE`: its named steps, the same on both engines (`replace`),
over what each engine does for them (ReplaceTarget: database.py on one engine, cluster_db.py
on a Swarm). Also which of the source's backups comes over, the rule that production is never
replaced, and how a backup travels between two environments that do not share an engine (a
cluster and one host, two clusters): as the archive `db export` makes, in a private temporary
directory, imported on the other side with the same checks as `db import`."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from switcher import backups
from switcher.backups import Backup
from switcher.config import Environment
from switcher.errors import NotFound, Refused


class BackupSource(Protocol):
    """What db replace needs of the source environment, on either engine."""

    env: Environment

    def backups(self) -> list[Backup]: ...

    def backup_locked(self, label: str) -> Backup: ...

    def export(self, backup_id: str, destination: Path) -> Backup: ...


class ReplaceTarget(Protocol):
    """What db replace needs of the environment whose data it replaces, on either engine."""

    env: Environment
    report: Callable[[str], None]

    def locked(self, command: str) -> AbstractContextManager[object]: ...

    def backups(self) -> list[Backup]: ...

    def bring_over(self, source: BackupSource, chosen: Backup) -> None:
        """`chosen` among this environment's backups, checked as `db import` checks."""

    def cron_stopped_by_operator(self) -> bool: ...

    def swap_in(self, backup_id: str, action: str, started: float) -> tuple[Backup, Backup, str, bool]:
        """`db restore`'s steps under the lock (maintenance on, cron, beat and workers stopped,
        a safety backup, the restore, the swap, the cache emptied): the backup, the safety
        backup, the live release and whether maintenance was turned on."""

    def manage_job(self, name: str, release: str, arguments: list[str]) -> None:
        """`manage.py ARGUMENTS` of `release` in a one-off container or job; raises when it fails."""

    def flush_cache(self) -> None: ...

    def resume(self, turned_on: bool, live_release: str, cron_stays_stopped: bool) -> None:
        """Maintenance off if this turned it on; cron, beat and workers of `live_release` running
        again (cron and beat not while `cron_stays_stopped`: an operator had stopped them)."""


def replace(target: ReplaceTarget, source: BackupSource, backup_id: str | None, fresh: bool) -> list[str]:
    """The old guide's integration_db_replace: `source`'s newest (or a fresh, or the named) backup
    restored in `target` with `target`'s credentials, migrated by the live release, the
    DB_REPLACE_HOOK run, then maintenance off and cron on again. Never on production."""
    refuse_replacing(target.env.name, source.env.name)
    chosen = choose_backup(source, backup_id, fresh, target.env.name)
    started = time.monotonic()
    with target.locked(f"db replace from {source.env.name}"):
        cron_stays_stopped = target.cron_stopped_by_operator()  # before swap_in stops it
        if chosen.id not in {backup.id for backup in target.backups()}:
            target.bring_over(source, chosen)
        _, safety, live_release, turned_on = target.swap_in(chosen.id, "db-replace", started)
        target.report(f"migrating {source.env.name}'s data with {live_release}")
        target.manage_job("migrate", live_release, ["migrate", "--noinput"])
        hook = target.env.db_replace_hook
        if hook:
            target.report(f"running DB_REPLACE_HOOK: manage.py {' '.join(hook)}")
            target.manage_job("replace-hook", live_release, hook)
        target.flush_cache()
        target.resume(turned_on, live_release, cron_stays_stopped)
    return replaced_summary(target.env.name, source.env.name, chosen, safety)


def refuse_replacing(target: str, source: str) -> None:
    if target == "production":
        raise Refused("db replace never replaces production's database (restore one of its own backups)")
    if source == target:
        raise Refused(f"{target} cannot replace its database with its own")


def choose_backup(source: BackupSource, backup_id: str | None, fresh: bool, target: str) -> Backup:
    """The source's newest backup, the named one, or a fresh one (taken under the source's lock)."""
    if backup_id is not None:
        backups.check_id(backup_id)
    if fresh:
        return source.backup_locked("for-" + target)
    listed = source.backups()
    if backup_id is not None:
        listed = [backup for backup in listed if backup.id == backup_id]
    if not listed:
        what = f"no backup {backup_id}" if backup_id else "no backup (use --fresh to take one)"
        raise NotFound(f"{source.env.name} has {what}")
    return listed[0]


def carry_backup(
    source: BackupSource, chosen: Backup, bring_in: Callable[[Path, str], object], report: Callable[[str], None]
) -> None:
    """`chosen` exported from `source` into a directory only this user can read (the archive
    0600), then `bring_in(archive, backup id)` on the other side; the archive is deleted after."""
    report(f"copying {source.env.name}'s backup {chosen.id} ({chosen.size} bytes) as an archive")
    with tempfile.TemporaryDirectory(prefix="switcher-replace-") as directory:
        archive = Path(directory) / f"{chosen.id}.tar"
        source.export(chosen.id, archive)
        bring_in(archive, chosen.id)


def replaced_summary(target: str, source: str, chosen: Backup, safety: Backup) -> list[str]:
    return [
        f"{target} now holds {source}'s data of {chosen.created} (backup {chosen.id}); "
        f"its own database before is backup {safety.id}"
    ]
