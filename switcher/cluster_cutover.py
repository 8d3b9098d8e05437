"""deploy, promote, rollback, maintenance and cron on a Swarm (ENGINE=swarm): the first four
are the steps every engine runs (deployment.py, promotion.py, maintenance_mode.py), here over
swarm_engine.py; cron's stop and start are the cluster's own (the service scaled).

On a cluster the colour made idle by a promote keeps running (warm, for an instant rollback)
and the lbs route by the same flag file as on one host, one per lb node, flipped through each
node's engine.
"""

from __future__ import annotations

import subprocess
import time

from switcher import history
from switcher.cluster_stack import ClusterStack
from switcher.config import COLORS, other_color, parse_networks
from switcher.deployment import Deployment
from switcher.errors import NotFound
from switcher.maintenance_mode import set_maintenance
from switcher.plans import Options
from switcher.promotion import Promotion
from switcher.registry import remote_reference
from switcher.state import OPTIONAL_SERVICES
from switcher.swarm import ENGINE_LABEL, ServiceInfo, endpoint_url
from switcher.swarm_engine import SwarmEngine
from switcher.swarm_jobs import Jobs

MANAGE_TIMEOUT = 3600  # seconds a `switcher manage` task may run (it is removed when the command ends)


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
        Deployment(self.engine).deploy(release, options, dry_run, then_promote)

    def promote(self, target: str | None, options: Options, dry_run: bool) -> None:
        self.promotion.promote(target, options, dry_run)

    def rollback(self, options: Options, dry_run: bool) -> None:
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
                live_release = self.engine.live_release()  # under the lock
                self.engine.hold_cron(action == "stop", live_release)
                self.record("cron", started, "ok", state=action, release=live_release)
        services = self.swarm.services()
        running = [task for task in self.swarm.tasks("cron") if task.state == "running"]
        return {
            "state": "running" if running else "stopped",
            "release": services["cron"].release if "cron" in services else None,
            "stopped_by_operator": self.stack.cron_stopped(),
            "live_release": self.engine.color(self.engine.routing().required()).release,
        }

    # -- prune --------------------------------------------------------------------------------
    def prune(self, dry_run: bool) -> list[str]:
        """promote's prune step on demand, under the lock: the releases whose static files stay
        on every lb node (dry run: would stay)."""
        if dry_run:
            return self.engine.retained()[1]
        with self.engine.locked("prune"):
            published, keep = self.engine.retained()
            self.engine.prune_static(published, keep)
        self.report(f"retained the static files of: {', '.join(keep)}")
        return keep

    # -- manage.py ------------------------------------------------------------------------------
    def manage(self, arguments: list[str], terminal: bool) -> int:
        """`manage.py ARGUMENTS` of the live release in a one-off task (a job from the colours'
        task template: their settings, volumes and network, as one host's one-off container),
        run there with `docker exec` through its node's engine, attached to this terminal
        (`terminal`) or to this process's input and output: its exit code. Recorded in the
        history by its command name only (arguments may hold anything)."""
        release = self.engine.live_release()
        started = time.monotonic()
        image = remote_reference(self.env, "site", release)
        jobs = Jobs(self.swarm)
        template, networks = jobs.template_like("app-blue", image, ["sleep", str(MANAGE_TIMEOUT)])
        template.pop("Placement", None)
        timeout = float(self.env.settings["HEALTH_TIMEOUT"]) + 120  # a first pull of the image on its node
        with jobs.holding("manage", template, networks, timeout) as (node, container):
            self.swarm.engine(node)  # one line when switcher cannot reach that node's engine
            endpoint = endpoint_url(node.labels[ENGINE_LABEL])
            flags = ["--interactive", *(["--tty"] if terminal else [])]
            command = ["docker", "--host", endpoint, "exec", *flags, container, "python3", "manage.py", *arguments]
            code = subprocess.run(command, check=False).returncode  # this process's input, output and terminal
        name = arguments[0] if arguments else "help"
        self.record("manage", started, "ok" if code == 0 else "failed", release=release, command=name, exit=code)
        return code

    # -- logs -----------------------------------------------------------------------------------
    def log_service(self, service: str) -> str:
        """The stack's service for `switcher logs SERVICE`: live (default), idle, blue, green,
        lb, cron, worker, beat, broker, db, memcached."""
        if service in ("live", "idle"):
            live = self.engine.routing().required()
            service = live if service == "live" else other_color(live)
        if service in OPTIONAL_SERVICES and not self.swarm.services().get(service, ServiceInfo(0, "")).replicas:
            raise NotFound(f"{self.env.name} runs no {service}: its live release's Procfile declares none")
        return f"app-{service}" if service in COLORS else service
