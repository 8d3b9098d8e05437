"""A cluster's lb tasks: each one reached through its node's engine, what each reads (live
colour, maintenance, the app tasks its node's DNS lists), and the repair of a node's service
discovery after it lost its link (`switcher up`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from switcher.cluster_status import LbView, services_unseen, unseen_notes, unseen_tasks
from switcher.errors import SwitcherError
from switcher.swarm import Node, Swarm, Task, until
from switcher.switch import LbContainer

APP_SERVICES = ("app-blue", "app-green")
# In SHARED_DIR/PROJECT/lb (every lb node's, root's): "COLOUR GENERATION RELEASE", the live
# colour the last finished promote, rollback or up committed; each lb's lb-follow takes a newer
# one once its node has the release's static files.
COMMITTED = "/var/lib/switcher/committed/live"
# Beside it, root's alone (it holds the bypass token): "on GENERATION", the state's JSON line and
# the page, or "off GENERATION"; the maintenance the last `maintenance on/off` set (lb-follow).
COMMITTED_MAINTENANCE = "/var/lib/switcher/committed/maintenance"


def commit_live(lbs: Sequence[LbContainer], color: str, release: str, report: Callable[[str], None]) -> None:
    """`color` (running `release`) committed as the live colour, so that an lb that missed the
    switch (its node away) follows it once back (nginx/lb-follow.sh; the generation is this
    host's clock in ns, later than any earlier commit). Said, not fatal, when it cannot be
    written: `switcher up` puts every lb on the live colour as well."""
    why = write_committed(lbs, COMMITTED, f"{color} {time.time_ns()} {release}\n")
    if why is not None:
        report(f"note: the live colour could not be committed for lbs that are away ({why}); `switcher up` sets them")


def commit_maintenance(lbs: Sequence[LbContainer], page: str, state: str | None, generation: int) -> str | None:
    """Maintenance on (`state`, `page`) or off (None) committed at `generation`, so that an lb
    that missed it (its node away) takes it when back, before it serves (nginx/lb-follow.sh),
    for root alone. None when done, else why not."""
    content = f"on {generation}\n{state}\n{page}" if state is not None else f"off {generation}\n"
    return write_committed(lbs, COMMITTED_MAINTENANCE, content, private=True)


def write_committed(lbs: Sequence[LbContainer], path: str, content: str, private: bool = False) -> str | None:
    """`content` into `path` on the shared storage every lb mounts, through the first lb task
    that can write it: None when done, else why none could."""
    why = "no lb task runs"
    for lb in lbs:
        try:
            code, output = lb.docker.write_file(lb.container, path, content, private=private)
        except SwitcherError as error:
            code, output = 1, str(error)
        if code == 0:
            return None
        why = output.strip()[:160]
    return why


def read_lbs(lbs: list[tuple[Node, LbContainer]], running: dict[str, set[str]] | None = None) -> list[LbView]:
    """Each lb's live flag and maintenance state, read side by side; with `running` (each app
    colour's running task addresses), which of those tasks its DNS does not list."""

    def read(pair: tuple[Node, LbContainer]) -> LbView:
        node, lb = pair
        try:
            live = lb.live()
            maintenance = lb.in_maintenance()
            resolved = {service: lb.resolves(service) for service in running or {}}
        except SwitcherError:
            live, maintenance, resolved = None, False, {}
        return LbView(node.hostname, node.address, live, maintenance, unseen_tasks(running or {}, resolved))

    if not lbs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(lbs), 16)) as pool:
        return sorted(pool.map(read, lbs), key=lambda view: view.node)


def running_addresses(tasks: list[Task]) -> dict[str, set[str]]:
    """Each app colour's running tasks' addresses (a colour with none: left out)."""
    out: dict[str, set[str]] = {}
    for task in tasks:
        if task.service in APP_SERVICES and task.state == "running" and task.addresses:
            out.setdefault(task.service, set()).update(task.addresses)
    return out


class LbTasks:
    """The running lb tasks of one environment's stack."""

    def __init__(self, swarm: Swarm, report: Callable[[str], None]) -> None:
        self.swarm, self.report = swarm, report

    def running(
        self, nodes: list[Node] | None = None, tasks: list[Task] | None = None, ready: bool = False
    ) -> list[tuple[Node, LbContainer]]:
        """Every running lb task with its node, reached through that node's engine (`nodes` and
        `tasks`: as the caller read them already; `ready`: only those on nodes the manager
        calls ready, which can be reached to switch them)."""
        by_id = {node.id: node for node in (self.swarm.nodes() if nodes is None else nodes)}
        found = []
        for task in self.swarm.tasks("lb") if tasks is None else tasks:
            node = by_id.get(task.node_id)
            if node is None or (ready and node.state != "ready"):
                continue
            if task.service == "lb" and task.state == "running" and task.container_id:
                lb = LbContainer(self.swarm.engine(node), task.container_id, f"the lb on {node.hostname}")
                found.append((node, lb))
        return found

    def views(
        self, nodes: list[Node] | None = None, tasks: list[Task] | None = None
    ) -> tuple[list[LbView], dict[str, set[str]]]:
        """What every lb reads, and each app colour's running task addresses they were compared
        with (`nodes` and `tasks`: as the caller read them already)."""
        tasks = self.swarm.tasks() if tasks is None else tasks
        running = running_addresses(tasks)
        return read_lbs(self.running(nodes, tasks), running), running

    def republish_unseen(self, timeout: float) -> None:
        """Docker's service discovery on a node that was cut off and came back can lack tasks that
        ran elsewhere all along (moby #53141): its lb then spreads over fewer tasks, and none is
        left when those fail. New tasks are announced to every node: replace the tasks of each
        colour some lb does not see (one at a time, each new one healthy before the old stops),
        then wait until every lb sees every task."""
        services = services_unseen(self.views()[0])
        for service in services:
            old = {task.id for task in self.swarm.tasks(service)}
            self.report(f"an lb does not see every task of {service}: replacing its tasks one at a time")
            self.swarm.replace_tasks(service)
            self.swarm.wait_replaced(service, old, timeout)
        if services:
            until(self._unseen, 30)
        else:
            self.report("  every lb sees every running task of app-blue and app-green")

    def _unseen(self) -> str:
        views, running = self.views()
        return "; ".join(unseen_notes(views, running))
