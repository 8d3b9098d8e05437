"""The archive `db export` writes and `db import` reads: exactly ID.dump and ID.json, checked
before anything is copied, and restaged to belong to the db image's postgres."""

from __future__ import annotations

import tarfile
from pathlib import Path

from switcher import backups
from switcher.backups import Backup
from switcher.errors import ConfigError
from switcher.runtime import Docker


def read_archive(source: Path) -> tuple[str, Backup]:
    """The id and record of an archive `db export` made, or one line why it is not one."""
    try:
        with tarfile.open(source, mode="r:") as tar:
            members = tar.getmembers()
            backup_id = backups.archive_id([(member.name, member.isfile()) for member in members])
            handle = tar.extractfile(f"{backup_id}.json")
            text = handle.read(1 << 20).decode("utf-8", "replace") if handle else ""
    except (OSError, tarfile.TarError) as error:
        raise ConfigError(f"{source} is not a backup archive `db export` made: {error}") from None
    records, _ = backups.parse(text)
    if len(records) != 1 or records[0].id != backup_id:
        raise ConfigError(f"{source}: the record in it is not backup {backup_id}'s")
    return backup_id, records[0]


def restage(source: Path, staged: Path, uid: int, gid: int) -> None:
    """The archive's two files again, owned by the db image's postgres and readable by it only."""
    with tarfile.open(source, mode="r:") as tar, tarfile.open(staged, mode="w") as out:
        for member in tar.getmembers():
            member.uid, member.gid, member.mode, member.uname, member.gname = uid, gid, 0o600, "", ""
            out.addfile(member, tar.extractfile(member))


def postgres_owner(docker: Docker, container: str) -> tuple[int, int]:
    """The uid and gid of postgres in a container of the db image (a backup's files are its)."""
    code, output = docker.exec_output(container, ["sh", "-c", "id -u postgres; id -g postgres"])
    ids = output.split()
    if code != 0 or len(ids) != 2 or not all(part.isdigit() for part in ids):
        raise ConfigError(f"cannot tell postgres's uid and gid in the db container: {output.strip()[:200]}")
    return int(ids[0]), int(ids[1])
