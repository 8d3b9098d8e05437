"""deploy (switcher/deployment.py): its named steps, in order, over the engine interface,
against its in-memory fake (tests/unit/fakes.py); the same steps run on one Docker engine and
on a Swarm (tested for real in tests/integration: test_switch.py, test_migrations.py,
test_cluster.py)."""

from __future__ import annotations

import pytest

from switcher import colors, history
from switcher.config import validate
from switcher.deployment import Deployment
from switcher.errors import Refused, SwitcherError
from switcher.plans import Options

from .conftest import ROOT
from .fakes import FakeEngine

ENV = validate("x", {}, "f", ROOT)
ADD_NOTE = {
    "migrations": [
        {"app": "press", "name": "0003_note", "operations": [{"operation": "AddField", "field": {"null": True}}]}
    ]
}
DROP_TITLE = {"migrations": [{"app": "press", "name": "0004_drop", "operations": [{"operation": "RemoveField"}]}]}


def test_deploy_runs_every_named_step_in_order_on_the_idle_colour():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=False)
    assert fake.calls == [
        "check-release r2", "lock deploy r2", "check-migrations r2", "recreate green r2", "migrate r2",
        "run r2 check --deploy", "wait-healthy green r2", "warm green", "smoke /", "publish r2", "unlock",
    ]  # fmt: skip
    assert "  nothing to migrate: no backup needed" in fake.said
    assert colors.read_record(fake.store, "green").state == colors.OK
    assert [(r["action"], r["outcome"]) for r in history.read(fake.store).records] == [("deploy", "ok")]
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3, "deploy alone switches nothing"


def test_deploy_goes_to_the_colour_idle_once_the_lock_is_held():
    # Blue is live when deploy is typed; a promote to green finishes before deploy holds the lock.
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    fake.while_waiting_for_the_lock = lambda: [lb.set_live("green") for lb in fake.lb_list]
    Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=False)
    assert "recreate blue r2" in fake.calls, "deploy must never recreate the colour that is live now"
    assert colors.read_record(fake.store, "green") is None, "the live colour's record is untouched"


def test_a_release_with_migrations_is_backed_up_first_and_recorded():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    fake.plan = ADD_NOTE
    Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=False)
    assert fake.calls.index("backup r1") < fake.calls.index("migrate r2"), "backed up by the live release first"
    assert history.read(fake.store).records[-1]["backup"] == "b1"


def test_a_migration_the_live_release_cannot_run_beside_is_refused_before_anything_changes():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    fake.plan = DROP_TITLE
    with pytest.raises(Refused, match="cannot run beside"):
        Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=False)
    assert not [call for call in fake.calls if call.startswith(("recreate", "backup", "migrate"))]
    assert colors.read_record(fake.store, "green") is None
    assert history.read(fake.store).records[-1]["outcome"] == "refused"


def test_a_failure_after_the_colour_was_touched_records_it_failed_and_stops_it():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    fake.failing["migrate"] = SwitcherError("lock timeout")
    with pytest.raises(SwitcherError, match="lock timeout"):
        Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=True)
    assert fake.calls[-3:] == ["explain green", "stop green", "unlock"]
    assert colors.read_record(fake.store, "green").state == colors.FAILED
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3, "--promote never ran"


def test_deploy_promote_goes_on_under_the_same_lock():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=True)
    assert fake.calls.count("unlock") == 1 and fake.calls[-1] == "unlock"
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 3
    assert [r["action"] for r in history.read(fake.store).records] == ["deploy", "promote"]


def test_where_no_one_can_look_at_the_preview_its_url_is_not_offered():
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    said: list[str] = []
    fake.report = said.append
    fake.preview_url = None  # a Swarm: the lbs serve the preview to the stack's network only
    Deployment(fake).deploy("r2", Options(), dry_run=False, then_promote=False)
    assert [call for call in fake.calls if call.startswith(("warm", "smoke"))], "warm and smoke still run"
    assert "release r2 is ready on green" in said and not [line for line in said if "9443" in line]


def test_with_maintenance_it_goes_live_behind_the_page_and_the_page_goes_away(monkeypatch):
    fake = FakeEngine(ENV, releases={"blue": "r1", "green": "r1"})
    fake.plan = DROP_TITLE
    pages: list[bool] = []
    monkeypatch.setattr("switcher.deployment.apply_maintenance", lambda engine, on, *rest: pages.append(on) or "r1")
    Deployment(fake).deploy("r2", Options(maintenance=True), dry_run=False, then_promote=False)
    assert pages == [True, False], "on before the migration, off after the promote"
    assert fake.calls.index("stop-processes") < fake.calls.index("migrate r2") < fake.calls.index("verify r2")
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 3
