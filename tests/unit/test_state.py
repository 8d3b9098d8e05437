from switcher.config import validate
from switcher.runtime import ContainerInfo
from switcher.stack import plan_up
from switcher.state import derive_status

from .conftest import ROOT


def container(service: str, release: str = "r1", state: str = "running", health: str = "healthy", name: str = ""):
    return ContainerInfo(name=name or f"p-{service}-1", service=service, state=state, health=health, release=release)


ENV = validate("x", {"HTTPS_PORT": "8443", "PREVIEW_PORT": "9443"}, "f", ROOT)
STACK = [container("lb"), container("db"), container("memcached"), container("app-blue"), container("app-green", "r2")]


def test_live_colour_comes_from_the_flag():
    assert derive_status(ENV, STACK, green_flag=False).live == "blue"
    status = derive_status(ENV, STACK, green_flag=True)
    assert (status.live, status.idle) == ("green", "blue")


def test_unknown_live_colour_when_lb_is_down():
    status = derive_status(ENV, STACK, green_flag=None)
    assert status.live is None
    assert "lb is not running" in status.notes[0]


def test_json_has_the_documented_keys():
    data = derive_status(ENV, STACK, green_flag=False).to_json()
    assert data["env"] == "x"
    assert data["live"] == "blue"
    assert data["colors"]["green"] == {"release": "r2", "state": "running", "health": "healthy"}
    assert data["urls"] == {"live": "https://127.0.0.1:8443/", "preview": "https://127.0.0.1:9443/"}


def test_missing_containers_and_one_off_tasks():
    containers = [container("app-task", "r9", name="p-app-task-run-abc"), container("lb")]
    status = derive_status(ENV, containers, green_flag=False)
    assert status.colors["blue"].state == "missing"
    assert status.colors["blue"].release is None
    assert derive_status(ENV, [], green_flag=None).notes[0].startswith("no containers")


def test_plan_up_keeps_running_releases_and_starts_new_ones_with_the_request():
    plan = plan_up(ENV, [container("app-blue", "r1"), container("db", "r0")], green_flag=None, requested="r2")
    assert (plan.releases.blue, plan.releases.green, plan.releases.stack) == ("r1", "r2", "r0")
    assert plan.releases.cron == "r1", "cron runs the live colour's release"
    assert plan.live == "blue"
    assert "switcher/site:r1" in plan.images and "switcher/lb:r0" in plan.images
    assert len(plan.notes) == 2


def test_plan_up_brings_back_the_recorded_releases_of_colours_without_containers():
    plan = plan_up(ENV, [container("app-blue", "r1")], green_flag=True, requested="r1", recorded={"green": "r2"})
    assert (plan.releases.blue, plan.releases.green) == ("r1", "r2")
    assert plan.releases.cron == "r2", "cron runs the live colour's release"
    assert plan_up(ENV, [container("app-green", "r3")], True, "r1", {"green": "r2"}).releases.green == "r3"


def test_plan_up_on_a_fresh_environment():
    plan = plan_up(ENV, [], green_flag=None, requested="r5")
    assert plan.notes == ()
    assert plan.images == ("switcher/site:r5", "switcher/lb:r5", "switcher/db:r5", "switcher/memcached:r5")
    assert plan_up(ENV, STACK, green_flag=True, requested="r5").live == "green"


def test_cutover_keeps_every_running_release_when_it_overrides_one(tmp_path):
    """Regression: compose calls made during a switch once lost cron's release."""
    from switcher.config import Paths
    from switcher.cutover import Cutover

    class RunningStack:
        def project_containers(self, project):
            return [
                container("app-blue", "r1"),
                container("app-green", "r2"),
                container("cron", "r1"),
                container("lb", "r0"),
            ]

    cutover = Cutover(Paths(ROOT, tmp_path, tmp_path), ENV, RunningStack(), print)
    releases = cutover.releases(green="r3")
    assert (releases.blue, releases.green, releases.stack, releases.cron) == ("r1", "r3", "r0", "r1")
