import os

import pytest

from switcher import history
from switcher.config import LIVE_FLAG
from switcher.errors import LockHeld
from switcher.lock import EnvironmentLock, Holder, break_lock, is_stale, me, process_start
from switcher.plans import deploy_plan, format_plan, promote_plan, retained_releases

from .fakes import FakeDocker, MemoryStore


def names(steps):
    return [step.name for step in steps]


def test_deploy_plan_names_its_steps():
    steps = deploy_plan("green", "r2")
    assert names(steps) == [
        "check-release",
        "check-migrations",
        "recreate",
        "backup",
        "migrate",
        "check-deploy",
        "wait-healthy",
        "warm",
        "smoke",
        "publish",
    ]
    assert "app-green" in steps[2].description and "r2" in steps[2].description
    behind_the_page = names(deploy_plan("green", "r2", maintenance=True))
    assert behind_the_page.index("backup") < behind_the_page.index("maintenance-on") < behind_the_page.index("migrate")


def test_promote_plan_switches_by_the_flag_and_resumes_when_already_live():
    steps = promote_plan("green", "blue", "r2", already_live=False, stop_old=False)
    assert names(steps) == [
        "gate",
        "check-schema",
        "nginx-check",
        "publish",
        "switch",
        "verify",
        "cron",
        "drain",
        "prune",
    ]
    assert f"create {LIVE_FLAG}" in steps[4].description
    assert f"remove {LIVE_FLAG}" in promote_plan("blue", "green", "r1", False, False)[4].description
    resumed = promote_plan("green", "blue", "r2", already_live=True, stop_old=True)
    assert names(resumed) == ["verify", "cron", "drain", "stop-old", "prune"]
    text = format_plan("promote green", steps)
    assert text.splitlines()[0] == "promote green" and "  5. switch: " in text


def test_holder_round_trips_through_labels():
    holder = me("promote green")
    assert holder.pid == os.getpid()
    assert Holder.from_labels(holder.labels("p")) == holder


def test_staleness_is_known_only_on_this_host():
    alive = me("x")
    assert not is_stale(alive, alive.host)
    dead = Holder("u", alive.host, 2**22 + 12345, "1", "x", "t")
    assert process_start(dead.pid) is None
    assert is_stale(dead, alive.host)
    assert not is_stale(Holder("u", "other-host", dead.pid, "1", "x", "t"), alive.host)
    reused = Holder("u", alive.host, os.getpid(), "not-my-start-time", "x", "t")
    assert is_stale(reused, alive.host)


def dead_holder() -> Holder:
    return Holder("u", me("x").host, 2**22 + 12345, "1", "promote", "t")


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one():
    docker, said = FakeDocker([]), []
    with (
        EnvironmentLock(docker, "p", "promote", said.append),
        pytest.raises(LockHeld, match=r"locked by `promote` by .* since"),
    ):
        EnvironmentLock(docker, "p", "deploy r2", said.append).__enter__()
    assert docker.markers == {}
    docker.markers["p-switcher-lock"] = ("stale-id", dead_holder().labels("p"))
    with EnvironmentLock(docker, "p", "promote", said.append):
        assert Holder.from_labels(docker.markers["p-switcher-lock"][1]).pid == os.getpid()
    assert "took over a stale lock" in said[0]
    assert docker.markers == {}


class Interleaving(FakeDocker):
    """Two switchers judge the same stale lock; the other one removes it and takes the lock
    between our reading it and our removing it."""

    def __init__(self) -> None:
        super().__init__([])
        self.markers["p-switcher-lock"] = ("stale-id", dead_holder().labels("p"))
        self.other: EnvironmentLock | None = None

    def remove_container_id(self, container_id: str) -> bool:
        if self.other is None and container_id == "stale-id":
            self.other = EnvironmentLock(FakeDockerView(self), "p", "deploy r9", lambda _: None)
            self.other.__enter__()  # the other switcher: removes the stale lock and creates its own
        return super().remove_container_id(container_id)


class FakeDockerView:
    """The same markers, seen by the other switcher (without the interleaving hook)."""

    def __init__(self, docker: FakeDocker) -> None:
        self.docker = docker

    def create_marker(self, name, labels, volumes=None):
        return self.docker.create_marker(name, labels)

    def marker(self, name):
        return self.docker.marker(name)

    def remove_container_id(self, container_id):
        return FakeDocker.remove_container_id(self.docker, container_id)


def test_two_switchers_taking_over_one_stale_lock_cannot_both_hold_it():
    docker = Interleaving()
    with pytest.raises(LockHeld, match="locked by `deploy r9`"):
        EnvironmentLock(docker, "p", "promote", lambda _: None).__enter__()
    assert docker.other is not None
    held_id, labels = docker.markers["p-switcher-lock"]
    assert Holder.from_labels(labels).command == "deploy r9", "the winner's lock must survive the loser"
    assert held_id == docker.other.id


def test_leaving_removes_only_our_own_lock():
    docker = FakeDocker([])
    lock = EnvironmentLock(docker, "p", "promote", lambda _: None).__enter__()
    break_lock(docker, "p")  # an operator's `switcher unlock` …
    replacement = EnvironmentLock(docker, "p", "deploy r2", lambda _: None).__enter__()  # … and a new holder
    lock.__exit__(None, None, None)
    assert docker.markers["p-switcher-lock"][0] == replacement.id


def test_history_appends_and_skips_torn_records():
    store = MemoryStore()
    history.append(store, {"action": "deploy", "n": 1, "release": "café"})
    record = '{"action": "promote", "release": "café"}'.encode()
    store.write({"history/20990101T000000.000000Z-promote-torn.json": (record[: record.index(b"\xc3") + 1], 0o600)})
    store.write({"history/20990101T000000.000001Z-x-torn.json": (b'{"torn": ', 0o600)})
    store.write({"history/20990101T000000.000002Z-x-list.json": (b"[1, 2]\n", 0o600)})
    history.append(store, {"action": "promote", "n": 2})
    found = history.read(store)
    assert [r.get("n") for r in found.records] == [1, 2]
    assert found.skipped == 3 and "skipped 3 unreadable" in found.note
    assert found.last(1) == [found.records[-1]]
    assert history.read(MemoryStore()).records == []


def test_history_reads_a_history_file_imported_from_a_checkout():
    store = MemoryStore()
    store.write({"history/00000000T000000.000000Z-imported.jsonl": (b'{"n": 1}\n{"n": 2}\n{"to', 0o600)})
    history.append(store, {"n": 3})
    found = history.read(store)
    assert [r["n"] for r in found.records] == [1, 2, 3] and found.skipped == 1


def test_retained_releases_keep_the_running_ones_then_the_newest():
    assert retained_releases(["r5", "r4", "r3", "r2"], ["r2", "r5"], 3) == ["r2", "r5", "r4"]
    assert retained_releases(["r5", "r4"], ["r1", "r2"], 1) == ["r1", "r2"], "running releases always stay"
    assert retained_releases([], ["r1", "r1"], 3) == ["r1"]
