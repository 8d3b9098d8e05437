"""The backups every engine shares (switcher/db_backups.py) against an in-memory `db-backup`:
a backup is recorded and the oldest beyond BACKUP_RETAIN removed, an unknown or malformed id
is refused before db-backup runs, a failed restore is in the history. The real db-backup runs
in tests/integration (test_database.py on one engine, test_cluster.py on a Swarm)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from switcher import history
from switcher.backup_archive import read_archive
from switcher.config import validate
from switcher.db_backups import DbBackups, restore_summary
from switcher.errors import ConfigError, NotFound, Refused, SwitcherError

from .conftest import ROOT
from .fakes import MemoryStore


class FakeDbBackup:
    """db-backup's list/create/delete/verify/restore over records in a dict."""

    def __init__(self, *ids: str, restore_fails: bool = False) -> None:
        self.records = {backup_id: self.record(backup_id, "r1") for backup_id in ids}
        self.calls: list[list[str]] = []
        self.restore_fails = restore_fails

    @staticmethod
    def record(backup_id: str, release: str, label: str = "") -> dict:
        return {
            "id": backup_id, "created": "2026-12-06T10:00:00Z", "size": 10, "sha256": "0" * 64,
            "release": release, "label": label, "migrations": 3, "tables": {"public.a": 2},
        }  # fmt: skip

    def listing(self) -> str:
        return "".join(json.dumps(record) + "\n" for record in self.records.values())

    def __call__(self, arguments: list[str]) -> str:
        self.calls.append(arguments)
        action, rest = arguments[0], arguments[1:]
        if action == "create":
            self.records[rest[0]] = self.record(rest[0], rest[1], rest[2])
        elif action == "delete":
            for backup_id in rest:
                self.records.pop(backup_id, None)
        elif action == "restore" and self.restore_fails:
            raise SwitcherError("db-backup restore failed: the restored rows differ")
        return self.listing() if action in ("create", "list") else ""


def shelf(db: FakeDbBackup, retain: str = "2") -> tuple[DbBackups, MemoryStore, list[str]]:
    store, said = MemoryStore(), []
    env = validate("x", {"BACKUP_RETAIN": retain}, "f", ROOT)
    return DbBackups(env, store, db, said.append), store, said


def test_a_backup_is_recorded_and_the_oldest_beyond_retain_removed():
    db = FakeDbBackup("20261201T000000Z", "20261202T000000Z")
    backups, store, said = shelf(db)
    made = backups.create("r7", "nightly", "backup")
    assert made.release == "r7" and made.label == "nightly" and made.id.endswith("-nightly")
    assert db.calls[-1] == ["delete", "20261201T000000Z"]
    assert sorted(db.records) == sorted(["20261202T000000Z", made.id])
    records = history.read(store).records
    assert [(r["action"], r["outcome"], r["backup"]) for r in records] == [("db-backup", "ok", made.id)]
    assert said[-1] == "removed 1 old backup(s) beyond BACKUP_RETAIN=2"


def test_a_bad_label_or_id_is_refused_before_db_backup_runs():
    db = FakeDbBackup()
    backups, _, _ = shelf(db)
    with pytest.raises(ConfigError, match="label"):
        backups.create("r1", "Bad Label")
    with pytest.raises(ConfigError, match="is not a backup id"):
        backups.verify("../etc")
    assert db.calls == []


def test_an_unknown_backup_is_not_found_and_not_verified():
    db = FakeDbBackup("20261201T000000Z")
    backups, _, _ = shelf(db)
    with pytest.raises(NotFound, match="x has no backup 20261130T000000Z"):
        backups.verify("20261130T000000Z")
    assert db.calls == [["list"]]
    assert backups.verify("20261201T000000Z").release == "r1"
    assert db.calls[-1] == ["verify", "20261201T000000Z"]


def test_a_failed_restore_is_in_the_history_and_raised():
    db = FakeDbBackup("20261201T000000Z", restore_fails=True)
    backups, store, _ = shelf(db)
    with pytest.raises(SwitcherError, match="rows differ"):
        backups.restore("20261201T000000Z", "db-restore", 0.0, "20261206T000000Z")
    (record,) = history.read(store).records
    assert (record["action"], record["outcome"], record["backup"]) == ("db-restore", "failed", "20261201T000000Z")


def test_the_restore_summary_warns_when_the_backup_is_of_another_release():
    db = FakeDbBackup("20261201T000000Z", "20261206T000000Z-before-restore")
    backups, _, _ = shelf(db)
    restored, safety = backups.find("20261201T000000Z"), backups.find("20261206T000000Z-before-restore")
    lines = restore_summary(restored, safety, "r1")
    assert lines[0] == "restored 20261201T000000Z (release r1); the database it replaced is backup " + safety.id
    assert len(lines) == 2
    assert "migrations may be ahead" in restore_summary(restored, safety, "r2")[-1]


def test_export_never_overwrites_and_a_failed_copy_leaves_no_file(tmp_path):
    db = FakeDbBackup("20261201T000000Z")
    backups, _, _ = shelf(db)
    existing = tmp_path / "there.tar"
    existing.write_text("mine")
    with pytest.raises(Refused, match="never overwrites"):
        backups.export("20261201T000000Z", existing, lambda names: None)
    with pytest.raises(NotFound, match="is not a directory"):
        backups.export("20261201T000000Z", tmp_path / "no" / "x.tar", lambda names: None)
    assert existing.read_text() == "mine" and db.calls == []

    target = tmp_path / "out.tar"

    def broken_copy(names: list[str]) -> None:
        assert names == ["20261201T000000Z.dump", "20261201T000000Z.json"]
        target.write_bytes(b"half")
        raise SwitcherError("the node's engine went away")

    with pytest.raises(SwitcherError, match="went away"):
        backups.export("20261201T000000Z", target, broken_copy)
    assert not target.exists() and db.calls[-1] == ["verify", "20261201T000000Z"]


def archive(tmp_path, backup_id: str) -> Path:
    path = tmp_path / "in.tar"
    files = {
        f"{backup_id}.dump": b"PGDMP",
        f"{backup_id}.json": json.dumps(FakeDbBackup.record(backup_id, "r1")).encode(),
    }
    with tarfile.open(path, "w") as tar:
        for name, content in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.uid, member.mode = len(content), 1000, 0o644
            tar.addfile(member, io.BytesIO(content))
    return path


def test_an_imported_archive_is_restaged_for_postgres_and_removed_when_not_intact(tmp_path):
    source = archive(tmp_path, "20261201T000000Z")
    backup_id, record = read_archive(source)
    assert backup_id == record.id == "20261201T000000Z"
    db = FakeDbBackup()
    backups, _, _ = shelf(db)
    copied: list[tarfile.TarInfo] = []

    def copy_in(data) -> None:
        with tarfile.open(fileobj=data, mode="r:") as tar:
            copied.extend(tar.getmembers())

    backups.bring_in(source, backup_id, lambda: (999, 998), copy_in)
    assert sorted((m.name, m.uid, m.gid, m.mode) for m in copied) == [
        ("20261201T000000Z.dump", 999, 998, 0o600),
        ("20261201T000000Z.json", 999, 998, 0o600),
    ]
    assert db.calls[-1] == ["verify", backup_id]

    db.records[backup_id] = FakeDbBackup.record(backup_id, "r1")
    with pytest.raises(Refused, match="already has backup 20261201T000000Z"):
        backups.bring_in(source, backup_id, lambda: (999, 998), copy_in)

    class Damaged(FakeDbBackup):
        def __call__(self, arguments: list[str]) -> str:
            if arguments[0] == "verify":
                raise SwitcherError("db-backup verify failed: its checksum does not match")
            return super().__call__(arguments)

    damaged = Damaged()
    with pytest.raises(SwitcherError, match="checksum"):
        shelf(damaged)[0].bring_in(source, backup_id, lambda: (999, 998), copy_in)
    assert damaged.calls[-1] == ["delete", backup_id]


def test_a_file_that_is_not_an_exported_archive_is_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ConfigError, match="is not a backup archive"):
        read_archive(bad)
