"""The environment's database as switcher handles it: backups (`switcher db backup/list`),
retention, and the backup `deploy` takes before it migrates. The dumps are made by the db
image's `db-backup` in a one-off container (compose service db-task) beside the running db."""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO

from switcher import backups
from switcher.backup_archive import postgres_owner, read_archive
from switcher.backups import Backup
from switcher.db_backups import DbBackups, restore_summary
from switcher.db_replace import BackupSource, carry_backup, replace
from switcher.errors import SwitcherError
from switcher.session import Session


class Database(Session):
    def db_task(self, arguments: list[str]) -> str:
        db = self.containers().get("db")
        if db is None or db.state != "running":
            raise SwitcherError(f"the db of {self.env.name} is not running; start the stack with `make up`")
        return self.stack.run_db_task(self.releases(), arguments)

    @property
    def shelf(self) -> DbBackups:
        return DbBackups(self.env, self.store, self.db_task, self.report)

    def backups(self) -> list[Backup]:
        return self.shelf.listed()

    def backup(self, label: str = "", release: str | None = None, reason: str = "backup") -> Backup:
        """A consistent dump of the site's database while it serves, then retention. The caller
        holds the environment's lock."""
        return self.shelf.create(release or self.status().live_release or self.any_release(), label, reason)

    def backup_locked(self, label: str) -> Backup:
        self.status()
        with self.locked("db backup"):
            return self.backup(label)

    def verify(self, backup_id: str) -> None:
        self.shelf.verify(backup_id)

    def restore(self, backup_id: str) -> list[str]:
        """Backup `backup_id` in place of the site's database, with maintenance on (and left on
        for the operator to check through the bypass), cron, beat and workers stopped, and a
        backup of the database it replaces taken first. A failed restore changes nothing."""
        backups.check_id(backup_id)
        self.status()
        started = time.monotonic()
        with self.locked(f"db restore {backup_id}"):
            restored, safety, live_release, _ = self.swap_in(backup_id, "db-restore", started)
        return restore_summary(restored, safety, live_release)

    def swap_in(self, backup_id: str, action: str, started: float) -> tuple[Backup, Backup, str, bool]:
        """Under the lock: verify the backup, maintenance on, cron/beat/workers off, a backup of
        the database as it is, the restore (checked rows, then the swap), memcached flushed.
        The backup, the safety backup, the live release and whether maintenance was turned on."""
        from switcher.maintenance import MaintenanceSwitch

        status = self.status()
        shelf = self.shelf
        chosen = shelf.verify(backup_id)  # a damaged file is refused before anything changes
        switch = MaintenanceSwitch(self.docker, self.lb())
        live_release = status.live_release or self.any_release()
        turned_on = switch.read() is None
        if turned_on:
            self.report("turning maintenance on")
            switch.turn_on(live_release, self.credentials()["MAINTENANCE_TOKEN"], "Restoring data", 600, [])
        self.report("stopping cron, beat and workers")
        self.stack.stop_processes()
        safety = self.backup(label="before-restore", release=live_release, reason=f"before restoring {backup_id}")
        shelf.restore(backup_id, action, started, safety.id)
        self.flush_cache()
        return chosen, safety, live_release, turned_on

    # -- to and from the host -----------------------------------------------------------------
    def export(self, backup_id: str, destination: Path) -> Backup:
        """Backup `backup_id` as one tar archive (ID.dump, ID.json) at `destination`, mode 0600;
        an existing file is never overwritten."""

        def copy_out(names: list[str]) -> None:
            with self.docker.volume_holder({self.backups_volume: "/volume"}) as holder:
                self.docker.export_files(holder, [f"/volume/{name}" for name in names], destination)

        return self.shelf.export(backup_id, destination, copy_out)

    def import_archive(self, source: Path) -> Backup:
        """An archive `db export` made (here or in another environment or host) into this
        environment's backups, checked (members, record, checksum, readability) before it is
        listed; a bad archive leaves nothing behind."""
        backup_id, record = read_archive(source)
        self.status()
        with self.locked(f"db import {backup_id}"):
            self._bring_in(source, backup_id)
        return record

    def _bring_in(self, source: Path, backup_id: str) -> None:
        """The archive `source` into the backups volume, checked; the caller holds the lock."""
        db = self.containers()["db"].name

        def copy_in(data: BinaryIO) -> None:
            with self.docker.volume_holder({self.backups_volume: "/volume"}) as holder:
                self.docker.archive_in(holder, "/volume", data)

        self.shelf.bring_in(source, backup_id, lambda: postgres_owner(self.docker, db), copy_in)

    @property
    def backups_volume(self) -> str:
        return f"{self.env.project}_backups"

    # -- another environment's data: db_replace.replace's steps ---------------------------------
    def replace_from(self, source: BackupSource, backup_id: str | None, fresh: bool) -> list[str]:
        """The old guide's integration_db_replace (db_replace.replace), never on production.
        `source` may be on this engine (its backups volume copied) or a cluster (an archive)."""
        self.status()
        return replace(self, source, backup_id, fresh)

    def bring_over(self, source: BackupSource, chosen: Backup) -> None:
        if isinstance(source, Database):
            self._copy_backup(source, chosen)
        else:
            carry_backup(source, chosen, self._bring_in, self.report)

    def cron_stopped_by_operator(self) -> bool:
        return self.stack.cron_stopped_by_operator()

    def manage_job(self, name: str, release: str, arguments: list[str]) -> None:
        self.task(["python3", "manage.py", *arguments], release)

    def flush_cache(self) -> None:
        self.stack.flush_cache()

    def _copy_backup(self, source: Database, chosen: Backup) -> None:
        """Another environment's backup on this engine: volume to volume."""
        self.report(f"copying {source.env.name}'s backup {chosen.id} ({chosen.size} bytes)")
        volumes = {source.backups_volume: "/source", self.backups_volume: "/target"}
        with self.docker.volume_holder(volumes) as holder:
            for name in (f"{chosen.id}.dump", f"{chosen.id}.json"):
                self.docker.archive_in(holder, "/target", self.docker.archive_out(holder, f"/source/{name}"))

    def resume(self, turned_on: bool, live_release: str, cron_stays_stopped: bool) -> None:
        from switcher.maintenance import MaintenanceSwitch

        if turned_on:
            self.report("turning maintenance off")
            MaintenanceSwitch(self.docker, self.lb()).turn_off()
        if cron_stays_stopped:  # the workers follow the release even so
            self.report("cron stays stopped (`switcher cron start` starts it)")
            self.stack.create_cron_stopped(self.releases(cron=live_release))
        else:
            self.stack.start_cron(self.releases(cron=live_release))
