"""`switcher db replace --from SOURCE`: what both engines share. Which of the source's backups
comes over, the rule that production is never replaced, and how a backup travels between two
environments that do not share an engine (a cluster and one host, two clusters): as the
archive `db export` makes, in a private temporary directory, imported on the other side with
the same checks as `db import`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
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
