"""switcher/backups.py: backup ids, the records db-backup prints, and retention."""

import json
from datetime import UTC, datetime

import pytest

from switcher import backups
from switcher.errors import ConfigError


def record(backup_id: str, **extra) -> str:
    data = {"id": backup_id, "created": "2026-12-01T03:35:00Z", "size": 10, "sha256": "ab", "tables": {"t": 3}}
    return json.dumps({**data, **extra})


def test_ids_sort_by_time_and_carry_the_label():
    now = datetime(2026, 12, 1, 3, 35, 0, tzinfo=UTC)
    assert backups.new_id(now) == "20261201T033500Z"
    assert backups.new_id(now, "before-upgrade") == "20261201T033500Z-before-upgrade"


@pytest.mark.parametrize("label", ["Upper", "-lead", "a b", "x" * 41, "../etc", "a;rm"])
def test_a_bad_label_is_refused(label):
    with pytest.raises(ConfigError, match="backup label"):
        backups.new_id(datetime.now(UTC), label)


def test_records_are_read_newest_first_and_compose_lines_are_skipped():
    text = "\n".join(
        [
            ' Volume "x_backups"  Created',
            record("20261201T010000Z"),
            record("20261201T020000Z-nightly", release="r2", label="nightly"),
            '{"id": "../../etc/passwd", "created": "x", "size": 1, "sha256": "a"}',
            "{not json",
        ]
    )
    found, bad = backups.parse(text)
    assert [backup.id for backup in found] == ["20261201T020000Z-nightly", "20261201T010000Z"]
    assert found[0].release == "r2" and found[1].tables == {"t": 3}
    assert bad == 2, "a record with a bad id and a broken line are counted, not listed"


def test_retention_keeps_the_newest():
    found, _ = backups.parse("\n".join(record(f"20261201T0{hour}0000Z") for hour in range(5)))
    assert backups.to_delete(found, 3) == ["20261201T010000Z", "20261201T000000Z"]
    assert backups.to_delete(found, 0) == [b.id for b in found[1:]], "the newest is always kept"


def test_an_archive_holds_exactly_one_backup():
    good = [("20261201T000000Z-x.dump", True), ("20261201T000000Z-x.json", True)]
    assert backups.archive_id(good) == "20261201T000000Z-x"
    for bad in (
        good[:1],
        [*good, ("extra", True)],
        [("20261201T000000Z.dump", True), ("20261201T000000Z.json", False)],
        [("../20261201T000000Z.dump", True), ("../20261201T000000Z.json", True)],
        [("20261201T000000Z.dump", True), ("20261202T000000Z.json", True)],
    ):
        with pytest.raises(ConfigError):
            backups.archive_id(bad)
