"""The environment's database as switcher handles it: backups (`switcher db backup/list`),
retention, and the backup `deploy` takes before it migrates. The dumps are made by the db
image's `db-backup` in a one-off container (compose service db-task) beside the running db."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from switcher import backups
from switcher.backups import Backup
from switcher.errors import NotFound, SwitcherError
from switcher.session import Session


class Database(Session):
    def db_task(self, arguments: list[str]) -> str:
        db = self.containers().get("db")
        if db is None or db.state != "running":
            raise SwitcherError(f"the db of {self.env.name} is not running; start the stack with `make up`")
        return self.stack.run_db_task(self.releases(), arguments)

    def backups(self) -> list[Backup]:
        records, bad = backups.parse(self.db_task(["list"]))
        if bad:
            self.report(f"{bad} backup record(s) could not be read and are not listed")
        return records

    def backup(self, label: str = "", release: str | None = None, reason: str = "backup") -> Backup:
        """A consistent dump of the site's database while it serves, then retention. The caller
        holds the environment's lock."""
        started = time.monotonic()
        backup_id = backups.new_id(datetime.now(UTC), backups.check_label(label) if label else "")
        release = release or self.status().live_release or self.any_release()
        self.report(f"backing up the database ({reason}) as {backup_id}")
        output = self.db_task(["create", backup_id, release, label])
        made, _ = backups.parse(output)
        if not made:
            raise SwitcherError(f"the backup {backup_id} left no record: {output.strip()[-200:]}")
        backup = made[0]
        rows, tables = sum(backup.tables.values()), len(backup.tables)
        self.report(f"backup {backup.id}: {backup.size} bytes, {rows} rows in {tables} tables")
        self.record("db-backup", started, "ok", backup=backup.id, size=backup.size, release=release, reason=reason)
        self.retain()
        return backup

    def retain(self) -> None:
        gone = backups.to_delete(self.backups(), int(self.env.settings["BACKUP_RETAIN"]))
        if gone:
            self.db_task(["delete", *gone])
            self.report(f"removed {len(gone)} old backup(s) beyond BACKUP_RETAIN={self.env.settings['BACKUP_RETAIN']}")

    def backup_locked(self, label: str) -> Backup:
        self.status()
        with self.locked("db backup"):
            return self.backup(label)

    def verify(self, backup_id: str) -> None:
        backups.check_id(backup_id)
        if backup_id not in {backup.id for backup in self.backups()}:
            raise NotFound(f"{self.env.name} has no backup {backup_id} (see `switcher db list`)")
        self.db_task(["verify", backup_id])

    def restore(self, backup_id: str) -> list[str]:
        """Backup `backup_id` in place of the site's database, with maintenance on (and left on
        for the operator to check through the bypass), cron, beat and workers stopped, and a
        backup of the database it replaces taken first. A failed restore changes nothing."""
        from switcher.maintenance import MaintenanceSwitch

        backups.check_id(backup_id)
        self.status()
        started = time.monotonic()
        with self.locked(f"db restore {backup_id}"):
            status = self.status()
            found = {backup.id: backup for backup in self.backups()}
            if backup_id not in found:
                raise NotFound(f"{self.env.name} has no backup {backup_id} (see `switcher db list`)")
            self.db_task(["verify", backup_id])  # a damaged file is refused before anything changes
            switch = MaintenanceSwitch(self.docker, self.lb())
            live_release = status.live_release or self.any_release()
            if switch.read() is None:
                self.report("turning maintenance on")
                switch.turn_on(live_release, self.credentials()["MAINTENANCE_TOKEN"], "Restoring data", 600, [])
            self.report("stopping cron, beat and workers")
            self.stack.stop_processes()
            safety = self.backup(label="before-restore", release=live_release, reason=f"before restoring {backup_id}")
            self.report(f"restoring {backup_id} into a fresh database, checking its rows, swapping it in")
            try:
                self.db_task(["restore", backup_id])
            except Exception as error:
                self.record("db-restore", started, "failed", backup=backup_id, error=str(error))
                raise
            self.stack.flush_cache()
            self.record("db-restore", started, "ok", backup=backup_id, saved=safety.id)
        restored = found[backup_id]
        done = [
            f"restored {backup_id} (release {restored.release}); the database it replaced is backup {safety.id}",
            "maintenance stays on: check the site through the bypass (`switcher maintenance token`), then "
            "`switcher maintenance off`; `switcher cron start` starts cron, beat and workers again",
        ]
        if restored.release != live_release:
            done.append(
                f"note: the backup was taken with release {restored.release}, {live_release} is live: "
                "its migrations may be ahead of the data (`switcher manage migrate`)"
            )
        return done
