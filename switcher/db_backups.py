"""The environment's backups on any engine: taken, listed, kept to BACKUP_RETAIN, verified and
restored by the db image's `db-backup`, run by a function the engine gives (a one-off
container beside the db on one engine, an exec in the db task through its node's engine on a
Swarm). What a backup is (ids, records, retention) is the pure `backups.py`."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from switcher import backups, history
from switcher.backup_archive import restage
from switcher.backups import Backup
from switcher.config import Environment
from switcher.errors import NotFound, Refused, SwitcherError
from switcher.store import EnvironmentStore

DbTask = Callable[[list[str]], str]  # `db-backup ARGUMENTS`: its output, or SwitcherError


class DbBackups:
    def __init__(self, env: Environment, store: EnvironmentStore, run: DbTask, report: Callable[[str], None]) -> None:
        self.env, self.store, self.run, self.report = env, store, run, report

    def listed(self) -> list[Backup]:
        """Every backup, newest first (a record that cannot be read is said, not listed)."""
        records, bad = backups.parse(self.run(["list"]))
        if bad:
            self.report(f"{bad} backup record(s) could not be read and are not listed")
        return records

    def find(self, backup_id: str) -> Backup:
        backups.check_id(backup_id)
        found = {backup.id: backup for backup in self.listed()}
        if backup_id not in found:
            raise NotFound(f"{self.env.name} has no backup {backup_id} (see `switcher db list`)")
        return found[backup_id]

    def create(self, release: str, label: str = "", reason: str = "backup") -> Backup:
        """A consistent dump of the database while the site serves, recorded in the history,
        then retention. The caller holds the environment's lock."""
        started = time.monotonic()
        backup_id = backups.new_id(datetime.now(UTC), backups.check_label(label) if label else "")
        self.report(f"backing up the database ({reason}) as {backup_id}")
        output = self.run(["create", backup_id, release, label])
        listed, _ = backups.parse(output)  # every record, the new one among them
        made = [backup for backup in listed if backup.id == backup_id]
        if not made:
            raise SwitcherError(f"the backup {backup_id} left no record: {output.strip()[-200:]}")
        backup = made[0]
        rows, tables = sum(backup.tables.values()), len(backup.tables)
        self.report(f"backup {backup.id}: {backup.size} bytes, {rows} rows in {tables} tables")
        fields = {"backup": backup.id, "size": backup.size, "release": release, "reason": reason}
        history.record(self.store, self.env.name, "db-backup", started, "ok", **fields)
        self.retain(listed)
        return backup

    def retain(self, listed: list[Backup]) -> None:
        retain = int(self.env.settings["BACKUP_RETAIN"])
        gone = backups.to_delete(listed, retain)
        if gone:
            self.run(["delete", *gone])
            self.report(f"removed {len(gone)} old backup(s) beyond BACKUP_RETAIN={retain}")

    def verify(self, backup_id: str) -> Backup:
        """The backup's dump matches its recorded checksum and pg_restore can read it."""
        backup = self.find(backup_id)
        self.run(["verify", backup_id])
        return backup

    def export(self, backup_id: str, destination: Path, copy_out: Callable[[list[str]], None]) -> Backup:
        """Backup `backup_id`, verified, as one tar archive (ID.dump, ID.json) at `destination`
        (mode 0600; an existing file is never overwritten, a failed copy leaves none):
        `copy_out` writes the archive of those two names in the backups volume."""
        backups.check_id(backup_id)
        if destination.exists() or destination.is_symlink():
            raise Refused(f"{destination} exists; `db export` never overwrites a file")
        if not destination.parent.is_dir():
            raise NotFound(f"{destination.parent} is not a directory")
        backup = self.verify(backup_id)
        try:
            copy_out([f"{backup_id}.dump", f"{backup_id}.json"])
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        return backup

    def bring_in(
        self, source: Path, backup_id: str, owner: Callable[[], tuple[int, int]], copy_in: Callable[[BinaryIO], None]
    ) -> None:
        """An archive read by `read_archive` into the backups volume (`copy_in` unpacks a tar
        stream there), its files postgres's (`owner`) and readable by it only, then verified;
        removed again when it is not intact. The caller holds the lock."""
        if backup_id in {backup.id for backup in self.listed()}:
            raise Refused(f"{self.env.name} already has backup {backup_id}")
        uid, gid = owner()
        with tempfile.TemporaryDirectory() as work:  # 0700: the dump holds the site's data
            staged = Path(work) / "in.tar"
            restage(source, staged, uid, gid)
            with staged.open("rb") as data:
                copy_in(data)
        try:
            self.run(["verify", backup_id])
        except SwitcherError:
            self.run(["delete", backup_id])
            raise

    def restore(self, backup_id: str, action: str, started: float, saved: str) -> None:
        """The backup restored into a fresh database, its rows checked, then swapped in (never
        half-done), in the history as `action`. The caller holds the lock and has stopped the
        site's writers."""
        self.report(f"restoring {backup_id} into a fresh database, checking its rows, swapping it in")
        try:
            self.run(["restore", backup_id])
        except Exception as error:  # recorded, then raised as it was
            history.record(self.store, self.env.name, action, started, "failed", backup=backup_id, error=str(error))
            raise
        history.record(self.store, self.env.name, action, started, "ok", backup=backup_id, saved=saved)


def restore_summary(restored: Backup, safety: Backup, live_release: str) -> list[str]:
    """What a restore tells the operator: what now holds the data, and what to do next."""
    done = [
        f"restored {restored.id} (release {restored.release}); the database it replaced is backup {safety.id}",
        "maintenance stays on: check the site through the bypass (`switcher maintenance token`), then "
        "`switcher maintenance off`; `switcher cron start` starts cron, beat and workers again",
    ]
    if restored.release != live_release:
        done.append(
            f"note: the backup was taken with release {restored.release}, {live_release} is live: "
            "its migrations may be ahead of the data (`switcher manage migrate`)"
        )
    return done
