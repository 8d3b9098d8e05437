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


def me(command: str) -> Holder:
    pid = os.getpid()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Holder(
        user=user,
        host=socket.gethostname(),
        pid=pid,
        started=process_start(pid) or "",
        command=command,
        since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


class EnvironmentLock:
    """`with EnvironmentLock(docker, project, image, "promote green", report):` …"""

    def __init__(self, docker: Docker, project: str, image: str, command: str, report) -> None:
        self.docker, self.project, self.image, self.report = docker, project, image, report
        self.holder = me(command)
        self.name = f"{project}-switcher-lock"

    def __enter__(self) -> EnvironmentLock:
        labels = self.holder.labels(self.project)
        if self.docker.create_marker(self.name, self.image, labels):
            return self
        current = self.docker.marker_labels(self.name)
        if current is None:  # released between our two calls
            if self.docker.create_marker(self.name, self.image, labels):
                return self
            current = self.docker.marker_labels(self.name) or {}
        holder = Holder.from_labels(current)
        if not is_stale(holder, self.holder.host):
            raise LockHeld(
                f"{self.project} is locked by {holder.describe()}; if that switcher is gone, `switcher unlock`"
            )
        self.report(f"taking over a stale lock: {holder.describe()} did not finish (that process is gone)")
        self.docker.remove_marker(self.name)
        if not self.docker.create_marker(self.name, self.image, labels):
            raise LockHeld(f"{self.project} was locked by another switcher just now; try again")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.docker.remove_marker(self.name)


def read_lock(docker: Docker, project: str) -> Holder | None:
    labels = docker.marker_labels(f"{project}-switcher-lock")
    return None if labels is None else Holder.from_labels(labels)


def break_lock(docker: Docker, project: str) -> Holder | None:
    holder = read_lock(docker, project)
    if holder is not None:
        docker.remove_marker(f"{project}-switcher-lock")
    return holder
