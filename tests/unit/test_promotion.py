"""promote and rollback (switcher/promotion.py): their named steps, in order, over the engine
interface, against its in-memory fake (tests/unit/fakes.py). The same steps run on one Docker
engine and on a Swarm; what each engine does for a step is tested for real in
tests/integration (test_switch.py, test_cluster.py)."""

from __future__ import annotations

import pytest

from switcher import colors, history
from switcher.config import validate
from switcher.errors import NotFound, Refused, SwitcherError, Unhealthy
from switcher.plans import Options
from switcher.promotion import Promotion

from .conftest import ROOT
from .fakes import FakeEngine

ENV = validate("x", {}, "f", ROOT)


def engine(**kwargs) -> FakeEngine:
    fake = FakeEngine(ENV, **kwargs)
    colors.write_record(fake.store, "green", colors.ready("r2"))
    return fake


def outcomes(fake: FakeEngine) -> list[tuple[str, str]]:
    return [(record["action"], record["outcome"]) for record in history.read(fake.store).records]


def test_promote_runs_every_named_step_in_order_and_switches_every_lb():
    fake = engine()
    Promotion(fake).promote(None, Options(), dry_run=False)
    assert fake.calls == [
        "lock promote the idle colour", "gate green r2", "check-schema r2", "nginx-check", "publish r2",
        "maintenance-page r2", "verify r2", "commit green", "cron r2", "drain blue", "prune", "unlock",
    ]  # fmt: skip
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 3
    assert outcomes(fake) == [("promote", "ok")]
    assert history.read(fake.store).records[-1]["lbs"] == 3
    assert fake.said[-1] == "green is live with release r2 on 3 lbs; blue (r1) is idle"


def test_dry_run_names_the_steps_and_changes_nothing():
    fake = engine()
    Promotion(fake).promote(None, Options(stop_old=True), dry_run=True)
    assert fake.calls == [] and [lb.routes for lb in fake.lb_list] == ["blue"] * 3
    text = "\n".join(fake.said)
    for number, step in enumerate(("gate", "check-schema", "nginx-check", "publish", "switch", "verify"), start=1):
        assert f"{number}. {step}:" in text
    assert "stop-old: stop app-blue" in text


@pytest.mark.parametrize("broken", [{"refuses": True}, {"ignores": True}])
def test_an_lb_that_does_not_take_the_switch_leaves_every_lb_on_the_old_colour(broken):
    fake = engine()
    fake.lb_list[1].refuses = broken.get("refuses", False)
    fake.lb_list[1].ignores = broken.get("ignores", False)
    with pytest.raises(SwitcherError, match="lb-2 did not take the switch to green"):
        Promotion(fake).promote("green", Options(), dry_run=False)
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3
    assert not [call for call in fake.calls if call.startswith(("verify", "cron", "drain"))]
    assert outcomes(fake) == [("promote", "failed")] and fake.calls[-1] == "unlock"


def test_a_failed_verification_switches_every_lb_back():
    fake = engine()
    fake.failing["verify"] = Unhealthy("the lb on n2 answered 502")
    with pytest.raises(Unhealthy, match="n2 answered 502"):
        Promotion(fake).promote(None, Options(), dry_run=False)
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3
    assert [lb.flips for lb in fake.lb_list] == [["green", "blue"]] * 3
    assert "verification failed: switching every lb back to blue" in fake.said
    assert outcomes(fake) == [("promote", "failed")]
    assert not [call for call in fake.calls if call.startswith("commit")], "an lb that was away keeps following blue"


def test_a_colour_whose_deploy_failed_is_refused_before_anything_changes():
    fake = engine()
    colors.write_record(fake.store, "green", colors.finished(colors.starting(None, "r1", "r2"), error="smoke: 500"))
    with pytest.raises(Refused, match="will not make green live: the deploy of r2 to green failed"):
        Promotion(fake).promote("green", Options(), dry_run=False)
    assert fake.calls == ["lock promote green", "unlock"]
    assert all(lb.flips == [] for lb in fake.lb_list)


def test_a_colour_with_nothing_deployed_is_not_found():
    fake = engine(releases={"blue": "r1", "green": None})
    with pytest.raises(NotFound, match="app-green does not exist"):
        Promotion(fake).promote(None, Options(), dry_run=False)


def test_a_database_ahead_by_a_migration_no_deploy_recorded_compatible_is_refused():
    fake = engine()
    fake.ahead = ["press.0004_drop_title"]
    with pytest.raises(
        Refused, match=r"r2 cannot serve this database: it lacks press.0004_drop_title \(applied outside"
    ):
        Promotion(fake).promote(None, Options(), dry_run=False)
    assert all(lb.flips == [] for lb in fake.lb_list) and outcomes(fake) == [("promote", "failed")]


def test_a_database_ahead_by_compatible_migrations_can_serve():
    fake = engine()
    fake.ahead = ["press.0003_note"]
    history.append(fake.store, {"action": "deploy", "outcome": "ok", "time": "2026-12-01T00:00:00+00:00",
                                "migrations": [{"migration": "press.0003_note", "compatible": True}]})  # fmt: skip
    Promotion(fake).promote(None, Options(), dry_run=False)
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 3
    assert any("ahead of r2 by 1 compatible migration(s)" in line for line in fake.said)


def test_lbs_that_disagree_need_a_colour_and_promote_colour_puts_them_all_on_it():
    fake = engine()
    fake.lb_list[2].routes = "green"
    with pytest.raises(Refused, match=r"the lbs disagree: .*`switcher promote COLOR`"):
        Promotion(fake).promote(None, Options(), dry_run=False)
    Promotion(fake).promote("green", Options(), dry_run=False)
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 3
    assert fake.lb_list[2].flips == ["green"], "an lb already on the colour is flipped again (idempotent)"


def test_promote_of_the_live_colour_only_verifies_and_hands_over_cron():
    fake = engine()
    Promotion(fake).promote("blue", Options(), dry_run=False)
    assert fake.calls == ["lock promote blue", "verify r1", "commit blue", "cron r1", "drain green", "prune", "unlock"]


def test_stop_old_stops_the_old_colour_after_the_drain():
    fake = engine()
    Promotion(fake).promote(None, Options(stop_old=True), dry_run=False)
    assert fake.calls[-4:] == ["drain blue", "stop blue", "prune", "unlock"]


def test_rollback_of_a_running_idle_colour_is_a_promote():
    fake = engine(live="green")
    colors.write_record(fake.store, "blue", colors.ready("r1"))
    Promotion(fake).rollback(Options(), dry_run=False)
    assert fake.calls[:2] == ["lock rollback", "gate blue r1"]
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3 and outcomes(fake) == [("rollback", "ok")]


def test_rollback_brings_back_a_stopped_idle_colour_first():
    fake = engine(live="green")
    colors.write_record(fake.store, "blue", colors.ready("r1"))
    fake.stop_color("blue")
    fake.calls.clear()
    Promotion(fake).rollback(Options(), dry_run=False)
    assert fake.calls[:3] == ["lock rollback", "bring-back blue r1", "gate blue r1"]
    assert "starting app-blue (release r1) again" in fake.said


def test_rollback_to_a_colour_whose_deploy_failed_uses_its_last_good_release():
    fake = engine(releases={"blue": "r3", "green": "r2"}, live="green")
    fake.registry.add("r1")
    colors.write_record(fake.store, "blue", colors.finished(colors.starting(colors.ready("r1"), "r1", "r3"), "boom"))
    Promotion(fake).rollback(Options(), dry_run=False)
    assert "bring-back blue r1" in fake.calls and fake.calls.index("bring-back blue r1") < fake.calls.index(
        "gate blue r1"
    )
    assert colors.read_record(fake.store, "blue").state == colors.OK
    assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3


def test_rollback_refuses_when_the_last_good_release_is_gone():
    fake = engine(releases={"blue": "r3", "green": "r2"}, live="green")
    colors.write_record(fake.store, "blue", colors.finished(colors.starting(colors.ready("r1"), "r1", "r3"), "boom"))
    with pytest.raises(Refused, match=r"cannot roll back to blue: .*its last good release r1 is gone"):
        Promotion(fake).rollback(Options(), dry_run=False)
    assert fake.calls == ["lock rollback", "unlock"] and all(lb.flips == [] for lb in fake.lb_list)


def test_the_colours_are_read_once_the_lock_is_held():
    # Blue is live when promote and rollback are typed; another promote to green finishes first.
    for command in ("promote", "rollback"):
        fake = engine()
        colors.write_record(fake.store, "blue", colors.ready("r1"))
        fake.while_waiting_for_the_lock = lambda fake=fake: [lb.set_live("green") for lb in fake.lb_list]
        if command == "promote":
            Promotion(fake).promote(None, Options(), dry_run=False)
        else:
            Promotion(fake).rollback(Options(), dry_run=False)
        assert [lb.routes for lb in fake.lb_list] == ["blue"] * 3, f"{command} must switch to the colour idle now"
        assert fake.calls[1] == "gate blue r1", command


def test_an_lb_that_cannot_be_reached_takes_the_switch_and_maintenance_from_the_commits():
    """A Swarm node that is down: its lb is not among the lbs to switch; it follows the commits
    once back, before it serves (nginx/lb-follow.sh): the live colour and maintenance."""
    import json

    from switcher.maintenance_mode import apply_maintenance

    fake = engine(lbs=2)
    fake.away = ["n3"]
    Promotion(fake).promote(None, Options(), dry_run=False)
    assert [lb.routes for lb in fake.lb_list] == ["green"] * 2 and "commit green" in fake.calls
    assert apply_maintenance(fake, True, "token-1", "Back at <noon>", 300, ["10.0.0.0/8"]) == "r2"
    assert all(lb.maintenance for lb in fake.lb_list)
    [(page, state)] = fake.committed
    assert "r2 is down" in page and "Back at &lt;noon&gt;" in page, page
    assert state is not None and "\n" not in state, "one line of the committed file"
    assert json.loads(state) | {"since": ""} == {
        "on": True, "since": "", "message": "Back at <noon>", "retry_after": 300, "allow": ["10.0.0.0/8"],
        "release": "r2", "token": "token-1",
    }  # fmt: skip
    assert any("n3 cannot be reached now: it takes maintenance on when its node is back" in said for said in fake.said)
    apply_maintenance(fake, False, "", None, 0, [])
    assert not any(lb.maintenance for lb in fake.lb_list) and fake.committed[-1] == ("", None)


def test_maintenance_on_is_refused_when_an_lb_is_away_and_the_commit_fails():
    """An lb that comes back would serve past the page: nothing changes."""
    from switcher.maintenance_mode import apply_maintenance

    fake = engine(lbs=2)
    fake.away = ["n3"]
    fake.uncommittable = "Permission denied"
    with pytest.raises(Refused, match="maintenance on must reach every lb, and the lb on n3 cannot be reached"):
        apply_maintenance(fake, True, "token", None, 300, [])
    assert not any(lb.maintenance for lb in fake.lb_list) and not fake.committed
    assert any("could not be committed for lbs that are away (Permission denied)" in said for said in fake.said)
    fake.away = []  # every lb reachable: the commit is for later losses, its failure no refusal
    apply_maintenance(fake, True, "token", None, 300, [])
    assert all(lb.maintenance for lb in fake.lb_list)
    assert any("maintenance on could not be committed (Permission denied)" in said for said in fake.said)


def test_maintenance_reaches_an_lb_whose_node_lacks_the_release_page():
    """An lb back from an outage before `switcher up` lacks the live release's files: it gets the
    page another lb has; only when none has it is maintenance refused (nothing changed)."""
    from switcher.maintenance_mode import apply_maintenance

    fake = engine(lbs=3)
    fake.lb_list[0].lacks = {"r1"}
    assert apply_maintenance(fake, True, "token", "Back soon", 300, []) == "r1"
    assert all(lb.maintenance for lb in fake.lb_list)
    apply_maintenance(fake, False, "", None, 0, [])
    for lb in fake.lb_list:
        lb.lacks = {"r1"}
    with pytest.raises(SwitcherError, match="release r1 has no published maintenance page"):
        apply_maintenance(fake, True, "token", None, 300, [])
    assert not any(lb.maintenance for lb in fake.lb_list) and fake.committed[-1] == ("", None)
