"""Bounded load on every lb of a cluster at once, and a node cut off or killed under it (for the cluster's
tests and bench/cluster.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .load import Answer, Load
from .stackenv import ROOT, StackEnv


class ClusterLoad:
    """The same bounded load on every node's lb at once (or on `nodes` only)."""

    def __init__(
        self, net: str, port: str, keepalive: bool, per_node: int = 6, nodes: tuple[int, ...] = (1, 2, 3)
    ) -> None:
        self.loads = [
            Load(f"https://{net}.1{k}:{port}/healthz", False, per_node, keepalive, max_seconds=240) for k in nodes
        ]

    def __enter__(self) -> ClusterLoad:
        for load in self.loads:
            load.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for load in self.loads:
            load.__exit__(*exc_info)

    @property
    def answers(self):
        return [answer for load in self.loads for answer in load.answers]


@dataclass(frozen=True)
class NodeLoss:
    victim: int
    cutting: float  # time.monotonic() when the link was taken down (the command started)
    cut: float  # and when it was down (the command returned)
    answers: list[Answer]
    rescheduled: float  # seconds until the live colour ran its replicas on the other nodes
    victim_state: str  # what the manager said of the node then

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    @property
    def in_flight(self) -> list[Answer]:
        return [a for a in self.answers if a.started < self.cut and a.finished > self.cutting]

    @property
    def after(self) -> list[Answer]:
        return [a for a in self.answers if a.started > self.cut]

    @property
    def recovered(self) -> float:
        """Seconds after the cut when the last request started that failed or took over 1.5 s
        (more than one try of a task that does not answer: nginx's 1 s connect timeout)."""
        bad = [a.started - self.cut for a in self.after if a.status != 200 or a.finished - a.started > 1.5]
        return max([0.0, *bad])

    @property
    def delayed(self) -> list[Answer]:
        """Requests started after the cut that took over 1 s: sent first to a task that was gone."""
        return [a for a in self.after if a.finished - a.started > 1]


def cut_off_node(env: StackEnv, name: str, net: str, port: str, replicas: int = 2) -> NodeLoss:
    """Take down the link of a worker running a live task, under load, until the live colour
    runs `replicas` tasks on the other nodes; the link is up again when this returns."""

    def link(victim: int, state: str) -> None:
        subprocess.run(["ip", "link", "set", f"swc{name}h{victim}", state], check=state == "down")

    return lose_node(env, net, port, lambda k: link(k, "down"), lambda k: link(k, "up"), replicas)


def kill_node(
    env: StackEnv, name: str, net: str, port: str, replicas: int = 2, while_away: Callable[[], None] | None = None
) -> NodeLoss:
    """Kill a worker running a live task as a power loss would (its engine, containerd, shims
    and containers, SIGKILL at once: cluster.sh kill), under load, until the live colour runs
    `replicas` tasks on the other nodes (then `while_away`); its engine is started again when
    this returns."""
    script = str(ROOT / "cluster" / "cluster.sh")

    def cluster(action: str, victim: int) -> None:
        subprocess.run([script, action, name, str(victim)], check=action == "kill", capture_output=True, timeout=120)

    return lose_node(env, net, port, lambda k: cluster("kill", k), lambda k: cluster("start", k), replicas, while_away)


def lose_node(
    env: StackEnv,
    net: str,
    port: str,
    take_down: Callable[[int], None],
    bring_back: Callable[[int], None],
    replicas: int = 2,
    while_away: Callable[[], None] | None = None,
) -> NodeLoss:
    """A worker running a live task (not n1: the manager and the db) taken down under keep-alive
    load on the other nodes' lbs, until the live colour runs `replicas` tasks on the other
    nodes; then `while_away` (still under that load); brought back before this returns."""
    status = env.status()
    live = status["live"]
    victim = next(int(t["node"][1:]) for t in status["services"][f"app-{live}"]["tasks"] if t["node"] != "n1")
    load = ClusterLoad(net, port, keepalive=True, nodes=tuple(k for k in (1, 2, 3) if k != victim))
    try:
        load.__enter__()
        time.sleep(2)
        cutting = time.monotonic()
        take_down(victim)
        cut = time.monotonic()
        deadline = time.monotonic() + 120
        while True:
            status = env.status()
            tasks = status["services"][f"app-{live}"]["tasks"]
            if sum(1 for t in tasks if t["state"] == "running" and t["node"] != f"n{victim}") >= replicas:
                break
            assert time.monotonic() < deadline, f"app-{live} not back to {replicas} tasks on the other nodes: {tasks}"
            time.sleep(1)
        rescheduled = time.monotonic() - cut
        state = next(n["state"] for n in status["nodes"] if n["hostname"] == f"n{victim}")
        time.sleep(3)
        if while_away is not None:
            while_away()
    finally:
        load.__exit__(None, None, None)
        bring_back(victim)
    return NodeLoss(victim, cutting, cut, load.answers, rescheduled, state)


def wait_every_lb_back(env: StackEnv, net: str, port: str, live: str, timeout: float = 180) -> None:
    """Until every node is ready and every node's lb (a returning node's lb task is replaced by
    Swarm) runs, is on `live` and answers /healthz, three times in a row."""
    deadline, good = time.monotonic() + timeout, 0
    while good < 3:
        status = env.status()
        lbs = {lb["node"]: lb["live"] for lb in status["lbs"]}
        answers = []
        for k in (1, 2, 3):
            try:
                answers.append(requests.get(f"https://{net}.1{k}:{port}/healthz", verify=False, timeout=5).status_code)
            except requests.RequestException:
                answers.append(0)
        nodes = [n["state"] for n in status["nodes"]]
        tasks = [t["state"] for t in status["services"]["lb"]["tasks"]]
        back = nodes == ["ready"] * 3 and tasks == ["running"] * 3 and answers == [200] * 3
        good = good + 1 if back and lbs == {f"n{k}": live for k in (1, 2, 3)} else 0
        assert time.monotonic() < deadline, f"not back: {nodes}, lb tasks {tasks}, {lbs}, {answers}"
        time.sleep(2)
