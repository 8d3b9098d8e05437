"""One mutation at a time per environment.

The lock is a Docker object, a created (never started) container named PROJECT-switcher-lock:
creating a container with a taken name fails atomically, so two switchers cannot both hold it,
and every operator of the same Docker daemon sees who holds it (its labels). A lock whose
holder process is gone (same host, pid no longer running with the same start time) is stale:
the next switcher takes it over and says so; one held elsewhere is broken only deliberately
(`switcher unlock`).
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from switcher.errors import LockHeld
from switcher.runtime import Docker

LOCK_LABEL = "io.switcher.lock"


@dataclass(frozen=True)
class Holder:
    user: str
    host: str
    pid: int
    started: str  # the process's start time in clock ticks since boot, to tell pid reuse
    command: str
    since: str

    def labels(self, project: str) -> dict[str, str]:
        return {
            LOCK_LABEL: project,
            "io.switcher.project": project,
            "io.switcher.lock.user": self.user,
            "io.switcher.lock.host": self.host,
            "io.switcher.lock.pid": str(self.pid),
            "io.switcher.lock.started": self.started,
            "io.switcher.lock.command": self.command,
            "io.switcher.lock.since": self.since,
        }

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> Holder:
        return cls(
            user=labels.get("io.switcher.lock.user", "?"),
            host=labels.get("io.switcher.lock.host", "?"),
            pid=int(labels.get("io.switcher.lock.pid", "0") or 0),
            started=labels.get("io.switcher.lock.started", ""),
            command=labels.get("io.switcher.lock.command", "?"),
            since=labels.get("io.switcher.lock.since", "?"),
        )

    def describe(self) -> str:
        return f"`{self.command}` by {self.user}@{self.host} (pid {self.pid}) since {self.since}"


def process_start(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, or None when no such process runs here."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def is_stale(holder: Holder, this_host: str) -> bool:
    """Only a holder on this host can be known dead; elsewhere we cannot tell."""
    return holder.host == this_host and process_start(holder.pid) != holder.started


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def me(command: str) -> Holder:
    pid = os.getpid()
    return Holder(
        user=current_user(),
        host=socket.gethostname(),
        pid=pid,
        started=process_start(pid) or "",
        command=command,
        since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


class EnvironmentLock:
    """`with EnvironmentLock(docker, project, "promote green", report):` …

    Everything is done by container id, never by name: a stale lock is removed as the very
    container that was judged stale (so two switchers taking over the same stale lock cannot
    both win: the second one's removal finds it gone and its creation finds the first one's
    lock), and leaving removes our own lock, never one that replaced it after an unlock.
    """

    def __init__(self, docker: Docker, project: str, command: str, report) -> None:
        self.docker, self.project, self.report = docker, project, report
        self.holder = me(command)
        self.name = lock_name(project)
        self.id: str | None = None

    def __enter__(self) -> EnvironmentLock:
        labels = self.holder.labels(self.project)
        for _ in range(3):
            self.id = self.docker.create_marker(self.name, labels)
            if self.id is not None:
                return self
            current = self.docker.marker(self.name)
            if current is None:
                continue  # released between our two calls
            stale_id, stale_labels = current
            holder = Holder.from_labels(stale_labels)
            if not is_stale(holder, self.holder.host):
                raise LockHeld(
                    f"{self.project} is locked by {holder.describe()}; if that switcher is gone, `switcher unlock`"
                )
            if self.docker.remove_container_id(stale_id):
                self.report(f"took over a stale lock: {holder.describe()} did not finish (that process is gone)")
            # Gone already means another switcher removed it first; either way, try to create ours.
        raise LockHeld(f"{self.project} was locked by another switcher just now; try again")

    def __exit__(self, *exc_info: object) -> None:
        if self.id is not None:
            self.docker.remove_container_id(self.id)


def lock_name(project: str) -> str:
    return f"{project}-switcher-lock"


def read_lock(docker: Docker, project: str) -> Holder | None:
    found = docker.marker(lock_name(project))
    return None if found is None else Holder.from_labels(found[1])


def break_lock(docker: Docker, project: str) -> Holder | None:
    found = docker.marker(lock_name(project))
    if found is None:
        return None
    docker.remove_container_id(found[0])
    return Holder.from_labels(found[1])
