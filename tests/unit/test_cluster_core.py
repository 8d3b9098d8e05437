"""The pure parts of the cluster's commands: which release each service keeps, secret names,
the named steps, and what status says of nodes, tasks and lbs."""

import json

import pytest

from switcher.cluster_plan import color_replicas, plan_releases, process_replicas
from switcher.cluster_stack import secret_name
from switcher.cluster_status import ClusterStatus, LbView, cluster_lines, services_unseen, unseen_notes, unseen_tasks
from switcher.config import validate
from switcher.errors import ConfigError, Unhealthy
from switcher.plans import deploy_plan
from switcher.swarm import Node, ServiceInfo, Task, _task, until

SWARM = {"ENGINE": "swarm", "SWARM_MANAGER": "unix:///m.sock", "REGISTRY": "r:5000", "SHARED_DIR": "/srv/shared"}


def test_existing_services_keep_their_release_new_ones_get_the_requested():
    assert plan_releases({}, "r2") == plan_releases({}, "r2")
    fresh = plan_releases({}, "r2")
    assert (fresh.blue, fresh.green, fresh.stack, fresh.cron) == ("r2", "r2", "r2", "r2")
    existing = {"app-blue": ServiceInfo(2, "r1"), "app-green": ServiceInfo(2, "r0"), "lb": ServiceInfo(None, "r0")}
    kept = plan_releases(existing, "r2")
    assert (kept.blue, kept.green, kept.stack, kept.cron) == ("r1", "r0", "r0", "r1")


def test_a_stopped_colour_stays_stopped_until_it_is_started():
    assert color_replicas({}, "2", ()) == {"blue": "2", "green": "2"}  # a new stack
    running = {"app-blue": ServiceInfo(2, "r1"), "app-green": ServiceInfo(3, "r2")}
    assert color_replicas(running, "4", ()) == {"blue": "4", "green": "4"}  # APP_REPLICAS changed: both follow
    stopped = {"app-blue": ServiceInfo(2, "r1"), "app-green": ServiceInfo(0, "r2")}  # promote --stop-old
    assert color_replicas(stopped, "2", ()) == {"blue": "2", "green": "0"}  # cron stop/start, up, a deploy to blue
    assert color_replicas(stopped, "2", ("green",)) == {"blue": "2", "green": "2"}  # a deploy to it, a rollback


def test_the_procfiles_processes_run_once_each_and_beat_stops_with_cron():
    none = {"BROKER_REPLICAS": "0", "WORKER_REPLICAS": "0", "BEAT_REPLICAS": "0"}
    assert process_replicas([], cron_stopped=False) == none  # a site without workers: no broker either
    both = process_replicas(["worker", "beat"], cron_stopped=False)
    assert both == {"BROKER_REPLICAS": "1", "WORKER_REPLICAS": "1", "BEAT_REPLICAS": "1"}
    held = process_replicas(["beat", "worker"], cron_stopped=True)  # `switcher cron stop`
    assert held == {"BROKER_REPLICAS": "1", "WORKER_REPLICAS": "1", "BEAT_REPLICAS": "0"}
    assert process_replicas(["beat"], cron_stopped=False) == {**none, "BROKER_REPLICAS": "1", "BEAT_REPLICAS": "1"}
    spread = process_replicas(["worker", "beat"], cron_stopped=False, workers="3")  # WORKER_REPLICAS=3
    assert spread == {"BROKER_REPLICAS": "1", "WORKER_REPLICAS": "3", "BEAT_REPLICAS": "1"}
    assert process_replicas(["beat"], cron_stopped=False, workers="3")["WORKER_REPLICAS"] == "0"


def test_secret_names_follow_the_content():
    one, same, other = (
        secret_name("p", "tls-key", b"a"),
        secret_name("p", "tls-key", b"a"),
        secret_name("p", "tls-key", b"b"),
    )
    assert one == same != other and one.startswith("p_tls-key-") and len(one) == len("p_tls-key-") + 16


def test_a_deploy_has_the_same_named_steps_on_every_engine():
    assert [s.name for s in deploy_plan("green", "r2")] == [
        "check-release", "check-migrations", "recreate", "backup", "migrate", "check-deploy", "wait-healthy",
        "warm", "smoke", "publish",
    ]  # fmt: skip


def status(*lives: str | None) -> ClusterStatus:
    nodes = [Node(f"id{k}", f"n{k}", "worker", "ready", "active", f"10.0.0.1{k}") for k in (1, 2, 3)]
    return ClusterStatus(
        env="e",
        project="p",
        nodes=nodes,
        tasks={"app-blue": [("n1", "running", "r1"), ("n2", "running", "r1")], "lb": [("n1", "running", "r0")]},
        replicas={"app-blue": 2, "lb": None},
        lbs=[LbView(f"n{k}", f"10.0.0.1{k}", live) for k, live in enumerate(lives, start=1)],
        https_port="8443",
    )


def test_the_live_colour_is_the_one_every_lb_agrees_on():
    assert status("green", "green", "green").live == "green"
    assert status("green", "blue", "green").live is None
    assert status("green", None).live == "green", "an lb that could not be read is a note (status), not a vote"
    assert status(None, None).live is None
    assert status().live is None
    text = "\n".join(cluster_lines(status("blue", "blue", "blue")))
    assert "app-blue   2/2" in text and "n1 running r1, n2 running r1" in text
    assert "lb         1 (global)" in text and "https://10.0.0.12:8443/" in text
    data = status("blue", "green", "blue").to_json()
    assert data["live"] is None and [lb["live"] for lb in data["lbs"]] == ["blue", "green", "blue"]


def test_a_task_says_its_release_from_its_image():
    task = Task("app-blue", "n", "running", "running", "c", "reg:5000/switcher/site:r7@sha256:abc")
    assert task.release == "r7"


def test_a_task_says_its_addresses_on_the_stack_network():
    raw = {"ID": "t1", "Status": {"State": "running"}, "NetworksAttachments": [{"Addresses": ["10.0.9.5/24"]}]}
    task = _task(raw, {})
    assert task.id == "t1" and task.addresses == ("10.0.9.5",)
    assert _task({"Status": {}}, {}).addresses == ()


def test_tasks_an_lb_does_not_see_are_named_and_their_colour_replaced():
    """A node back from a cut link can lack tasks in its DNS (moby #53141): status names them,
    `up` replaces the colour's tasks; an lb that could not be asked reports nothing."""
    running = {"app-blue": {"10.0.9.5", "10.0.9.6"}, "app-green": {"10.0.9.7"}}
    assert unseen_tasks(running, {"app-blue": {"10.0.9.5", "10.0.9.6", "10.0.9.9"}, "app-green": {"10.0.9.7"}}) == {}
    assert unseen_tasks(running, {"app-blue": {"10.0.9.6"}, "app-green": set()}) == {
        "app-blue": ["10.0.9.5"],
        "app-green": ["10.0.9.7"],
    }
    assert unseen_tasks(running, {"app-blue": None}) == {}
    lbs = [LbView("n1", "a", "blue"), LbView("n2", "b", "blue", unseen={"app-blue": ["10.0.9.5"]})]
    assert services_unseen(lbs) == ["app-blue"] and services_unseen(lbs[:1]) == []
    (note,) = unseen_notes(lbs, running)
    assert "the lb on n2 does not see 1 of app-blue's 2 running task(s) (10.0.9.5)" in note
    assert "`switcher up` replaces them" in note


def test_waiting_ends_when_nothing_lacks_or_says_what_lacked_last():
    answers = iter(["app-blue: 1 of 2 tasks are new", ""])
    until(lambda: next(answers), 5)
    with pytest.raises(Unhealthy, match=r"^db still runs$"):
        until(lambda: "db still runs", 0)


def test_swarm_settings_are_checked(paths):
    assert validate("x", {**SWARM, "APP_REPLICAS": "3"}, "f", paths.root).settings["APP_REPLICAS"] == "3"
    assert validate("x", {**SWARM, "WORKER_REPLICAS": "4"}, "f", paths.root).settings["WORKER_REPLICAS"] == "4"
    assert validate("x", SWARM, "f", paths.root).settings["WORKER_REPLICAS"] == "1"
    assert validate("x", {**SWARM, "WORKER_REPLICAS": "010"}, "f", paths.root).settings["WORKER_REPLICAS"] == "10"
    for key in ("APP_REPLICAS", "WORKER_REPLICAS"):
        for bad in ("0", "51", "two", "-1", "²"):
            with pytest.raises(ConfigError, match=key):
                validate("x", {**SWARM, key: bad}, "f", paths.root)
    with pytest.raises(ConfigError, match="not built for ENGINE=swarm"):
        validate("x", {**SWARM, "TLS_MODE": "acme", "ACME_EMAIL": "a@example.org", "SITE_HOSTS": "example.org"}, "f",
                 paths.root)  # fmt: skip


def test_the_preview_job_s_answers_are_read_line_by_line_and_all_must_be_there():
    from switcher.cluster_preview import MARK, SCRIPT, command, parse_answers
    from switcher.errors import SwitcherError

    output = "\n".join(
        [
            "some noise",
            MARK + json.dumps([200, "r2", "<html>", None]),
            MARK + json.dumps([302, "r2", "", "/catalog/"]),
        ]
    )
    first, second = parse_answers(output, ["/", "/shop"])
    assert (first.status, first.release, first.body) == (200, "r2", "<html>")
    assert (second.status, second.location) == (302, "/catalog/")
    with pytest.raises(SwitcherError, match="answered 1 of 2"):
        parse_answers(MARK + json.dumps([200, "r2", "", None]), ["/", "/shop"])
    with pytest.raises(SwitcherError, match="not an answer"):
        parse_answers(MARK + "[1, 2", ["/"])
    assert command("example.org", ["/a"])[-2:] == ["example.org", "/a"]
    compile(SCRIPT, "preview", "exec")  # the job's script is valid Python


def test_the_lbs_that_are_away_are_those_on_nodes_that_are_not_ready():
    """ClusterStack.away_lbs from the manager's view alone (no node engine is reached)."""
    from switcher.cluster_stack import ClusterStack

    class Manager:
        def nodes(self) -> list[Node]:
            return [
                Node("a", "n1", "manager", "ready", "active", "10.0.0.1", {"switcher.lb": "true"}),
                Node("b", "n2", "worker", "down", "active", "10.0.0.2", {"switcher.lb": "true"}),
                Node("c", "n3", "worker", "unknown", "active", "10.0.0.3", {}),
                Node("d", "n4", "worker", "down", "active", "10.0.0.4", {"switcher.lb": "true"}),
                Node("e", "n5", "worker", "down", "drain", "10.0.0.5", {"switcher.lb": "true"}),
            ]

        def tasks(self, service: str | None = None) -> list[Task]:
            assert service == "lb"
            return [Task("lb", node, "running", "running", "c" + node, "r/lb:1") for node in ("a", "b")]

    stack = ClusterStack.__new__(ClusterStack)
    stack.swarm = Manager()  # type: ignore[assignment]
    # n4: down long enough that its lb task is no longer listed; n5: drained, no lb is placed there
    assert stack.away_lbs() == ["n2", "n4"]
