"""db replace's shared rules (db_replace.py): its named steps in order on either engine, which
backup comes over, production never replaced, and a backup carried between engines as an
archive nobody else can read."""

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest

from switcher.backups import Backup
from switcher.config import validate
from switcher.db_replace import carry_backup, choose_backup, refuse_replacing, replace
from switcher.errors import ConfigError, NotFound, Refused

from .conftest import ROOT


def backup(backup_id: str) -> Backup:
    return Backup(id=backup_id, created=backup_id, size=3, sha256="0" * 64, release="r1", label="", migrations=1)


class Source:
    def __init__(self, *ids: str) -> None:
        self.env = validate("production", {}, "f", ROOT)
        self.listed = [backup(i) for i in ids]
        self.taken: list[str] = []
        self.exported: list[Path] = []

    def backups(self) -> list[Backup]:
        return self.listed

    def backup_locked(self, label: str) -> Backup:
        self.taken.append(label)
        return backup("20261206T120000Z-" + label)

    def export(self, backup_id: str, destination: Path) -> Backup:
        assert not destination.exists()
        destination.write_bytes(b"archive of " + backup_id.encode())
        destination.chmod(0o600)
        self.exported.append(destination)
        return backup(backup_id)


def test_the_newest_the_named_or_a_fresh_backup_comes_over():
    source = Source("20261205T000000Z", "20261201T000000Z")  # newest first, as listed
    assert choose_backup(source, None, False, "integration").id == "20261205T000000Z"
    assert choose_backup(source, "20261201T000000Z", False, "integration").id == "20261201T000000Z"
    assert choose_backup(source, None, True, "integration").id.endswith("for-integration")
    assert source.taken == ["for-integration"]
    with pytest.raises(NotFound, match="production has no backup 20261111T000000Z"):
        choose_backup(source, "20261111T000000Z", False, "integration")
    with pytest.raises(NotFound, match="use --fresh"):
        choose_backup(Source(), None, False, "integration")
    with pytest.raises(ConfigError, match="not a backup id"):
        choose_backup(source, "../etc/passwd", False, "integration")


def test_production_is_never_replaced_nor_an_environment_by_itself():
    with pytest.raises(Refused, match="never replaces production"):
        refuse_replacing("production", "integration")
    with pytest.raises(Refused, match="with its own"):
        refuse_replacing("integration", "integration")
    refuse_replacing("integration", "production")


def test_a_backup_travels_as_an_archive_only_this_user_reads_and_is_deleted_after():
    source, seen = Source("20261205T000000Z"), []

    def bring_in(archive: Path, backup_id: str) -> None:
        directory = archive.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700 and stat.S_IMODE(archive.stat().st_mode) == 0o600
        assert directory.stat().st_uid == os.getuid()
        seen.append((archive.read_bytes(), backup_id))

    carry_backup(source, source.listed[0], bring_in, lambda line: None)
    assert seen == [(b"archive of 20261205T000000Z", "20261205T000000Z")]
    assert not source.exported[0].parent.exists(), "the archive's directory is removed"


class Target:
    """db_replace.ReplaceTarget in memory: every step logged in `calls`."""

    def __init__(self, name: str = "integration", have: tuple[str, ...] = (), cron_stopped: bool = False) -> None:
        self.env = validate(name, {"DB_REPLACE_HOOK": "anonymise --placeholder=x"}, "f", ROOT)
        self.have, self.cron_stopped, self.calls = [backup(i) for i in have], cron_stopped, []
        self.report = lambda message: None

    @contextmanager
    def locked(self, command: str):
        self.calls.append(f"lock {command}")
        yield
        self.calls.append("unlock")

    def backups(self) -> list[Backup]:
        return self.have

    def bring_over(self, source, chosen: Backup) -> None:
        self.calls.append(f"bring {chosen.id}")

    def cron_stopped_by_operator(self) -> bool:
        self.calls.append("cron state")
        return self.cron_stopped

    def swap_in(self, backup_id: str, action: str, started: float):
        self.calls.append(f"swap {backup_id} {action}")
        return backup(backup_id), backup("20261207T000000Z-before-restore"), "r7", True

    def manage_job(self, name: str, release: str, arguments: list[str]) -> None:
        self.calls.append(f"{name} {release} {' '.join(arguments)}")

    def flush_cache(self) -> None:
        self.calls.append("flush")

    def resume(self, turned_on: bool, live_release: str, cron_stays_stopped: bool) -> None:
        self.calls.append(f"resume {turned_on} {live_release} {cron_stays_stopped}")


def test_replace_runs_its_named_steps_in_order_on_any_engine():
    target = Target()
    said = replace(target, Source("20261205T000000Z"), None, False)
    assert target.calls == [
        "lock db replace from production", "cron state", "bring 20261205T000000Z",
        "swap 20261205T000000Z db-replace", "migrate r7 migrate --noinput",
        "replace-hook r7 anonymise --placeholder=x", "flush", "resume True r7 False", "unlock",
    ]  # fmt: skip
    assert "integration now holds production's data" in said[0]
    # A backup it has already is not brought again; cron an operator stopped stays stopped.
    target = Target(have=("20261205T000000Z",), cron_stopped=True)
    replace(target, Source("20261205T000000Z"), None, False)
    assert "bring 20261205T000000Z" not in target.calls and "resume True r7 True" in target.calls


def test_replace_never_touches_production():
    target = Target("production")
    with pytest.raises(Refused, match="never replaces production"):
        replace(target, Source("20261205T000000Z"), None, False)
    assert target.calls == []
