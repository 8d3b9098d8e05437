"""What a cluster's `docker stack deploy` keeps and changes (pure): each service's release, and
how many tasks each colour runs."""

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
