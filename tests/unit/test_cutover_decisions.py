"""The order of decisions in deploy, promote and rollback on one engine (compose_engine.py
under promotion.py), against a fake runtime: colours are
chosen from a status read under the lock, and a colour whose deploy did not finish ok never
goes live. (What Docker, compose and nginx do is tested for real in tests/integration.)"""

import pytest

from switcher import colors
from switcher.config import Paths, validate
from switcher.cutover import Cutover
from switcher.errors import Refused
from switcher.plans import Options
from switcher.promotion import Promotion

from .conftest import ROOT
from .fakes import FakeDocker, MemoryStore, container

ENV = validate("x", {}, "f", ROOT)
RUNNING = [container("lb"), container("db"), container("app-blue", "r1"), container("app-green", "r1")]


def cutover(docker: FakeDocker, tmp_path, store: MemoryStore | None = None) -> tuple[Cutover, list[str]]:
    said: list[str] = []
    result = Cutover(Paths(ROOT, tmp_path, tmp_path), ENV, docker, said.append)
    result.store = result.stack.store = store or MemoryStore()
    result.store.write({"credentials.env": (b"DJANGO_SECRET_KEY=k\n", 0o600)})
    return result, said


def failed_green(store: MemoryStore) -> None:
    record = colors.finished(colors.starting(None, "r1", "r2"), error="preview / answered 500")
    colors.write_record(store, "green", record)


def test_promote_refuses_a_colour_whose_deploy_failed(tmp_path):
    running = [container("lb"), container("app-blue", "r1"), container("app-green", "r2", state="exited")]
    docker = FakeDocker(running, green_flags=[False])
    switch, _ = cutover(docker, tmp_path)
    failed_green(switch.store)
    with pytest.raises(Refused, match=r"will not make green live: the deploy of r2 to green failed at .*: preview"):
        switch.promote("green", Options(), dry_run=False)
    assert not [call for call in docker.calls if "touch" in " ".join(map(str, call))], "the flag was not touched"


def test_rollback_recreates_a_failed_colour_from_its_last_good_release(tmp_path, monkeypatch):
    running = [container("lb"), container("app-blue", "r1"), container("app-green", "r2", state="exited")]
    docker = FakeDocker(running, green_flags=[False])
    switch, said = cutover(docker, tmp_path)
    failed_green(switch.store)
    recreated, promoted = [], []
    monkeypatch.setattr(switch.stack, "recreate_color", lambda color, rel: recreated.append((color, rel.green)))
    monkeypatch.setattr(switch, "wait_healthy", lambda color, timeout: None)
    monkeypatch.setattr(Promotion, "promote_locked", lambda self, target, options, action: promoted.append(target))
    switch.rollback(Options(), dry_run=False)
    assert recreated == [("green", "r1")], "the failed release r2 must not go live"
    assert promoted == ["green"]
    assert colors.read_record(switch.store, "green") == colors.ColorRecord(
        "r1", colors.OK, "r1", colors.read_record(switch.store, "green").time
    )
    assert any("rolling green back to its last good release r1" in line for line in said)


def test_rollback_refuses_when_no_good_release_of_the_colour_is_known(tmp_path, monkeypatch):
    running = [container("lb"), container("app-blue", "r1"), container("app-green", "r2", state="exited")]
    docker = FakeDocker(running, green_flags=[False])
    switch, _ = cutover(docker, tmp_path)
    colors.write_record(switch.store, "green", colors.ColorRecord("r2", colors.FAILED, None, "t", "boom"))
    monkeypatch.setattr(switch.stack, "recreate_color", lambda *a: pytest.fail("nothing may be recreated"))
    with pytest.raises(Refused, match=r"cannot roll back to green: .* no earlier release of it is recorded ok"):
        switch.rollback(Options(), dry_run=False)
