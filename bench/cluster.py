"""Benchmark for issue #11's design: what one switch of every lb costs on a three-node cluster.

On one host, promote flips the lb's flag file with one `docker exec` and reads it back. The
candidate for a cluster is the same flip in the lb task of every node, through each node's own
engine, all at once, then each read back (promote must know that every lb took it). Measured
here on the three-engine cluster of cluster/cluster.sh (a container of the lb image per node,
started through the node's engine) against the same flip on this machine's engine, interleaved,
in the same process: wall time of flip + read-back, median and worst of ROUNDS.

    python -m bench.cluster      (root; RELEASE names the images; starts and removes its cluster)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from bench.tables import table

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


def _switch_all(containers: list, pool: ThreadPoolExecutor, green: bool) -> float:
    started = time.monotonic()
    list(pool.map(lambda c: _flip(c, green), containers))
    took = list(pool.map(lambda c: _took(c, green), containers))
    elapsed = time.monotonic() - started
    assert all(took), "an lb did not take the switch"
    return elapsed


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
        times: dict[str, list[float]] = {"one engine (this machine)": [], "three nodes, each through its engine": []}
        with ThreadPoolExecutor(max_workers=3) as pool:
            for round_ in range(rounds):
                green = round_ % 2 == 0
                times["one engine (this machine)"].append(_switch_all(single, pool, green))
                times["three nodes, each through its engine"].append(_switch_all(cluster, pool, green))
        baseline = statistics.median(times["one engine (this machine)"])
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


if __name__ == "__main__":
    print(bench_cluster())
