"""Database backups: their ids, records and retention. Pure: the backups themselves are made
and read by the db image's `db-backup` (database.py runs it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from switcher.errors import ConfigError

_LABEL = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_ID = re.compile(r"\d{8}T\d{6}Z(?:-[a-z0-9][a-z0-9-]{0,39})?")


@dataclass(frozen=True)
class Backup:
    id: str
    created: str
    size: int
    sha256: str
    release: str
    label: str
    migrations: int
    tables: dict[str, int] = field(default_factory=dict)
    seconds: int = 0

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "created": self.created,
            "size": self.size,
            "sha256": self.sha256,
            "release": self.release,
            "label": self.label,
            "migrations": self.migrations,
            "tables": dict(self.tables),
            "seconds": self.seconds,
        }


def check_label(label: str) -> str:
    if not _LABEL.fullmatch(label):
        raise ConfigError(f"backup label {label[:50]!r} must be lower-case letters, digits and -, up to 40")
    return label


def check_id(backup_id: str) -> str:
    if not _ID.fullmatch(backup_id):
        raise ConfigError(f"{backup_id[:60]!r} is not a backup id (like 20261201T033500Z or 20261201T033500Z-label)")
    return backup_id


def new_id(now: datetime, label: str = "") -> str:
    """A sortable, unique-per-second id: the UTC time, then the label."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{check_label(label)}" if label else stamp


def parse(text: str) -> tuple[list[Backup], int]:
    """The records `db-backup list` printed, newest first, and how many lines were unreadable."""
    found, bad = [], 0
    for line in text.splitlines():
        if not line.startswith("{"):
            continue  # compose's own lines (a volume created, say)
        try:
            data = json.loads(line)
            found.append(
                Backup(
                    id=check_id(str(data["id"])),
                    created=str(data["created"]),
                    size=int(data["size"]),
                    sha256=str(data["sha256"]),
                    release=str(data.get("release", "")),
                    label=str(data.get("label", "")),
                    migrations=int(data.get("migrations", 0)),
                    tables={str(k): int(v) for k, v in (data.get("tables") or {}).items()},
                    seconds=int(data.get("seconds", 0)),
                )
            )
        except (ValueError, KeyError, TypeError, ConfigError):
            bad += 1
    return sorted(found, key=lambda backup: backup.id, reverse=True), bad


def to_delete(backups: list[Backup], retain: int) -> list[str]:
    """The ids beyond the newest `retain` (at least the newest one is always kept)."""
    ordered = sorted(backups, key=lambda backup: backup.id, reverse=True)
    return [backup.id for backup in ordered[max(retain, 1) :]]


def archive_id(members: list[tuple[str, bool]]) -> str:
    """The backup id of an exported archive, from its (name, is a regular file) members: exactly
    ID.dump and ID.json, nothing else (no directories, links or paths)."""
    names = sorted(name for name, _ in members)
    if len(members) != 2 or not all(regular for _, regular in members) or not names[0].endswith(".dump"):
        raise ConfigError("not a switcher backup archive: it must hold exactly ID.dump and ID.json (`db export`)")
    backup_id = check_id(names[0][: -len(".dump")])
    if names[1] != f"{backup_id}.json":
        raise ConfigError(f"not a switcher backup archive: {names[1][:60]!r} does not belong to {backup_id}")
    return backup_id
