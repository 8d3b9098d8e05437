"""The three-engine Swarm on this machine (issue #11, the part that is built): cluster/cluster.sh
starts three Docker engines, each in its own network namespace with its own address, data
root and socket, joined as one manager and two workers, with a registry (HTTPS, its CA
trusted through /etc/docker/certs.d) on the cluster bridge's address. `switcher push` puts a
release's images there; a worker pulls and runs them by the same name; a service spreads over
the nodes and answers on each node's address (dnsrr, host-mode port). `down` leaves nothing:
no engine, namespace, interface, firewall rule, data root, certificate or container."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from switcher.config import Paths, load_environment, other_color
from switcher.swarm import Swarm

from .clusterload import ClusterLoad, NodeLoss, cut_off_node, kill_node, wait_every_lb_back
from .load import Load
from .stackenv import ROOT, SWITCHER, StackEnv, ok, release_with_files, remove_release, running_stack, wait_until
from .test_migrations import ADD_NOTE, HAS_SUMMARY, MODEL

pytestmark = pytest.mark.integration
CLUSTER = ROOT / "cluster" / "cluster.sh"


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)


def free_net() -> str:
    """A 10.231.N.0/24 no interface of this machine uses."""
    used = sh("ip", "-o", "-4", "addr").stdout
    for _ in range(50):
        net = f"10.231.{random.randint(2, 250)}"
        if f" {net}." not in used:
            return net
    raise AssertionError("no free 10.231.N.0/24")


def leftovers(name: str, net: str) -> list[str]:
    found = []
    if f"swc{name}" in sh("ip", "-br", "link").stdout:
        found.append("interfaces")
    if f"swc{name}-" in sh("ip", "netns", "list").stdout:
        found.append("namespaces")
    if f"swc{name}br" in sh("iptables", "-S", "DOCKER-USER").stdout:
        found.append("firewall rule")
    paths = (f"/run/switcher-cluster/{name}", f"/var/lib/switcher-cluster/{name}", f"/etc/docker/certs.d/{net}.1:5000")
    for path in paths:
        if Path(path).exists():
            found.append(path)
    if sh("docker", "ps", "-aq", "--filter", f"label=io.switcher.cluster={name}").stdout.strip():
        found.append("registry container")
    if sh("pgrep", "-f", f"/run/switcher-cluster/{name}/").stdout.strip():
        found.append("engine processes")
    return found


@pytest.fixture(scope="module")
def cluster(release):
    """The module's cluster. At the end its three engines are killed (SIGKILL) first, as a host
    lost hard would leave them: `cluster.sh up` refuses while their state is there, and `down`
    still leaves nothing, mounts of their namespaces under their roots included."""
    name, net = f"t{uuid.uuid4().hex[:5]}", free_net()
    env = {"CLUSTER_NET": net, "BASE_IMAGE": f"switcher/base:{release}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        result = sh(str(CLUSTER), "up", name, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        yield name, net
        for k in (1, 2, 3):
            sh("kill", "-9", Path(f"/run/switcher-cluster/{name}/n{k}.pid").read_text().strip())
        assert sh(str(CLUSTER), "up", name, env=env).returncode != 0, "up refuses while its state is there"
    finally:
        down = sh(str(CLUSTER), "down", name, env=env, timeout=300)
        assert down.returncode == 0, down.stderr[-2000:]
        assert leftovers(name, net) == []
        assert f"/run/switcher-cluster/{name}/" not in sh("findmnt", "-rn", "-o", "TARGET").stdout


def memcached_version(address: str) -> str:
    try:
        with socket.create_connection((address, 21211), timeout=3) as connection:
            connection.sendall(b"version\r\n")
            return connection.recv(100).decode(errors="replace")
    except OSError:
        return ""


def node(name: str, k: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return sh("docker", "-H", f"unix:///run/switcher-cluster/{name}/n{k}.sock", *args, timeout=timeout)


def test_three_engines_as_one_swarm_with_a_registry(cluster, release, client, tmp_path):
    name, net = cluster
    nodes = [json.loads(line) for line in node(name, 1, "node", "ls", "--format", "{{json .}}").stdout.splitlines()]
    assert len(nodes) == 3 and all(n["Status"] == "Ready" for n in nodes), nodes
    managers = [n["ManagerStatus"] for n in nodes if n["ManagerStatus"]]
    assert managers == ["Leader"], nodes
    addresses = {node(name, k, "info", "--format", "{{.Swarm.NodeAddr}}").stdout.strip() for k in (1, 2, 3)}
    assert addresses == {f"{net}.11", f"{net}.12", f"{net}.13"}

    # switcher push: the release's images into the registry, each checked there.
    env = StackEnv.create(
        tmp_path, release, client, ENGINE="swarm", SWARM_MANAGER=f"unix:///run/switcher-cluster/{name}/n1.sock",
        REGISTRY=f"{net}.1:5000", SHARED_DIR=f"/var/lib/switcher-cluster/{name}/shared",
    )  # fmt: skip
    pushed = ok(env.switcher("push", release, "--env", env.name, timeout=900))
    references = [line.split()[0] for line in pushed.stdout.splitlines()]
    names = ("site", "lb", "db", "memcached", "broker", "acme")
    assert references == [f"{net}.1:5000/switcher/{n}:{release}" for n in names]
    assert all(line.split()[1].startswith("sha256:") for line in pushed.stdout.splitlines())
    assert not client.images.list(name=references[0]), "the registry's tag is not left on this engine"

    # A worker pulls and runs the site by that name.
    site = references[0]
    ok(node(name, 3, "pull", "-q", site))
    ran = node(name, 3, "run", "--rm", "--network", "none", "--entrypoint", "python3", site,
               "-c", "import django; print(django.VERSION[0])")  # fmt: skip
    assert ran.returncode == 0 and ran.stdout.strip().isdigit(), ran.stderr

    # A service of three replicas spreads over the nodes and answers on each node's own address
    # (dnsrr, a host-mode port: no IPVS here).
    memcached = references[3]
    created = node(name, 1, "service", "create", "-d", "-q", "--name", "probe", "--replicas", "3",
                   "--endpoint-mode", "dnsrr", "--no-healthcheck", "--replicas-max-per-node", "1",
                   "--publish", "mode=host,target=11211,published=21211",
                   "--entrypoint", "memcached", memcached, "-l", "0.0.0.0", "-p", "11211")  # fmt: skip
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 120
    answered: set[str] = set()
    while answered != addresses:
        answered |= {address for address in addresses - answered if memcached_version(address).startswith("VERSION")}
        if answered != addresses:
            tasks = node(name, 1, "service", "ps", "probe").stdout
            assert time.monotonic() < deadline, f"only {answered} answered: {tasks}"
            time.sleep(1)

    ok(node(name, 1, "service", "rm", "probe"))

    # Refusals in one line: commands not built for ENGINE=swarm, a release that is not built, push on one engine.
    refused = env.switcher("tls", "renew", "--env", env.name)
    assert refused.returncode == 3 and "this command is not built for it" in refused.stderr
    empty = env.switcher("db", "list", "--env", env.name)
    assert empty.returncode != 0 and "has no stack yet" in empty.stderr and "Traceback" not in empty.stderr
    absent = env.switcher("push", "no-such-release", "--env", env.name)
    assert absent.returncode == 5 and "release not built" in absent.stderr and "Traceback" not in absent.stderr
    single = StackEnv.create(tmp_path / "single", release, client)
    refused = single.switcher("push", release, "--env", single.name)
    assert refused.returncode == 3 and "its images need no registry" in refused.stderr


def swarm_env(tmp_path: Path, release: str, client, name: str, net: str, **settings: str) -> StackEnv:
    hosts = ",".join(["localhost", "127.0.0.1", *(f"{net}.1{k}" for k in (1, 2, 3))])
    return StackEnv.create(
        tmp_path, release, client, ENGINE="swarm", SWARM_MANAGER=f"unix:///run/switcher-cluster/{name}/n1.sock",
        REGISTRY=f"{net}.1:5000", SITE_HOSTS=hosts, SHARED_DIR=shared_dir(name), **{"APP_REPLICAS": "2", **settings},
    )  # fmt: skip


def shared_dir(name: str) -> str:
    """What cluster.sh gives the nodes as their shared storage (one directory of this machine)."""
    return f"/var/lib/switcher-cluster/{name}/shared"


def stack_services(name: str, project: str) -> str:
    return node(name, 1, "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={project}").stdout


def node_volumes(name: str, project: str) -> list[str]:
    return [v for k in (1, 2, 3) for v in node(name, k, "volume", "ls", "-q").stdout.split() if v.startswith(project)]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the nodes' lbs, by address
def test_the_stack_on_three_nodes_deploy_promote_rollback_under_load(cluster, release, client, tmp_path):
    """`switcher up` runs the stack as Swarm services; deploy --promote and rollback switch every
    node's lb at once under load, with no failed request; status reads every lb; down leaves
    nothing on any node."""
    name, net = cluster
    env = swarm_env(
        tmp_path, release, client, name, net,
        SETTINGS_MODULE="pressroom.settings_test",  # its /upload
        DB_REPLACE_HOOK="anonymise --placeholder=hidden",
    )  # fmt: skip
    port = env.settings["HTTPS_PORT"]
    # The next release adds a nullable column: deploy backs up and migrates it on the cluster.
    newer = release_with_files(
        client, release, f"{release}-cl2",
        {"press/models.py": MODEL.format(summary=HAS_SUMMARY), "press/migrations/0003_pressrelease_note.py": ADD_NOTE},
    )  # fmt: skip
    try:
        for image in ("lb", "db", "memcached", "broker", "acme"):
            client.images.get(f"switcher/{image}:{release}").tag(f"switcher/{image}", newer)
        ok(env.switcher("push", release, "--env", env.name, timeout=900))

        # A release the registry lacks is refused before anything is made.
        absent = env.switcher("up", "--release", "nowhere-1", "--env", env.name)
        assert absent.returncode == 8 and "is not in the registry" in absent.stderr, absent.stderr
        assert "Traceback" not in absent.stderr
        assert stack_services(name, env.project) == ""
        # So is a SHARED_DIR the nodes do not have.
        env.settings["SHARED_DIR"] = f"/var/lib/switcher-cluster/{name}/nowhere"
        env.write_env_file()
        unshared = env.switcher("up", "--release", release, "--env", env.name, timeout=300)
        assert unshared.returncode != 0 and f"SHARED_DIR={env.settings['SHARED_DIR']}" in unshared.stderr
        assert "the stack was not changed" in unshared.stderr and "Traceback" not in unshared.stderr
        assert stack_services(name, env.project) == ""
        env.settings["SHARED_DIR"] = shared_dir(name)
        env.write_env_file()

        ok(env.switcher("up", "--release", release, "--env", env.name, timeout=900))
        status = env.status()
        assert [n["state"] for n in status["nodes"]] == ["ready"] * 3
        assert status["live"] == "blue" and [lb["live"] for lb in status["lbs"]] == ["blue"] * 3
        blue = status["services"]["app-blue"]
        assert blue["replicas"] == 2 and [t["state"] for t in blue["tasks"]] == ["running"] * 2
        assert len({t["node"] for t in blue["tasks"]}) == 2, "the colour's tasks are spread over the nodes"
        for k in (1, 2, 3):
            page = requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10)
            assert page.status_code == 200 and page.headers["X-Release"] == release
        shared = uploads_and_orders_are_shared(env, name, net, port)

        # deploy --promote under keep-alive load, rollback under new-connection load.
        ok(env.switcher("push", newer, "--env", env.name, timeout=900))
        steps = ((True, ("deploy", newer, "--promote"), newer), (False, ("rollback",), release))
        for keepalive, command, expected in steps:
            with ClusterLoad(net, port, keepalive) as load:
                time.sleep(1)
                result = ok(env.switcher(*command, "--env", env.name, timeout=900))
                done = time.monotonic()
            if command[0] == "deploy":
                assert "1 migration(s) to apply; 0 operation(s)" in result.stderr, result.stderr
                assert "backing up the database" in result.stderr
                # warm and smoke through the lbs' preview listener, from a job on the stack's network
                assert "step 9/10 smoke: check that preview answers /" in result.stderr, result.stderr
                time.sleep(2)
            failed = [a for a in load.answers if a.status != 200]
            print(f"{command[0]}: {len(load.answers)} requests, {len(failed)} failed")
            assert all(len(each.answers) > 20 for each in load.loads), "every node's lb was under load"
            assert not failed, f"{command}: {len(failed)} failed of {len(load.answers)}: {failed[:3]}"
            after = {a.release for a in load.answers if a.started > done}
            assert after == {expected}, f"{command}: answers after it returned came from {after}"
            status = env.status()
            assert [lb["live"] for lb in status["lbs"]] == [status["live"]] * 3
            assert status["services"]["cron"]["tasks"][0]["release"] == expected

        steps = [
            (logs_and_history, env),
            (tls_status_and_prune, env, release, newer),
            (config_files_reach_every_task, env, name),
            (backup_and_restore, env, name, net, port),
            (replace_from_one_host, env, name, net, port, client, tmp_path),
            (a_release_that_fails_its_smoke_test_stays_off, env, net, port, newer),
            (deploy_behind_maintenance, env, net, port, newer),
            (stop_old_and_bring_it_back, env, net, port),
            (maintenance_on_every_lb, env, net, port),
            (secrets_rotated_on_every_lb_and_task, env, net, port),
            (cron_stop, env),
            (killed_at_each_promote_step, env, net, port),
            (cron_start, env),
            (an_lb_that_disagrees_is_reported_and_set_by_up, env, name),
            (cut_off_a_node_under_load, env, name, net, port),
            (kill_a_node_under_load, env, name, net, port, client, newer),
            (uploads_and_orders_are_shared, env, name, net, port, shared),
        ]
        for step, *arguments in steps:
            begun = time.monotonic()
            step(*arguments)
            print(f"step {step.__name__}: {time.monotonic() - begun:.0f} s")

        ok(env.switcher("down", "--volumes", "--yes", "--env", env.name, timeout=600))
        assert stack_services(name, env.project) == ""
        assert node_volumes(name, env.project) == []
        assert not Path(shared_dir(name), env.project).exists(), "down --volumes deletes the uploads and state"
        assert node(name, 1, "secret", "ls", "-q").stdout == ""
    finally:
        env.switcher("down", "--volumes", "--yes", "--env", env.name, timeout=600)
        remove_release(client, newer)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the nodes' lbs, by address
def test_the_procfiles_worker_and_beat_run_once_on_the_cluster_and_follow_the_release(
    cluster, startproject, client, tmp_path
):
    """A site whose Procfile declares a Celery worker and beat (tests/sites/startproject): the
    broker, two workers (WORKER_REPLICAS=2, on two nodes) and one beat run on the cluster from
    the live release; tasks queued through every node's lb before, during and after a promote
    each run once; `cron stop` stops beat, not the workers; the broker answers nobody without
    its password."""
    name, net = cluster
    release, newer, _ = startproject
    env = swarm_env(
        tmp_path, release, client, name, net, WRITE_RATE_LIMIT="1000", WORKER_STOP_TIMEOUT="30", WORKER_REPLICAS="2",
        APP_REPLICAS="1",  # the colours' spread is the stack test's; fewer tasks to start and replace here
    )  # fmt: skip
    port = env.settings["HTTPS_PORT"]
    begun = time.monotonic()

    def lap(what: str) -> None:
        nonlocal begun
        print(f"workers: {what}: {time.monotonic() - begun:.0f} s")
        begun = time.monotonic()

    try:
        for image in ("lb", "db", "memcached", "broker", "acme"):
            client.images.get(f"switcher/{image}:{release}").tag(f"switcher/{image}", newer)
        for each in (release, newer):
            ok(env.switcher("push", each, "--env", env.name, timeout=900))
        lap("push")
        ok(env.switcher("up", "--release", release, "--env", env.name, timeout=900))
        lap("up")
        services = env.status()["services"]
        for service, count in (("broker", 1), ("worker", 2), ("beat", 1)):
            running = [t["release"] for t in services[service]["tasks"] if t["state"] == "running"]
            assert services[service]["replicas"] == count and running == [release] * count, services[service]
        workers = {t["node"] for t in services["worker"]["tasks"] if t["state"] == "running"}
        assert len(workers) == 2, f"the workers are spread over the nodes: {services['worker']}"
        ok(env.switcher("deploy", newer, "--env", env.name, timeout=900))
        lap("deploy")

        sessions = [requests.Session() for _ in (1, 2, 3)]
        sent: list[str] = []
        stop = threading.Event()

        def enqueue(token: str) -> None:
            k = len(sent) % 3  # through each node's lb in turn
            answer = sessions[k].post(
                f"https://{net}.1{k + 1}:{port}/catalog/tasks/", data={"token": token}, verify=False, timeout=10
            )
            assert answer.status_code == 202, answer.text[:300]
            sent.append(token)

        def during() -> None:
            for number in range(150):  # bounded: at most 150 tasks, 30 s
                if stop.is_set():
                    break
                enqueue(f"during-{number}")
                time.sleep(0.2)

        def runs() -> dict:
            return sessions[0].get(f"https://{net}.11:{port}/catalog/tasks/", verify=False, timeout=10).json()

        for number in range(20):  # 5 s of work for the worker's two processes: running at the handover
            enqueue(f"before-{number}")
        thread = threading.Thread(target=during)
        thread.start()
        try:
            promoted = ok(env.switcher("promote", "--env", env.name, timeout=900))
        finally:
            stop.set()
            thread.join(timeout=30)
        lap("promote")
        assert "hand cron over" in promoted.stderr, promoted.stderr
        for number in range(20):
            enqueue(f"after-{number}")
        wait_until(lambda: set(runs()["runs"]) >= set(sent), 180, "every queued task runs")
        counted = runs()["runs"]
        assert {token: count for token, count in counted.items() if count != 1} == {}, "each task ran exactly once"
        assert set(counted) == set(sent)
        services = env.status()["services"]
        for service, count in (("worker", 2), ("beat", 1)):
            running = [t["release"] for t in services[service]["tasks"] if t["state"] == "running"]
            assert running == [newer] * count, (service, services[service])
        ticks = runs()["ticks"]
        wait_until(lambda: runs()["ticks"] > ticks, 30, "the new release's beat schedules its task")
        assert "celery@" in ok(env.switcher("logs", "worker", "--env", env.name)).stdout
        lap("every task ran once")

        # `cron stop` stops cron and beat; the workers keep working. `cron start` runs both again.
        ok(env.switcher("cron", "stop", "--env", env.name, timeout=300))
        services = env.status()["services"]
        assert "beat" not in services and [t["release"] for t in services["worker"]["tasks"]] == [newer, newer]
        enqueue("while-cron-is-stopped")
        wait_until(lambda: "while-cron-is-stopped" in runs()["runs"], 60, "the worker runs a task")
        ok(env.switcher("cron", "start", "--env", env.name, timeout=300))
        assert [t["release"] for t in env.status()["services"]["beat"]["tasks"]] == [newer]
        lap("cron stop and start")

        # The broker's password rotated (behind maintenance): the broker and every site task
        # replaced with it; tasks queued through the bypass meanwhile run after.
        def broker_password() -> str:
            # (`docker cp … -` writes a tar stream; the file's lines are in it as they are)
            stored = node(name, 1, "cp", f"{env.project}-switcher-store:/store/credentials.env", "-").stdout
            return stored.split("BROKER_PASSWORD=", 1)[1].split()[0]

        old = broker_password()
        refused = env.switcher("secrets", "rotate", "broker-password", "--env", env.name)
        assert refused.returncode == 8 and "turn maintenance on first" in refused.stderr, refused.stderr
        ok(env.switcher("maintenance", "on", "--env", env.name))
        token = ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip()
        for session in sessions:
            session.headers["X-Maintenance-Bypass"] = token
        enqueue("before-rotation")
        rotated = ok(env.switcher("secrets", "rotate", "broker-password", "--env", env.name, timeout=900))
        for service in ("broker", "worker", "beat", "app-blue", "app-green", "cron"):
            assert f"replaced the tasks of {service}" in rotated.stderr, rotated.stderr
        enqueue("after-rotation")
        ok(env.switcher("maintenance", "off", "--env", env.name))
        wait_until(lambda: {"before-rotation", "after-rotation"} <= set(runs()["runs"]), 120, "queued tasks run")
        password = broker_password()
        assert password != old
        lap("broker-password rotated")

        # The broker: nobody without the password; with it, no admin command; not in its argv.
        anonymous = task_exec(env, name, "broker", "redis-cli", "-p", "6379", "ping")
        assert "NOAUTH" in anonymous.stdout + anonymous.stderr, anonymous
        as_site = "REDISCLI_AUTH=$0 redis-cli -p 6379"
        assert task_exec(env, name, "broker", "sh", "-c", f"{as_site} ping", password).stdout.strip() == "PONG"
        stale = task_exec(env, name, "broker", "sh", "-c", f"{as_site} ping", old)
        assert "WRONGPASS" in stale.stdout + stale.stderr, stale
        admin = task_exec(env, name, "broker", "sh", "-c", f"{as_site} config get dir", password)
        assert "NOPERM" in admin.stdout + admin.stderr, admin
        argv = task_exec(env, name, "broker", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; cat /proc/1/environ")
        assert argv.returncode == 0 and "redis-server" in argv.stdout and password not in argv.stdout

        lap("broker")
        ok(env.switcher("down", "--volumes", "--yes", "--env", env.name, timeout=600))
        assert stack_services(name, env.project) == "" and node_volumes(name, env.project) == []
        lap("down")
    finally:
        env.switcher("down", "--volumes", "--yes", "--env", env.name, timeout=600)


@dataclass
class Shared:
    url: str  # an upload's
    content: bytes
    orders: list[int]


def uploads_and_orders_are_shared(
    env: StackEnv, name: str, net: str, port: str, before: Shared | None = None
) -> Shared:
    """An upload through one node's lb is served by every node's lb, and order ids (the state
    directory's orderid.txt) never repeat whichever node's task takes the order: both live in
    SHARED_DIR. After a node's loss (`before`), the same upload is still there and the ids go on."""
    lbs = [f"https://{net}.1{k}:{port}" for k in (1, 2, 3)]
    if before is None:
        content = uuid.uuid4().hex.encode()
        stored = requests.post(lbs[0] + "/upload", files={"file": ("shared.txt", content)}, verify=False, timeout=10)
        assert stored.status_code == 200, stored.text[:200]
        before = Shared(url=stored.json()["url"], content=content, orders=[])
    for lb in lbs:
        served = requests.get(lb + before.url, verify=False, timeout=10)
        assert served.status_code == 200 and served.content == before.content, f"{lb}{before.url}: {served.status_code}"
    orders = []
    for i in range(24):  # 8 per lb: under the write limit's burst
        placed = requests.post(lbs[i % 3] + "/orders", verify=False, timeout=10)
        assert placed.status_code == 200, placed.text[:200]
        orders.append(placed.json()["id"])
    assert len(set(orders)) == len(orders), f"order ids repeated across nodes: {sorted(orders)}"
    assert min(orders) > max(before.orders, default=0), "the counter went on from where it was"
    root = Path(shared_dir(name), env.project)
    assert (root / "media" / before.url.removeprefix("/media/")).read_bytes() == before.content
    assert int((root / "state" / "orderid.txt").read_text()) == max(orders)
    print(f"shared: one upload served by 3 lbs; {len(orders)} orders through 3 lbs, ids {min(orders)}-{max(orders)}")
    return Shared(url=before.url, content=before.content, orders=before.orders + orders)


def logs_and_history(env: StackEnv) -> None:
    """manage.py in a one-off task (its output, its exit code, its input from a pipe or a
    terminal), logs of a service's tasks on every
    node (through the manager), the history from the manager's store; a process a cluster does
    not run is one line."""
    live = ok(env.switcher("logs", "--since", "1d", "--env", env.name)).stdout
    assert live.count("Booting worker") >= 2, "the gunicorn of each of the live colour's tasks"
    cron = ok(env.switcher("logs", "cron", "-n", "3", "--env", env.name)).stdout
    assert "cron: " in cron, cron[-500:]
    shown = ok(env.switcher("manage", "--env", env.name, "showmigrations", "press", timeout=300)).stdout
    assert "[X] 0001" in shown and "[ ]" not in shown, shown[-500:]
    unknown = env.switcher("manage", "--env", env.name, "no-such-command", timeout=300)
    assert unknown.returncode == 1 and "Unknown command" in unknown.stderr, unknown.stderr[-500:]
    shell = ["shell", "-c", "import sys; print('from the task'); sys.exit(7)"]
    seven = env.switcher("manage", "--env", env.name, *shell, timeout=300)
    assert seven.returncode == 7 and "from the task" in seven.stdout, (seven.returncode, seven.stdout[-500:])
    # Its input: a pipe, and a terminal (`script` gives it one), as `manage shell` on one host.
    manage = [str(SWITCHER), "manage", "--env", env.name, "shell"]
    piped = subprocess.run(manage, input="print(6 * 7)\n", env=env.process_env(), capture_output=True, text=True,
                           timeout=300, check=False)  # fmt: skip
    assert piped.returncode == 0 and piped.stdout.split()[-1:] == ["42"], (piped.stdout[-300:], piped.stderr[-300:])
    typed = subprocess.run(["script", "-qec", " ".join(manage), "/dev/null"], input="print(6 * 7)\nexit()\n",
                           env=env.process_env(), capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert typed.returncode == 0 and ">>> " in typed.stdout and "\n42" in typed.stdout, typed.stdout[-500:]
    worker = env.switcher("logs", "worker", "--env", env.name)
    assert worker.returncode == 5 and "runs no worker" in worker.stderr and "Traceback" not in worker.stderr
    records = [
        json.loads(line) for line in ok(env.switcher("history", "--json", "--env", env.name)).stdout.splitlines()
    ]
    actions = [(record["action"], record["outcome"]) for record in records]
    assert ("deploy", "ok") in actions and ("rollback", "ok") in actions and ("db-backup", "ok") in actions, actions


def tls_status_and_prune(env: StackEnv, release: str, newer: str) -> None:
    """`tls status` reads the certificate every lb serves; `prune` keeps the colours' releases."""
    tls = json.loads(ok(env.switcher("tls", "status", "--json", "--env", env.name)).stdout)
    assert tls["mode"] == "selfsigned" and tls["certificate"]["days_left"] > 30, tls
    would = ok(env.switcher("prune", "--dry-run", "--env", env.name)).stderr
    assert "would retain the static files of:" in would and release in would and newer in would, would
    pruned = ok(env.switcher("prune", "--env", env.name, timeout=300)).stderr
    assert "retained the static files of:" in pruned and release in pruned and newer in pruned, pruned


def db_exec(env: StackEnv, name: str, *command: str) -> str:
    """A command in the db task, through its node's engine; its output."""
    result = task_exec(env, name, "db", *command)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def task_exec(env: StackEnv, name: str, service: str, *command: str) -> subprocess.CompletedProcess:
    """A command in the service's (first) task, through its node's engine."""
    label = f"label=com.docker.swarm.service.name={env.project}_{service}"
    for k in (1, 2, 3):
        task = node(name, k, "ps", "-q", "--filter", label).stdout
        if task.split():
            return node(name, k, "exec", task.split()[0], *command)
    raise AssertionError(f"no {service} task runs")


def db_psql(env: StackEnv, name: str, statement: str) -> str:
    """One SQL statement as the superuser in the db task."""
    return db_exec(env, name, "psql", "-X", "-At", "-U", "postgres", "-d", "site", "-c", statement)


def backup_and_restore(env: StackEnv, name: str, net: str, port: str) -> None:
    """db backup, list, verify, export, import and restore on a cluster (db-backup in the db
    task on its node): the backup counts the rows it holds, can be copied off the node (mode
    0600, never over a file) and brought back when the node lost it; restore brings back deleted rows with every lb in
    maintenance (left on: the bypass reads the restored rows) and cron stopped, after a backup
    of the database it replaced; bad ids are one line and change nothing."""
    rows = "SELECT count(*) FROM press_pressrelease"
    before = int(db_psql(env, name, rows))
    slug = db_psql(env, name, "SELECT slug FROM press_pressrelease ORDER BY slug LIMIT 1")
    backup_id = ok(env.switcher("db", "backup", "--label", "cluster", "--env", env.name, timeout=300)).stdout.strip()
    out = ok(env.switcher("db", "list", "--json", "--env", env.name)).stdout
    listed = {backup["id"]: backup for backup in map(json.loads, out.splitlines())}
    assert listed[backup_id]["label"] == "cluster", listed
    assert listed[backup_id]["tables"]["public.press_pressrelease"] == before
    assert any(b["label"] == "" for b in listed.values()), "deploy's backup before it migrated is listed too"
    ok(env.switcher("db", "verify", backup_id, "--env", env.name, timeout=300))
    archive = env.directory / "cluster-backup.tar"  # off the db's node, onto this host
    ok(env.switcher("db", "export", backup_id, str(archive), "--env", env.name, timeout=300))
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [f"{backup_id}.dump", f"{backup_id}.json"]
        dump = tar.extractfile(f"{backup_id}.dump")
        assert dump is not None and hashlib.sha256(dump.read()).hexdigest() == listed[backup_id]["sha256"]
    again = env.switcher("db", "export", backup_id, str(archive), "--env", env.name)
    assert again.returncode != 0 and "never overwrites" in again.stderr, again.stderr
    # The backup gone from the db's node (as with a lost node) comes back from the archive.
    twice = env.switcher("db", "import", str(archive), "--env", env.name)
    assert twice.returncode != 0 and "already has backup" in twice.stderr, twice.stderr
    db_exec(env, name, "db-backup", "delete", backup_id)
    assert backup_id not in ok(env.switcher("db", "list", "--env", env.name)).stdout
    assert ok(env.switcher("db", "import", str(archive), "--env", env.name, timeout=300)).stdout.strip() == backup_id
    ok(env.switcher("db", "verify", backup_id, "--env", env.name, timeout=300))
    for bad, said in (("../etc/passwd", "is not a backup id"), ("20200101T000000Z", "has no backup 20200101T000000Z")):
        refused = env.switcher("db", "restore", bad, "--yes", "--env", env.name)
        assert refused.returncode != 0 and said in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    db_psql(env, name, "DELETE FROM press_pressrelease")
    result = ok(env.switcher("db", "restore", backup_id, "--yes", "--env", env.name, timeout=600))
    assert int(db_psql(env, name, rows)) == before, "the deleted rows are back"
    assert "maintenance stays on" in result.stderr and "could not be emptied" not in result.stderr, result.stderr
    status = env.status()
    assert all(lb["maintenance"] for lb in status["lbs"]), status["lbs"]
    assert [t for t in status["services"]["cron"]["tasks"] if t["state"] == "running"] == []
    token = ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip()
    for k in (1, 2, 3):
        url = f"https://{net}.1{k}:{port}/press/"
        assert requests.get(url, verify=False, timeout=10).status_code == 503
        page = requests.get(url, headers={"X-Maintenance-Bypass": token}, verify=False, timeout=10)
        assert page.status_code == 200 and f"<td>{slug}</td>" in page.text, (k, page.status_code)
    ok(env.switcher("maintenance", "off", "--env", env.name))
    ok(env.switcher("cron", "start", "--env", env.name, timeout=300))
    out = ok(env.switcher("db", "list", "--json", "--env", env.name)).stdout
    labels = [json.loads(line)["label"] for line in out.splitlines()]
    assert "before-restore" in labels, "the replaced database was backed up first"


def replace_from_one_host(env: StackEnv, name: str, net: str, port: str, client, tmp_path: Path) -> None:
    """`db replace --from` an environment on this machine's one engine into the cluster (the old
    guide's production data onto integration, across engines): the source's fresh backup
    travels as an archive, is restored with every lb in maintenance, migrated, anonymised by
    DB_REPLACE_HOOK; then maintenance is off and cron runs again; the source is unchanged."""
    with running_stack(tmp_path / "source", env.release, client) as source:
        source.psql("UPDATE press_pressrelease SET slug = 'src-' || slug")
        (env.directory / "env" / f"{source.name}.env").write_text(
            (source.directory / "env" / f"{source.name}.env").read_text()
        )
        summaries = source.psql("SELECT count(DISTINCT summary) FROM press_pressrelease")
        command = ("db", "replace", "--from", source.name, "--fresh", "--yes", "--env", env.name)
        result = ok(env.switcher(*command, timeout=900))
        assert f"copying {source.name}'s backup" in result.stderr and "as an archive" in result.stderr
        assert "running DB_REPLACE_HOOK: manage.py anonymise --placeholder=hidden" in result.stderr
        slugs = "SELECT slug FROM press_pressrelease ORDER BY slug"
        assert db_psql(env, name, slugs) == source.psql(slugs) and db_psql(env, name, slugs).startswith("src-")
        assert db_psql(env, name, "SELECT DISTINCT summary FROM press_pressrelease") == "hidden"
        assert source.psql("SELECT count(DISTINCT summary) FROM press_pressrelease") == summaries
    status = env.status()
    assert not any(lb["maintenance"] for lb in status["lbs"]), status["lbs"]
    assert [t["state"] for t in status["services"]["cron"]["tasks"] if t["state"] == "running"] == ["running"]
    for k in (1, 2, 3):
        page = requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10)
        assert page.status_code == 200 and "<br>hidden<" in page.text, (k, page.status_code)
    labels = [
        json.loads(line)["label"]
        for line in ok(env.switcher("db", "list", "--json", "--env", env.name)).stdout.splitlines()
    ]
    assert labels.count("before-restore") == 2, "the cluster's own database was backed up before it was replaced"


def a_release_that_fails_its_smoke_test_stays_off(env: StackEnv, net: str, port: str, newer: str) -> None:
    """SMOKE_PATHS on a cluster: a path the new release answers 404 fails the deploy at its smoke
    step; the idle colour is stopped and the live one serves on, on every lb."""
    before = env.status()
    env.settings["SMOKE_PATHS"] = "/,/no-such-page"
    env.write_env_file()
    try:
        failed = env.switcher("deploy", newer, "--env", env.name, timeout=900)
    finally:
        del env.settings["SMOKE_PATHS"]
        env.write_env_file()
    assert failed.returncode != 0 and "preview /no-such-page answered 404" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr
    status = env.status()
    idle = "green" if before["live"] == "blue" else "blue"
    assert status["live"] == before["live"] and [lb["live"] for lb in status["lbs"]] == [before["live"]] * 3
    assert [t for t in status["services"][f"app-{idle}"]["tasks"] if t["state"] == "running"] == []
    live_tasks = before["services"][f"app-{before['live']}"]["tasks"]
    (live_release,) = {t["release"] for t in live_tasks if t["state"] == "running"}
    for k in (1, 2, 3):
        page = requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10)
        assert page.status_code == 200 and page.headers["X-Release"] == live_release


def deploy_behind_maintenance(env: StackEnv, net: str, port: str, newer: str) -> None:
    """deploy --maintenance (the old guide's whole upgrade) on a cluster, under load: every lb
    shows the page (503) or the site (200), nothing else; cron is stopped behind the page and
    runs the new live release after; maintenance is off on every lb at the end."""
    pages = Load(f"https://{net}.12:{port}/", False, 2, True, max_seconds=240)
    with ClusterLoad(net, port, keepalive=True, per_node=2) as load, pages:
        result = ok(env.switcher("deploy", newer, "--maintenance", "--env", env.name, timeout=900))
    assert "stopping cron" in result.stderr and "turning maintenance off" in result.stderr, result.stderr
    failed = [a for a in load.answers if a.status != 200]
    assert load.answers and not failed, f"deploy --maintenance: /healthz failed {len(failed)}: {failed[:3]}"
    other = [a for a in pages.answers if a.status not in (200, 503)]
    assert not other, f"deploy --maintenance: {len(other)} pages not 200/503: {other[:3]}"
    assert any(a.status == 503 for a in pages.answers), "the page was shown while it ran"
    shown = {code: sum(1 for a in pages.answers if a.status == code) for code in (200, 503)}
    print(f"deploy --maintenance: /healthz {len(load.answers)} requests, 0 failed; pages {shown}")
    status = env.status()
    assert status["maintenance"] is False and not any(lb["maintenance"] for lb in status["lbs"])
    live_tasks = status["services"][f"app-{status['live']}"]["tasks"]
    assert {t["release"] for t in live_tasks if t["state"] == "running"} == {newer}, live_tasks
    running = [t for t in status["services"]["cron"]["tasks"] if t["state"] == "running"]
    assert [t["release"] for t in running] == [newer]


def stop_old_and_bring_it_back(env: StackEnv, net: str, port: str) -> None:
    """promote --stop-old under load: no failed request, the old colour ends with no task and
    stays so through a later `docker stack deploy` (`up`); a rollback brings it back and makes
    it live, under load, with no failed request."""
    old = env.status()["live"]
    new = "blue" if old == "green" else "green"

    def tasks(color: str) -> tuple[int | None, list[dict]]:
        service = env.status()["services"][f"app-{color}"]
        return service["replicas"], [t for t in service["tasks"] if t["state"] == "running"]

    for command, live, stopped in ((("promote", new, "--stop-old"), new, True), (("rollback",), old, False)):
        with ClusterLoad(net, port, keepalive=False, per_node=2) as load:
            ok(env.switcher(*command, "--env", env.name, timeout=900))
        failed = [a for a in load.answers if a.status != 200]
        assert load.answers and not failed, f"{command}: {len(failed)} failed: {failed[:3]}"
        print(f"{' '.join(command)}: {len(load.answers)} requests, 0 failed")
        assert env.status()["live"] == live
        if stopped:
            assert tasks(old) == (0, []), tasks(old)
            ok(env.switcher("up", "--release", env.release, "--env", env.name, timeout=900))
            assert tasks(old) == (0, []), "a stack deploy started the stopped colour again"
    replicas, running = tasks(old)
    assert replicas == 2 and len(running) == 2, (replicas, running)


def maintenance_on_every_lb(env: StackEnv, net: str, port: str) -> None:
    """`maintenance on` puts every node's lb on the live release's page (503, Retry-After; the
    bypass token reaches the site; /healthz keeps answering, under load: no failed request);
    status says so; `off` takes it away on every node."""
    token = ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip()
    with ClusterLoad(net, port, keepalive=True, per_node=2) as load:
        ok(env.switcher("maintenance", "on", "--message", "Back at noon", "--retry-after", "120", "--env", env.name))
        status = env.status()
        assert status["maintenance"] is True and all(lb["maintenance"] for lb in status["lbs"]), status["lbs"]
        for k in (1, 2, 3):
            page = requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10)
            assert page.status_code == 503 and "Back at noon" in page.text, (k, page.status_code)
            assert page.headers["Retry-After"] == "120"
            bypass = requests.get(f"https://{net}.1{k}:{port}/", headers={"X-Maintenance-Bypass": token},
                                  verify=False, timeout=10)  # fmt: skip
            assert bypass.status_code == 200, (k, bypass.status_code)
        ok(env.switcher("maintenance", "off", "--env", env.name))
    assert env.status()["maintenance"] is False
    answers = [requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10) for k in (1, 2, 3)]
    assert [answer.status_code for answer in answers] == [200] * 3
    failed = [a for a in load.answers if a.status != 200]
    assert load.answers and not failed, f"maintenance on/off: {len(failed)} failed: {failed[:3]}"


def config_files_reach_every_task(env: StackEnv, name: str) -> None:
    """`config put/list` on a cluster: the file lands in SHARED_DIR/PROJECT/config (the site's
    user, mode 0640), the site's tasks read it (`manage shell` as a job), its content was carried
    by a Swarm secret that is gone after; a name with a path in it is refused."""
    content = f"[payments]\nkey = {uuid.uuid4().hex}\n"
    source = env.directory / "site.ini"
    source.write_text(content)
    refused = env.switcher("config", "put", str(source), "--name", "../site.ini", "--env", env.name)
    assert refused.returncode != 0 and "is not a plain file name" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    ok(env.switcher("config", "put", str(source), "--env", env.name, timeout=300))
    assert "site.ini" in ok(env.switcher("config", "list", "--env", env.name, timeout=300)).stdout.split()
    stored = Path(shared_dir(name), env.project, "config", "site.ini")
    assert stored.read_text() == content and stored.stat().st_mode & 0o777 == 0o640 and stored.stat().st_uid == 10001
    script = "print(open('/var/lib/site/config/site.ini').read())"
    read = ok(env.switcher("manage", "--env", env.name, "shell", "-c", script, timeout=300))
    assert content.strip() in read.stdout, read.stdout
    assert "_config-" not in node(name, 1, "secret", "ls", "--format", "{{.Name}}").stdout


def secrets_rotated_on_every_lb_and_task(env: StackEnv, net: str, port: str) -> None:
    """`secrets rotate` on a cluster: the site's password is refused without maintenance (nothing
    changed); the maintenance token is replaced on every lb (the old one no longer lets anyone
    through); the site's database password is set in the db and every site task is replaced
    with it: through the bypass every lb serves pages that read the database."""
    token = ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip()
    refused = env.switcher("secrets", "rotate", "db-password", "--env", env.name)
    assert refused.returncode != 0 and "turn maintenance on first" in refused.stderr, refused.stderr
    assert ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip() == token
    ok(env.switcher("maintenance", "on", "--message", "Rotating", "--env", env.name))
    ok(env.switcher("secrets", "rotate", "maintenance-token", "--env", env.name))
    new = ok(env.switcher("maintenance", "token", "--env", env.name)).stdout.strip()
    assert new != token

    def bypass(k: int, value: str) -> requests.Response:
        return requests.get(f"https://{net}.1{k}:{port}/press/", headers={"X-Maintenance-Bypass": value},
                            verify=False, timeout=10)  # fmt: skip

    for k in (1, 2, 3):
        assert bypass(k, token).status_code == 503 and bypass(k, new).status_code == 200, k
    result = ok(env.switcher("secrets", "rotate", "db-password", "--env", env.name, timeout=900))
    assert "set it in the database" in result.stderr and "replaced the tasks of app-blue" in result.stderr
    assert "replaced the tasks of app-green" in result.stderr and "replaced the tasks of cron" in result.stderr
    for k in (1, 2, 3):
        page = bypass(k, new)
        assert page.status_code == 200 and "<td>" in page.text, (k, page.status_code, page.text[:200])
    ok(env.switcher("maintenance", "off", "--env", env.name))
    assert [requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10).status_code for k in (1, 2, 3)] == [
        200
    ] * 3


def cron_stop(env: StackEnv) -> None:
    """`cron stop`: no cron task runs, and none after the promotes that follow."""
    state = json.loads(ok(env.switcher("cron", "stop", "--json", "--env", env.name, timeout=300)).stdout)
    assert state["state"] == "stopped" and state["stopped_by_operator"], state
    assert [t for t in env.status()["services"]["cron"]["tasks"] if t["state"] == "running"] == []


def cron_start(env: StackEnv) -> None:
    """After the promotes, cron was still stopped; `cron start` runs one task of the live release."""
    assert [t for t in env.status()["services"]["cron"]["tasks"] if t["state"] == "running"] == []
    state = json.loads(ok(env.switcher("cron", "start", "--json", "--env", env.name, timeout=300)).stdout)
    assert state["state"] == "running" and not state["stopped_by_operator"], state
    assert state["release"] == state["live_release"], state
    running = [t for t in env.status()["services"]["cron"]["tasks"] if t["state"] == "running"]
    assert [t["release"] for t in running] == [state["live_release"]]


def killed_at_each_promote_step(env: StackEnv, net: str, port: str) -> None:
    """switcher killed (SIGKILL) as the steps of a cluster's promote that touch the lbs start,
    under load: the site serves throughout (a kill during the flips may leave the lbs on both
    colours, each serving), and promote run again puts every lb on the target. (gate changes
    nothing; cron is the single host's handover, tested there.)"""
    for step in ("switch", "verify"):
        target = "green" if env.status()["live"] == "blue" else "blue"
        with ClusterLoad(net, port, keepalive=True, per_node=3) as load:
            process = subprocess.Popen(
                [str(SWITCHER), "promote", target, "--env", env.name],
                env={**os.environ, "SWITCHER_ENV_DIR": str(env.directory / "env"),
                     "SWITCHER_STATE_DIR": str(env.directory / "state")},
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert process.stderr is not None
            for line in process.stderr:
                if line.startswith("switcher: step ") and f" {step}: " in line:
                    process.send_signal(signal.SIGKILL)
                    break
            process.wait(timeout=120)
            lives = [lb["live"] for lb in env.status()["lbs"]]
            again = env.switcher("promote", target, "--env", env.name, timeout=600)
        # A kill while the lbs are being flipped may leave them on both colours (both serve; status
        # says so); promote run again puts every lb on the target.
        assert len(set(lives)) == 1 or step == "switch", f"after a kill at {step} the lbs disagree: {lives}"
        assert again.returncode == 0, f"after a kill at {step}: {again.stderr}"
        assert [lb["live"] for lb in env.status()["lbs"]] == [target] * 3, step
        failed = [a for a in load.answers if a.status != 200]
        assert load.answers and not failed, f"kill at {step}: {len(failed)} failed: {failed[:3]}"
        assert env.status()["live"] == target, step


def an_lb_that_disagrees_is_reported_and_set_by_up(env: StackEnv, name: str) -> None:
    """One node's lb on the other colour (as a node that joined later starts at blue): status
    says so, promote without a colour refuses, `up` puts it back on the live colour."""
    live = env.status()["live"]
    other = "green" if live == "blue" else "blue"
    lb = node(name, 3, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={env.project}_lb").stdout.split()
    ok(node(name, 3, "exec", lb[0], "sh", "-c", "touch /var/lib/switcher/live/green" if other == "green"
            else "rm -f /var/lib/switcher/live/green"))  # fmt: skip
    status = env.status()
    assert status["live"] is None and any("disagree" in note for note in status["notes"]), status["notes"]
    refused = env.switcher("promote", "--env", env.name)
    assert refused.returncode == 8 and "promote COLOR" in refused.stderr, refused.stderr
    ok(env.switcher("up", "--release", env.release, "--env", env.name, timeout=900))
    assert env.status()["live"] == live


def cut_off_a_node_under_load(env: StackEnv, name: str, net: str, port: str) -> None:
    """A worker that runs a live task loses its link under load on the other nodes' lbs: the
    requests in flight on it may fail (no more than those), all succeed again within 10 s, none hangs (a gone task
    costs nginx's 1 s connect timeout, then the next task answers); Swarm brings the live colour
    back to its replicas on the nodes left; the node comes back when its link does, and serves."""
    live = env.status()["live"]
    check_node_loss(env, cut_off_node(env, name, net, port), "cut off", net, port, live)
    every_lb_sees_every_task_after_up(env, net, port)


def every_lb_sees_every_task_after_up(env: StackEnv, net: str, port: str) -> None:
    """A node back from a cut link can lack, in its DNS, tasks that ran elsewhere all along
    (moby #53141): its lb then spreads over fewer tasks, and has none left when those are lost.
    status names them; `up` replaces that colour's tasks one at a time, under load with no failed
    request; then every lb sees every task. (The records can also come back by themselves, once
    within the ~20 s before `up` looked: then `up` has nothing to replace.)"""
    before = env.status()
    unseen = {lb["node"]: lb["unseen"] for lb in before["lbs"] if lb["unseen"]}
    assert bool(unseen) == any("does not see" in note for note in before["notes"]), before["notes"]
    with ClusterLoad(net, port, keepalive=True, per_node=3) as load:
        result = ok(env.switcher("up", "--release", env.release, "--env", env.name, timeout=900))
    replaced = "replacing its tasks" in result.stderr
    healed = bool(unseen) and not replaced  # the records came back by themselves before up looked (seen here)
    print(f"after the cut: lbs missing tasks: {unseen or 'none'}; up under load: {len(load.answers)} requests"
          + ("; they were back before up looked" if healed else ""))  # fmt: skip
    assert not replaced or unseen, f"up replaced tasks every lb saw: {result.stderr}"
    assert replaced or "every lb sees every running task" in result.stderr, result.stderr
    failed = [a for a in load.answers if a.status != 200]
    assert load.answers and not failed, f"up after the cut: {len(failed)} failed: {failed[:3]}"
    assert [lb["unseen"] for lb in env.status()["lbs"]] == [{}] * 3
    live_tasks_replaced_under_load(env, net, port)


def live_tasks_replaced_under_load(env: StackEnv, net: str, port: str) -> None:
    """What `up` does when an lb misses tasks (the state above came about in 3 of 17 cuts
    here, so it is also done on purpose): the live colour's tasks replaced one at a time
    (Swarm.replace_tasks), under load on every lb: no failed request, every lb sees the new ones."""
    paths = Paths(root=ROOT, env_dir=env.directory / "env", state_dir=env.directory / "state")
    swarm = Swarm(load_environment(env.name, paths))
    service = f"app-{env.status()['live']}"
    old = {task.id for task in swarm.tasks(service)}
    with ClusterLoad(net, port, keepalive=False, per_node=3) as load:
        time.sleep(1)
        swarm.replace_tasks(service)
        swarm.wait_replaced(service, old, 300)
        # The load goes on until every lb sees the new tasks.
        deadline = time.monotonic() + 30
        while [lb["unseen"] for lb in env.status()["lbs"]] != [{}] * 3:
            assert time.monotonic() < deadline, env.status()["notes"]
            time.sleep(1)
    failed = [a for a in load.answers if a.status != 200]
    print(f"{service}'s tasks replaced: {len(load.answers)} requests, {len(failed)} failed")
    assert load.answers and not failed, f"tasks replaced: {len(failed)} failed: {failed[:3]}"
    assert not {task.id for task in swarm.tasks(service) if task.state == "running"} & old


def kill_a_node_under_load(
    env: StackEnv, name: str, net: str, port: str, client: docker.DockerClient, newer: str
) -> None:
    """The same for a worker killed as a power loss would (engine, containerd, shims and
    containers SIGKILLed at once); while it is away a third release is deployed on the other
    colour and promoted with --stop-old (under the same load), and maintenance turned on. It
    rejoins when its engine starts again and serves again without a `switcher up`: its lb on
    the colour made live meanwhile (it follows the committed switch, lb-follow, though its node
    lacks that release's static files: its own colour has no task left), and on the maintenance
    page from its first answer (the commit is taken before nginx starts)."""
    idle = "green" if env.status()["live"] == "blue" else "blue"
    third = release_with_files(client, newer, f"{newer}-3", {"press/third.txt": "deployed while a node is away\n"})
    for image in ("lb", "db", "memcached", "broker", "acme"):
        client.images.get(f"switcher/{image}:{newer}").tag(f"switcher/{image}", third)
    returning = ReturningLb(net, port)
    try:
        ok(env.switcher("push", third, "--env", env.name, timeout=900))

        def deploy_while_away() -> None:
            def ready() -> bool:
                tasks = env.status()["services"][f"app-{idle}"]["tasks"]
                return sum(1 for t in tasks if t["state"] == "running") >= 2

            wait_until(ready, 120, f"app-{idle} back to its tasks on the nodes left")
            deployed = ok(env.switcher("deploy", third, "--promote", "--stop-old", "--env", env.name, timeout=900))
            assert "on 2 lbs" in deployed.stderr, deployed.stderr[-500:]
            status = env.status()
            [away] = [n["hostname"] for n in status["nodes"] if n["state"] != "ready"]
            print(f"lb tasks listed while {away} is away: {[t['node'] for t in status['services']['lb']['tasks']]}")
            result = ok(env.switcher("maintenance", "on", "--message", "Node away", "--env", env.name))
            assert f"the lb on {away} cannot be reached now: it takes maintenance on" in result.stderr, result.stderr
            for k in {1, 2, 3} - {int(away[1:])}:
                page = requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10)
                assert page.status_code == 503 and "Node away" in page.text, (k, page.status_code)
            returning.watch(int(away[1:]))

        try:
            loss = kill_node(env, name, net, port, while_away=deploy_while_away)
            check_node_loss(env, loss, "killed", net, port, idle)  # every lb on it, none set by `up`
        finally:
            pages = returning.stop()
        shown = sorted({status for status, _ in pages})
        print(f"the returning lb n{returning.victim} answered / {len(pages)} times: {shown}")
        assert pages and all(status == 503 and "Node away" in text for status, text in pages), shown
        status = env.status()
        assert status["maintenance"] is True and all(lb["maintenance"] for lb in status["lbs"]), status["lbs"]
        assert status["services"][f"app-{other_color(idle)}"]["replicas"] == 0, "--stop-old"

        def has_static_files(k: int) -> bool:  # of the third release, in node k's lb
            lb = f"label=com.docker.swarm.service.name={env.project}_lb"
            [container] = node(name, k, "ps", "-q", "--filter", lb).stdout.split()
            marker = f"/srv/static/.releases/{third}.json"
            return node(name, k, "exec", container, "test", "-f", marker).returncode == 0

        # the returning lb is on the live colour (above) without its release's static files
        files = {k: has_static_files(k) for k in (1, 2, 3)}
        assert files == {k: k != returning.victim for k in (1, 2, 3)}, files
        ok(env.switcher("maintenance", "off", "--env", env.name))
        answers = [requests.get(f"https://{net}.1{k}:{port}/", verify=False, timeout=10) for k in (1, 2, 3)]
        assert [(a.status_code, a.headers.get("X-Release")) for a in answers] == [(200, third)] * 3
    finally:
        remove_release(client, third)


class ReturningLb:
    """GET / from one node's lb over new connections, 5 times a second (at most 10 min), from
    `watch` until `stop`: every answer it gave (connections refused while it is away are not
    answers)."""

    def __init__(self, net: str, port: str) -> None:
        self.net, self.port, self.victim = net, port, 0
        self.pages: list[tuple[int, str]] = []
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def watch(self, victim: int) -> None:
        self.victim = victim
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        deadline = time.monotonic() + 600
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                page = requests.get(f"https://{self.net}.1{self.victim}:{self.port}/", verify=False, timeout=2)
                self.pages.append((page.status_code, page.text))
            except requests.RequestException:
                pass
            self.done.wait(0.2)

    def stop(self) -> list[tuple[int, str]]:
        self.done.set()
        if self.thread is not None:
            self.thread.join(10)
        return self.pages


def check_node_loss(env: StackEnv, loss: NodeLoss, how: str, net: str, port: str, live: str) -> None:
    print(f"node n{loss.victim} {how}: {len(loss.answers)} requests, {len(loss.failed)} failed, "
          f"{len(loss.in_flight)} in flight at the loss, {len([a for a in loss.failed if a.started > loss.cut])} "
          f"failed that started after it, {len(loss.delayed)} delayed over 1 s, recovered "
          f"{loss.recovered:.1f} s after it, full replicas after {loss.rescheduled:.1f} s")  # fmt: skip
    bad = [(round(a.started - loss.cut, 1), round(a.finished - a.started, 2), a.status, a.error[:80])
           for a in loss.after if a.status != 200 or a.finished - a.started > 1.5]  # fmt: skip
    # #11's rule: failed requests no more than those in flight on the lost node, and all
    # succeed again within 10 s. (Usually none started after the loss fails; one run in five
    # here saw a few started within 0.6 s of a kill get 502/504 after nginx's 1 s connect
    # timeout: docs/cluster.md.)
    assert len(loss.failed) <= len(loss.in_flight), f"{len(loss.failed)} failed: {bad[:5]}"
    late = [a for a in loss.failed if a.started > loss.cut + 10]
    assert not late, f"requests failed more than 10 s after the loss: {bad[-5:]}"
    # Every request after the loss succeeded (above); none hangs: a gone task costs nginx's 1 s
    # connect timeout, then the next task answers. (Up to ~2.5 s was seen here once, for every
    # request at the moment the manager declared the node down: docs/cluster.md.)
    slowest = max([a.finished - a.started for a in loss.after] or [0.0])
    assert slowest < 5, f"a request after the loss took {slowest:.1f} s: {bad[-5:]}"
    assert loss.victim_state == "down"
    wait_every_lb_back(env, net, port, live)
