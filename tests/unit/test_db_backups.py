"""The backups every engine shares (switcher/db_backups.py) against an in-memory `db-backup`:
a backup is recorded and the oldest beyond BACKUP_RETAIN removed, an unknown or malformed id
is refused before db-backup runs, a failed restore is in the history. The real db-backup runs
in tests/integration (test_database.py on one engine, test_cluster.py on a Swarm)."""

from __future__ import annotations

import json

import pytest

from switcher import history
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
                del self.records[backup_id]
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
