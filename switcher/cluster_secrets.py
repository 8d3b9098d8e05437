"""`switcher secrets rotate NAME` on a Swarm (ENGINE=swarm): the same rules as on one host
(chores.py). A new value is stored in the environment's store on the manager's engine and
applied: the maintenance token on every lb that shows the page; the database passwords in the
db task (`db-roles`); the site's password, Django's secret key and the broker's password in the
services that use them (both colours, cron, the workers and beat, and for the broker's password
the broker: a `docker stack deploy` that replaces their tasks), only while every lb shows the
maintenance page, because old and new tasks cannot both work meanwhile. The broker's queue stays
in its volume (append-only file) across its replacement."""

from __future__ import annotations

import time

from switcher import history
from switcher.cluster_stack import ClusterStack
from switcher.config import COLORS
from switcher.credentials import CLUSTER_ONLY, RECREATES, ROTATABLE, refuse_rotating_live, rotate
from switcher.engine import require_every_lb
from switcher.maintenance import MaintenanceSwitch
from switcher.maintenance_mode import apply_maintenance
from switcher.swarm_engine import SwarmEngine

SITE_SERVICES = (*(f"app-{color}" for color in COLORS), "cron", "worker", "beat")


class ClusterSecrets:
    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm, self.env, self.report = stack, stack.swarm, stack.env, stack.report
        self.engine = SwarmEngine(stack)

    def rotate(self, name: str) -> list[str]:
        """A new value for one secret, stored and applied; what was done."""
        key = ROTATABLE[name]
        replaces = key in RECREATES or key in CLUSTER_ONLY
        started = time.monotonic()
        with self.engine.locked(f"secrets rotate {name}"):
            if key == "MAINTENANCE_TOKEN" or replaces:  # held by, or checked on, every lb
                require_every_lb(self.engine, f"rotating {name}")
            states = [MaintenanceSwitch(lb.docker, lb.container).read() for lb in self.engine.lbs()]
            if replaces and (not states or None in states):
                raise refuse_rotating_live(name)
            values = rotate(self.stack.store, self.env.name, key)
            done = ["stored a new value"]
            shown = [state for state in states if state is not None]
            if key == "MAINTENANCE_TOKEN" and shown:
                state = shown[0]
                allow = state.get("allow") or []
                apply_maintenance(
                    self.engine, True, values[key], state.get("message"), state.get("retry_after") or 300, allow
                )
                done.append("maintenance mode now takes the new token on every lb")
            if key in ("DB_PASSWORD", "DB_SUPERUSER_PASSWORD"):
                self.stack.apply_roles(values)
                done.append("set it in the database")
            if replaces:
                done += self._replace_site_tasks(broker=key == "BROKER_PASSWORD")
            history.record(self.stack.store, self.env.name, "secrets", started, "ok", secret=name, done=done)
        return done

    def _replace_site_tasks(self, broker: bool) -> list[str]:
        """The stack deployed again with the new value: every running task of both colours, cron,
        the workers and beat (and the `broker`'s) replaced (the colours one at a time, each new
        one healthy first), waited for."""
        services = (*SITE_SERVICES, "broker") if broker else SITE_SERVICES
        running: dict[str, set[str]] = {service: set() for service in services}
        for task in self.swarm.tasks():
            if task.service in running and task.state == "running":
                running[task.service].add(task.id)
        self.report("replacing the site's tasks with the new value (both colours, cron and any workers)")
        self.stack.deploy(self.engine.releases())
        timeout = float(self.env.settings["HEALTH_TIMEOUT"]) * 2
        done = []
        for service, old in running.items():
            if not old:
                if service not in ("worker", "beat", "broker"):  # only where the Procfile declares them
                    done.append(f"{service} runs no task: it gets the new value when it starts")
                continue
            self.swarm.wait_replaced(service, old, timeout)
            done.append(f"replaced the tasks of {service}")
        return done
