import os

import pytest

from switcher import history
from switcher.config import LIVE_FLAG
from switcher.errors import LockHeld
from switcher.lock import EnvironmentLock, Holder, is_stale, me, process_start
from switcher.plans import deploy_plan, format_plan, promote_plan, retained_releases


def names(steps):
    return [step.name for step in steps]


def test_deploy_plan_names_its_steps():
    steps = deploy_plan("green", "r2")
    assert names(steps) == [
        "check-release",
        "recreate",
        "migrate",
        "check-deploy",
        "wait-healthy",
        "warm",
        "smoke",
        "publish",
    ]
    assert "app-green" in steps[1].description and "r2" in steps[1].description


def test_promote_plan_switches_by_the_flag_and_resumes_when_already_live():
    steps = promote_plan("green", "blue", "r2", already_live=False, stop_old=False)
    assert names(steps) == ["gate", "nginx-check", "publish", "switch", "verify", "cron", "drain", "prune"]
    assert f"create {LIVE_FLAG}" in steps[3].description
    assert f"remove {LIVE_FLAG}" in promote_plan("blue", "green", "r1", False, False)[3].description
    resumed = promote_plan("green", "blue", "r2", already_live=True, stop_old=True)
    assert names(resumed) == ["verify", "cron", "drain", "stop-old", "prune"]
    text = format_plan("promote green", steps)
    assert text.splitlines()[0] == "promote green" and "  4. switch: " in text


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


class FakeMarkers:
    """In-memory stand-in for the Docker markers the lock uses."""

    def __init__(self):
        self.markers: dict[str, dict[str, str]] = {}

    def create_marker(self, name, image, labels):
        if name in self.markers:
            return False
        self.markers[name] = labels
        return True

    def marker_labels(self, name):
        return self.markers.get(name)

    def remove_marker(self, name):
        self.markers.pop(name, None)


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one():
    docker, said = FakeMarkers(), []
    with (
        EnvironmentLock(docker, "p", "img", "promote", said.append),
        pytest.raises(LockHeld, match=r"locked by `promote` by .* since"),
    ):
        EnvironmentLock(docker, "p", "img", "deploy r2", said.append).__enter__()
    assert docker.markers == {}
    dead = Holder("u", me("x").host, 2**22 + 12345, "1", "promote", "t")
    docker.markers["p-switcher-lock"] = dead.labels("p")
    with EnvironmentLock(docker, "p", "img", "promote", said.append):
        assert Holder.from_labels(docker.markers["p-switcher-lock"]).pid == os.getpid()
    assert "taking over a stale lock" in said[0]


def test_history_appends_and_skips_torn_lines(tmp_path):
    path = tmp_path / "h" / "history.jsonl"
    history.append(path, {"action": "deploy", "n": 1})
    with open(path, "a") as handle:
        handle.write('{"torn": ')
    history.append(path, {"action": "promote", "n": 2})
    assert [r.get("n") for r in history.read(path)] == [1, 2]
    assert history.read(path, last=1) == [{"action": "promote", "n": 2}]
    assert history.read(tmp_path / "none.jsonl") == []


def test_retained_releases_keep_the_running_ones_then_the_newest():
    assert retained_releases(["r5", "r4", "r3", "r2"], ["r2", "r5"], 3) == ["r2", "r5", "r4"]
    assert retained_releases(["r5", "r4"], ["r1", "r2"], 1) == ["r1", "r2"], "running releases always stay"
    assert retained_releases([], ["r1", "r1"], 3) == ["r1"]
