"""deploy, promote, rollback, maintenance and cron on a Swarm (ENGINE=swarm): the first four
are the steps every engine runs (deployment.py, promotion.py, maintenance_mode.py), here over
swarm_engine.py; cron's stop and start are the cluster's own (the service scaled).

On a cluster the colour made idle by a promote keeps running (warm, for an instant rollback)
and the lbs route by the same flag file as on one host, one per lb node, flipped through each
node's engine.
"""

from __future__ import annotations

import time

from switcher import history
from switcher.cluster_stack import ClusterStack
from switcher.config import parse_networks
from switcher.deployment import Deployment
from switcher.errors import ConfigError
from switcher.maintenance_mode import set_maintenance
from switcher.plans import Options
from switcher.promotion import Promotion
from switcher.swarm_engine import SwarmEngine


def _refuse_unbuilt(options: Options) -> None:
    if options.maintenance or options.stop_old:
        option = "--maintenance" if options.maintenance else "--stop-old"
        raise ConfigError(f"{option} is not built for a cluster yet (issue #11); nothing was changed")


class ClusterCutover:
    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm, self.env, self.store = stack, stack.swarm, stack.env, stack.store
        self.report = stack.report
        self.engine = SwarmEngine(stack)
        self.promotion = Promotion(self.engine)

    def record(self, action: str, started: float, outcome: str, **fields: object) -> None:
        history.record(self.store, self.env.name, action, started, outcome, **fields)

    # -- deploy, promote and rollback: the same steps on every engine ------------------------
    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        _refuse_unbuilt(options)
        Deployment(self.engine).deploy(release, options, dry_run, then_promote)

    def promote(self, target: str | None, options: Options, dry_run: bool) -> None:
        _refuse_unbuilt(options)
        self.promotion.promote(target, options, dry_run)

    def rollback(self, options: Options, dry_run: bool) -> None:
        _refuse_unbuilt(options)
        self.promotion.rollback(options, dry_run)

    # -- maintenance: the same on every engine (maintenance_mode.py) ----------------------------
    def maintenance(self, on: bool, message: str | None, retry_after: int, allow: list[str]) -> None:
        networks = parse_networks(allow, "--allow")  # before anything changes
        set_maintenance(self.engine, on, self.maintenance_token(), message, retry_after, networks)

    def maintenance_token(self) -> str:
        return self.stack.credentials()["MAINTENANCE_TOKEN"]

    # -- cron ---------------------------------------------------------------------------------
    def cron(self, action: str) -> dict:
        """stop: no cron task (a running job gets CRON_STOP_TIMEOUT to finish), kept so across
        promotes; start: one task of the live release; status."""
        if action in ("stop", "start"):
            started = time.monotonic()
            with self.engine.locked(f"cron {action}"):
                live_release = self.engine.color(self.engine.routing().required()).release or ""  # under the lock
                self.stack.set_cron_stopped(action == "stop")
                if action == "stop":
                    self.report("stopping cron; a running job may finish first")
                self.stack.deploy(self.engine.releases(cron=live_release))
                if action == "stop":
                    self.swarm.wait_stopped("cron", int(self.env.settings["CRON_STOP_TIMEOUT"]) + 30)
                else:
                    self.swarm.wait_release("cron", live_release, 120)
                self.record("cron", started, "ok", state=action, release=live_release)
        services = self.swarm.services()
        running = [task for task in self.swarm.tasks("cron") if task.state == "running"]
        return {
            "state": "running" if running else "stopped",
            "release": services["cron"].release if "cron" in services else None,
            "stopped_by_operator": self.stack.cron_stopped(),
            "live_release": self.engine.color(self.engine.routing().required()).release,
        }
