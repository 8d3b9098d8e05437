"""What `switcher status` shows of a cluster (pure: read by cluster_stack.py, printed by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from switcher.swarm import Node


@dataclass(frozen=True)
class LbView:
    node: str
    address: str
    live: str | None  # the colour its flag says; None: it could not be read
    maintenance: bool = False  # its maintenance state file is there
    # Per app colour: addresses of its running tasks that this lb's DNS does not list.
    unseen: dict[str, list[str]] = field(default_factory=dict)


def unseen_tasks(running: dict[str, set[str]], resolved: dict[str, set[str] | None]) -> dict[str, list[str]]:
    """The addresses of each service's running tasks (`running`) that an lb's DNS did not give
    (`resolved`; None: it could not be asked, so nothing is reported for it)."""
    out = {}
    for service, addresses in running.items():
        seen = resolved.get(service)
        if seen is not None and addresses - seen:
            out[service] = sorted(addresses - seen)
    return out


def services_unseen(lbs: list[LbView]) -> list[str]:
    """The services some lb does not see every running task of."""
    return sorted({service for lb in lbs for service in lb.unseen})


def unseen_notes(lbs: list[LbView], running: dict[str, set[str]]) -> list[str]:
    return [
        f"the lb on {lb.node} does not see {len(missing)} of {service}'s {len(running.get(service, ()))} running "
        f"task(s) ({', '.join(missing)}): Docker's service discovery on {lb.node} lost them (a node cut off and "
        "back: docs/cluster.md); `switcher up` replaces them"
        for lb in lbs
        for service, missing in sorted(lb.unseen.items())
    ]


@dataclass(frozen=True)
class ClusterStatus:
    env: str
    project: str
    nodes: list[Node]
    tasks: dict[str, list[tuple[str, str, str]]]  # service -> (node, state, release)
    replicas: dict[str, int | None]
    lbs: list[LbView]
    https_port: str
    notes: list[str] = field(default_factory=list)

    @property
    def live(self) -> str | None:
        """The colour every lb that could be read routes to; None when none could or they disagree."""
        colors = {lb.live for lb in self.lbs if lb.live is not None}
        return colors.pop() if len(colors) == 1 else None

    @property
    def maintenance(self) -> bool | None:
        """Maintenance on every lb (True), on none (False), or on some only (None)."""
        states = {lb.maintenance for lb in self.lbs}
        return states.pop() if len(states) == 1 else (None if states else False)

    def to_json(self) -> dict:
        return {
            "env": self.env,
            "project": self.project,
            "engine": "swarm",
            "live": self.live,
            "maintenance": self.maintenance,
            "nodes": [
                {
                    "hostname": n.hostname,
                    "role": n.role,
                    "state": n.state,
                    "availability": n.availability,
                    "address": n.address,
                }
                for n in self.nodes
            ],
            "services": {
                name: {
                    "replicas": self.replicas.get(name),
                    "tasks": [{"node": node, "state": state, "release": release} for node, state, release in tasks],
                }
                for name, tasks in self.tasks.items()
            },
            "lbs": [
                {
                    "node": lb.node,
                    "address": lb.address,
                    "live": lb.live,
                    "maintenance": lb.maintenance,
                    "unseen": lb.unseen,
                }
                for lb in self.lbs
            ],
            "notes": list(self.notes),
        }


MAINTENANCE_WORDS = {True: "ON (switcher maintenance off)", False: "off", None: "on some lbs only (run it again)"}


def cluster_lines(status: ClusterStatus) -> list[str]:
    """The cluster's status as text: nodes, where each service's tasks run, every lb's colour."""
    out = [
        f"environment  {status.env} (Swarm stack {status.project})",
        f"live colour  {status.live or 'unknown'} (read from {len(status.lbs)} lb(s))",
        "maintenance  " + MAINTENANCE_WORDS[status.maintenance],
        "nodes",
    ]
    for node in status.nodes:
        out.append(f"  {node.hostname:<16} {node.role:<8} {node.state:<8} {node.availability:<7} {node.address}")
    out.append("services")
    for name in sorted(status.tasks):
        tasks = status.tasks[name]
        wanted = status.replicas.get(name)
        running = sum(1 for _, state, _ in tasks if state == "running")
        count = f"{running}/{wanted}" if wanted is not None else f"{running} (global)"
        where = ", ".join(f"{node} {state} {release}" for node, state, release in tasks) or "-"
        out.append(f"  {name:<10} {count:<12} {where}")
    out.append("lbs")
    for lb in status.lbs:
        mode = " maintenance" if lb.maintenance else ""
        out.append(f"  {lb.node:<16} live {lb.live or 'unknown':<8} https://{lb.address}:{status.https_port}/{mode}")
    out.extend(f"note: {note}" for note in status.notes)
    return out
