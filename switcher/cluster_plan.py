"""What a cluster's `docker stack deploy` keeps and changes (pure): each service's release, and
how many tasks each colour and each process beside the site runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from switcher.compose import Releases
from switcher.config import COLORS
from switcher.swarm import ServiceInfo


def plan_releases(existing: Mapping[str, ServiceInfo], requested: str) -> Releases:
    """Services that exist keep their release (changing it is deploy's job); new ones get the
    requested one."""

    def kept(name: str) -> str | None:
        info = existing.get(name)
        return info.release if info is not None else None

    blue = kept("app-blue") or requested
    return Releases(
        blue=blue,
        green=kept("app-green") or requested,
        stack=kept("lb") or kept("db") or requested,
        cron=kept("cron") or blue,
    )


def color_replicas(existing: Mapping[str, ServiceInfo], app_replicas: str, start: Iterable[str]) -> dict[str, str]:
    """Each colour's task count for the next stack deploy: APP_REPLICAS, except a colour whose
    service runs none (stopped by promote --stop-old or a failed deploy), which stays at none
    unless it is in `start` (deployed to, brought back by a rollback, the live one)."""
    starting = set(start)
    out = {}
    for color in COLORS:
        info = existing.get(f"app-{color}")
        stopped = info is not None and info.replicas == 0
        out[color] = "0" if stopped and color not in starting else app_replicas
    return out


def process_replicas(declared: Iterable[str], cron_stopped: bool, workers: str = "1") -> dict[str, str]:
    """The task counts of the Procfile's processes and their broker: `workers` (WORKER_REPLICAS)
    of the worker and one of the others that the cron release declares (its
    io.switcher.processes label), none of the rest; beat, a scheduler like cron, none while an
    operator keeps cron stopped (the workers keep working)."""
    names = set(declared)
    return {
        "BROKER_REPLICAS": "1" if names & {"worker", "beat"} else "0",
        "WORKER_REPLICAS": workers if "worker" in names else "0",
        "BEAT_REPLICAS": "1" if "beat" in names and not cron_stopped else "0",
    }
