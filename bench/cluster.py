"""Benchmark for issue #11's design: what one switch of every lb costs on a three-node cluster.

On one host, promote flips the lb's flag file with one `docker exec` and reads it back. The
candidate for a cluster is the same flip in the lb task of every node, through each node's own
engine, all at once, then each read back (promote must know that every lb took it). Measured
here on the three-engine cluster of cluster/cluster.sh (a container of the lb image per node,
started through the node's engine) against the same flip on this machine's engine, interleaved,
in the same process: wall time of flip + read-back, median and worst of ROUNDS.

    python -m bench.cluster      (root; RELEASE names the images; starts and removes its clusters)

`bench_cluster_stack` measures the stack itself: promote on three nodes against promote on one
host under the same load, throughput through 1-3 nodes' lbs, and recovery from a lost node.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import urllib3

from bench.switch import Run, report, summarize
from bench.tables import table
from switcher.runtime import Docker
from switcher.switch import LbContainer, switch_all
from tests.integration.clusterload import NodeLoss, cut_off_node, kill_node, wait_every_lb_back
from tests.integration.load import Load
from tests.integration.stackenv import StackEnv, derived_release, remove_release

ROOT = Path(__file__).resolve().parent.parent
RELEASE = os.environ.get("RELEASE", "dev")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
FLAG = "/var/lib/switcher/live/green"


def _flip(container, green: bool) -> None:
    command = f"touch {FLAG}" if green else f"rm -f {FLAG}"
    result = container.exec_run(["sh", "-c", command])
    assert result.exit_code == 0, result.output


def _took(container, green: bool) -> bool:
    return (container.exec_run(["test", "-f", FLAG]).exit_code == 0) == green


def _two_execs(containers: list, pool: ThreadPoolExecutor, green: bool) -> float:
    """The flip as it was until 2026-12-06: every lb flipped, then every lb read back (two
    execs each, through the SDK's exec_run, which inspects the container first)."""
    started = time.monotonic()
    list(pool.map(lambda c: _flip(c, green), containers))
    took = list(pool.map(lambda c: _took(c, green), containers))
    elapsed = time.monotonic() - started
    assert all(took), "an lb did not take the switch"
    return elapsed


def _switcher(lbs: list[LbContainer], green: bool) -> float:
    """The flip as promote runs it now: switch_all, one exec per lb that sets and reads back."""
    started = time.monotonic()
    switch_all(lbs, "green" if green else "blue", "blue" if green else "green")
    return time.monotonic() - started


def _lb_container(client: docker.DockerClient, image: str, name: str):
    return client.containers.run(
        image, ["sleep", "600"], entrypoint=[], name=name, detach=True, network_mode="none",
        tmpfs={"/var/lib/switcher/live": ""}, labels={"io.switcher.bench": "cluster"},
    )  # fmt: skip


def bench_cluster(release: str = RELEASE, rounds: int = ROUNDS) -> str:
    name, net = f"b{uuid.uuid4().hex[:5]}", os.environ.get("CLUSTER_NET", "10.231.251")
    env = {**os.environ, "CLUSTER_NET": net, "BASE_IMAGE": f"switcher/base:{release}"}
    script = str(ROOT / "cluster" / "cluster.sh")
    subprocess.run([script, "up", name], env=env, check=True, capture_output=True, timeout=300)
    host = docker.from_env()
    containers: list = []
    try:
        local, remote = f"switcher/lb:{release}", f"{net}.1:5000/switcher/lb:{release}"
        host.images.get(local).tag(remote)
        host.images.push(remote)
        host.images.remove(remote, noprune=True)
        nodes = [docker.DockerClient(base_url=f"unix:///run/switcher-cluster/{name}/n{k}.sock") for k in (1, 2, 3)]
        for client in nodes:
            client.images.pull(remote)
        cluster = [_lb_container(client, remote, f"bench-lb-{k}") for k, client in enumerate(nodes, 1)]
        single = [_lb_container(host, local, f"bench-lb-host-{name}")]
        containers = [*cluster, *single]
        engines = [Docker(base_url=f"unix:///run/switcher-cluster/{name}/n{k}.sock") for k in (1, 2, 3)]
        lbs = [
            LbContainer(engine, c.id, f"lb on n{k}")
            for k, (engine, c) in enumerate(zip(engines, cluster, strict=True), 1)
        ]
        one_lb = [LbContainer(Docker(), single[0].id, "lb here")]
        rows_named = (
            "one engine (this machine), switch_all",
            "three nodes, switch_all (one exec per lb)",
            "three nodes, flip then read back (two execs per lb, before 2026-12-06)",
        )
        times: dict[str, list[float]] = {label: [] for label in rows_named}
        with ThreadPoolExecutor(max_workers=3) as pool:
            for round_ in range(rounds):
                green = round_ % 2 == 0
                times[rows_named[0]].append(_switcher(one_lb, green))
                times[rows_named[1]].append(_switcher(lbs, green))
                times[rows_named[2]].append(_two_execs(cluster, pool, not green))
        baseline = statistics.median(times[rows_named[0]])
        rows = [
            [
                label,
                f"{1000 * statistics.median(values):.0f}",
                f"{1000 * max(values):.0f}",
                f"{statistics.median(values) / baseline:.2f}",
            ]
            for label, values in times.items()
        ]
        return f"Flip the live flag in every lb and read each back ({rounds} rounds, interleaved):\n\n" + table(
            ["where", "median ms", "worst ms", "ratio"], rows
        )
    finally:
        for container in containers:
            container.remove(force=True)
        subprocess.run([script, "down", name], env=env, check=False, capture_output=True, timeout=300)


def _spread(urls: list[str], verify: str | bool, clients: int, seconds: float) -> list[Load]:
    """`clients` keep-alive clients spread as evenly as can be over `urls`."""
    counts = [clients // len(urls) + (1 if k < clients % len(urls) else 0) for k in range(len(urls))]
    return [Load(url, verify, n, True, max_seconds=seconds) for url, n in zip(urls, counts, strict=True)]


def _promote_run(env: StackEnv, urls: list[str], verify: str | bool, clients: int) -> tuple[Run, float]:
    """One `switcher promote` under `clients` keep-alive clients spread over `urls`: the Run of
    bench.switch (failed, longest gap, p99 in the switch window, wall time) and the flip of
    every lb with its read-back as switch_all reports it (ms)."""
    loads = _spread(urls, verify, clients, 120)
    for load in loads:
        load.__enter__()
    try:
        time.sleep(3)
        started = time.monotonic()
        result = env.switcher("promote", "--env", env.name)
        ended = time.monotonic()
        assert result.returncode == 0, result.stderr
        time.sleep(1.5)
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    flip = re.search(r"switched to \w+ and read back in (\d+) ms", result.stderr)
    answers = [a for load in loads for a in load.answers]
    return summarize(answers, started, ended), float(flip.group(1) if flip else "nan")


def _throughput(urls: list[str], seconds: float = 8, clients: int = 16) -> float:
    loads = _spread(urls, False, clients, seconds)
    for load in loads:
        load.__enter__()
    time.sleep(seconds)
    for load in loads:
        load.__exit__(None, None, None)
    ok = sum(1 for load in loads for a in load.answers if a.status == 200)
    return ok / seconds


LOSS_COLUMNS = [
    "how", "failed / requests", "in flight at the loss", "started after, over 1 s", "last of those s",
    "slowest after ms", "full replicas s",
]  # fmt: skip


def _loss_row(how: str, loss: NodeLoss) -> list[str]:
    last = max([a.started - loss.cut for a in loss.delayed] or [0])
    slowest = max([a.finished - a.started for a in loss.after] or [0])
    return [
        f"n{loss.victim} {how}",
        f"{len(loss.failed)} / {len(loss.answers)}",
        str(len(loss.in_flight)),
        str(len(loss.delayed)),
        f"{last:.1f}",
        f"{slowest * 1000:.0f}",
        f"{loss.rescheduled:.1f}",
    ]


def bench_cluster_stack(release: str = RELEASE, rounds: int = 4) -> str:
    """Promote on three nodes against promote on one host, same load, same process; throughput
    through 1, 2 and 3 nodes' lbs; recovery from a node cut off and from a node killed."""
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    name, net = f"b{uuid.uuid4().hex[:5]}", os.environ.get("CLUSTER_NET", "10.231.252")
    env_vars = {**os.environ, "CLUSTER_NET": net, "BASE_IMAGE": f"switcher/base:{release}"}
    script = str(ROOT / "cluster" / "cluster.sh")
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    newer = derived_release(client, release, f"{release}-bench-cl")
    single = StackEnv.create(work / "single", release, client)
    hosts = ",".join(["localhost", "127.0.0.1", *(f"{net}.1{k}" for k in (1, 2, 3))])
    cluster = StackEnv.create(
        work / "cluster", release, client, ENGINE="swarm", SWARM_MANAGER=f"unix:///run/switcher-cluster/{name}/n1.sock",
        REGISTRY=f"{net}.1:5000", SITE_HOSTS=hosts,
    )  # fmt: skip
    port = cluster.settings["HTTPS_PORT"]
    nodes = [f"https://{net}.1{k}:{port}/healthz" for k in (1, 2, 3)]
    try:
        subprocess.run([script, "up", name], env=env_vars, check=True, capture_output=True, timeout=300)
        for image in ("lb", "db", "memcached", "broker", "acme"):
            client.images.get(f"switcher/{image}:{release}").tag(f"switcher/{image}", newer)
        for env in (single, cluster):
            if env is cluster:
                for pushed in (release, newer):
                    assert env.switcher("push", pushed, "--env", env.name, timeout=900).returncode == 0
            env.up()
            deployed = env.switcher("deploy", newer, "--env", env.name, timeout=900)
            assert deployed.returncode == 0, deployed.stderr
        runs: dict[str, list[Run]] = {"one host (compose)": [], "three nodes (swarm)": []}
        flips: dict[str, list[float]] = {key: [] for key in runs}
        for _ in range(rounds):  # interleaved, so drift hits both alike
            for key, env, urls, verify in (
                ("one host (compose)", single, [single.live_url + "/healthz"], str(single.cert)),
                ("three nodes (swarm)", cluster, nodes, False),
            ):
                run, flip = _promote_run(env, urls, verify, 16)
                runs[key].append(run)
                flips[key].append(flip)
        flip_rows = [[key, f"{statistics.median(v):.0f}", f"{max(v):.0f}"] for key, v in flips.items()]
        throughput = [(k, _throughput(nodes[:k])) for k in (1, 2, 3)]
        base = throughput[0][1]
        live = cluster.status()["live"]
        cut = cut_off_node(cluster, name, net, port)
        wait_every_lb_back(cluster, net, port, live)
        killed = kill_node(cluster, name, net, port)
        wait_every_lb_back(cluster, net, port, live)
        return (
            f"Promote there and back, {rounds} runs each, interleaved, 16 keep-alive clients on GET /healthz "
            "(one host: its live listener; three nodes: spread over the three nodes' lbs):\n\n"
            + report(runs)
            + "\n\nThe flip of every lb and its read-back (switch_all, as promote reports it):\n\n"
            + table(["where", "median ms", "worst ms"], flip_rows)
            + "\n\nThroughput through 1, 2 and 3 nodes' lbs (16 keep-alive clients, 8 s, GET /healthz; "
            "APP_REPLICAS=2; every node shares this machine's CPUs):\n\n"
            + table(["lbs", "requests/s", "ratio"], [[str(k), f"{v:.0f}", f"{v / base:.2f}"] for k, v in throughput])
            + "\n\nA worker running a live task lost under 12 keep-alive clients on the other two lbs:\n\n"
            + table(LOSS_COLUMNS, [_loss_row("link cut", cut), _loss_row("engine killed", killed)])
        )
    finally:
        for env in (single, cluster):
            env.switcher("down", "--volumes", "--yes", "--env", env.name, timeout=600)
        single.destroy()
        subprocess.run([script, "down", name], env=env_vars, check=False, capture_output=True, timeout=300)
        remove_release(client, newer)


if __name__ == "__main__":
    print(bench_cluster())
    print()
    print(bench_cluster_stack())
