"""`switcher db backup/list/verify/restore/export/import/replace` on a Swarm (ENGINE=swarm): the same
backups as on one engine (db_backups.py), made by `db-backup` in the db task through the engine
of the node that runs it, into the db's `backups` volume on that node (the db is pinned there
with its data).

A restore takes the same steps as on one host: under the lock, the backup verified, every lb in
maintenance (left on for the operator to check through the bypass), cron stopped (kept so until
`switcher cron start`), a backup of the database it replaces, the restore (rows checked, then
the swap), memcached emptied. `replace` adds a migration, DB_REPLACE_HOOK, and maintenance
off and cron on again at the end, as on one host."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path

from switcher import backups
from switcher.backup_archive import postgres_owner, read_archive
from switcher.backups import Backup
from switcher.cluster_stack import ClusterStack
from switcher.db_backups import restore_summary
from switcher.db_replace import BackupSource, carry_backup, replace
from switcher.errors import SwitcherError
from switcher.maintenance_mode import apply_maintenance
from switcher.swarm_engine import SwarmEngine

BACKUPS = "/var/lib/switcher/backups"  # the db task's backups volume (compose/swarm.yml)
FLUSH_MEMCACHED = "printf 'flush_all\\r\\nquit\\r\\n' | timeout 5 nc -N 127.0.0.1 11211"


class ClusterDatabase:
    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.env, self.report = stack, stack.env, stack.report
        self.engine = SwarmEngine(stack)
        self.shelf = self.engine.shelf

    def backups(self) -> list[Backup]:
        return self.shelf.listed()

    def backup_locked(self, label: str) -> Backup:
        if label:
            backups.check_label(label)  # before the lock
        with self.engine.locked("db backup"):
            return self.shelf.create(self.engine.live_release(), label)

    def verify(self, backup_id: str) -> None:
        self.shelf.verify(backup_id)

    def export(self, backup_id: str, destination: Path) -> Backup:
        """Backup `backup_id` off the db's node: one tar archive at `destination` on this host
        (mode 0600, never over an existing file), read from the db task's backups volume."""

        def copy_out(names: list[str]) -> None:
            task, engine = self.stack.task_engine("db")
            engine.export_files(task.container_id, [f"{BACKUPS}/{name}" for name in names], destination)

        return self.shelf.export(backup_id, destination, copy_out)

    def import_archive(self, source: Path) -> Backup:
        """An archive `db export` made (on this cluster, another, or one host) into the backups
        volume on the db's node, checked before it is listed (as on one host); for a db node
        that was lost with its backups."""
        backup_id, record = read_archive(source)  # before the lock: a bad archive changes nothing
        with self.engine.locked(f"db import {backup_id}"):
            self._bring_in(source, backup_id)
        return record

    def _bring_in(self, source: Path, backup_id: str) -> None:
        task, engine = self.stack.task_engine("db")
        self.shelf.bring_in(
            source,
            backup_id,
            lambda: postgres_owner(engine, task.container_id),
            lambda data: engine.archive_in(task.container_id, BACKUPS, data),
        )

    def restore(self, backup_id: str) -> list[str]:
        backups.check_id(backup_id)
        started = time.monotonic()
        with self.engine.locked(f"db restore {backup_id}"):
            chosen, safety, live_release, _ = self.swap_in(backup_id, "db-restore", started)
        return restore_summary(chosen, safety, live_release)

    def swap_in(self, backup_id: str, action: str, started: float) -> tuple[Backup, Backup, str, bool]:
        """Under the lock: the backup verified, every lb in maintenance, cron, beat and the workers
        stopped (cron and beat kept so: the operator's cron state set), a backup of the database
        as it is, the restore (rows checked, then the swap), memcached emptied. The backup, the
        safety backup, the live release and whether maintenance was turned on."""
        live_release = self.engine.live_release()
        chosen = self.shelf.verify(backup_id)  # a damaged file is refused before anything changes
        turned_on = not all(lb.in_maintenance() for lb in self.engine.lbs())
        if turned_on:
            self.report("turning maintenance on on every lb")
            apply_maintenance(self.engine, True, self.token(), "Restoring data", 600, [])
        self.report("stopping cron, beat and workers")
        self.stack.set_cron_stopped(True)  # until `switcher cron start`, as on one host
        self.engine.stop_processes()
        safety = self.shelf.create(live_release, "before-restore", f"before restoring {backup_id}")
        self.shelf.restore(backup_id, action, started, safety.id)
        self.flush_cache()
        return chosen, safety, live_release, turned_on

    def token(self) -> str:
        return self.stack.credentials()["MAINTENANCE_TOKEN"]

    # -- another environment's data: db_replace.replace's steps ---------------------------------
    def replace_from(self, source: BackupSource, backup_id: str | None, fresh: bool) -> list[str]:
        """The same steps as on one host (db_replace.replace): the source's backup brought here as
        an archive unless it is here already, restored as `restore` does, migrated by the live
        release (a job), DB_REPLACE_HOOK (a job), then maintenance off (if this turned it on) and
        cron on again (unless an operator had stopped it)."""
        return replace(self, source, backup_id, fresh)

    def locked(self, command: str) -> AbstractContextManager[object]:
        return self.engine.locked(command)

    def bring_over(self, source: BackupSource, chosen: Backup) -> None:
        carry_backup(source, chosen, self._bring_in, self.report)

    def cron_stopped_by_operator(self) -> bool:
        return self.stack.cron_stopped()

    def manage_job(self, name: str, release: str, arguments: list[str]) -> None:
        self.stack.job(name, release, ["python3", "manage.py", *arguments])

    def resume(self, turned_on: bool, live_release: str, cron_stays_stopped: bool) -> None:
        if turned_on:
            self.report("turning maintenance off on every lb")
            apply_maintenance(self.engine, False, self.token(), None, 0, [])
        if cron_stays_stopped:
            self.report("cron stays stopped (`switcher cron start` starts it); the workers run again")
            self.stack.deploy(self.engine.releases())
        else:
            self.engine.hold_cron(False, live_release)

    def flush_cache(self) -> None:
        """Empty memcached (the data under the cached pages changed); said, not fatal, when it
        cannot be reached (its entries expire by themselves)."""
        try:
            task, engine = self.stack.task_engine("memcached")
            code, output = engine.exec_output(task.container_id, ["sh", "-c", FLUSH_MEMCACHED])
        except SwitcherError as error:
            code, output = 1, str(error)
        if code != 0 or "OK" not in output:
            self.report(f"note: memcached could not be emptied ({output.strip()[:120]}); cached pages may be stale")
