"""The named steps of `switcher up` and `down` for an ENGINE=swarm environment, over the
stack's plumbing (cluster_stack.py: its variables, deploys, jobs and lb tasks).

The stack is compose/swarm.yml, deployed with `docker stack deploy` on SWARM_MANAGER; the
environment's store (credentials, certificate, history) and its lock live on the manager's
engine, as they live on the one engine of a compose environment.
"""

from __future__ import annotations

import time

from switcher import history
from switcher.cluster_lbs import commit_live, read_lbs
from switcher.cluster_plan import plan_releases
from switcher.cluster_shared import SharedDir, shared_root
from switcher.cluster_stack import INFRA, PROCESSES, ClusterStack
from switcher.cluster_status import ClusterStatus
from switcher.compose import Releases
from switcher.config import COLORS, other_color
from switcher.credentials import ensure_credentials
from switcher.errors import SwitcherError
from switcher.lock import EnvironmentLock
from switcher.registry import remote_reference
from switcher.switch import switch_all
from switcher.tls import ensure_tls


class ClusterLifecycle:
    """`up` and `down` of one environment's stack on a Swarm."""

    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm, self.store = stack, stack.swarm, stack.store
        self.paths, self.env, self.report = stack.paths, stack.env, stack.report

    # -- up --------------------------------------------------------------------------------
    def up(self, requested: str) -> ClusterStatus:
        started = time.monotonic()
        with EnvironmentLock(self.swarm.manager, self.env.project, "up", self.report):
            try:
                releases, live = self._up(requested)
            except SwitcherError as error:
                if self.store.exists():
                    history.record(
                        self.store, self.env.name, "up", started, "failed", release=requested, error=str(error)
                    )
                raise
            history.record(
                self.store, self.env.name, "up", started, "ok",
                color=live, release=releases.for_color(live), requested=requested,
            )  # fmt: skip
        return self.stack.status()

    def _up(self, requested: str) -> tuple[Releases, str]:
        existing = self.swarm.services()
        releases = plan_releases(existing, requested)
        site = {("site", releases.blue), ("site", releases.green), ("site", releases.cron or releases.blue)}
        self.stack.require_in_registry(sorted(site | {(name, releases.stack) for name in (*INFRA, "broker")}))
        self.store.ensure()
        credentials = ensure_credentials(self.store, self.env.name)
        ensure_tls(self.env, self.store, self.report)
        timeout = float(self.env.settings["HEALTH_TIMEOUT"])
        # Uploads, state and config files in SHARED_DIR, proven shared before any task mounts it.
        site = remote_reference(self.env, "site", releases.blue)
        SharedDir(self.swarm, self.env, self.report).ensure(site, timeout + 120)
        new = "app-blue" not in existing
        if new:
            self.report("deploying db, memcached and lb (no app tasks until the database is ready)")
            none = {f"{name}_REPLICAS": "0" for name in ("BLUE", "GREEN", "CRON", "WORKER", "BEAT")}
            self.swarm.deploy(self.paths, {**self.stack.variables(releases, credentials), **none})
        self.report("waiting for db, memcached and every lb node")
        self.swarm.wait_running(list(INFRA), timeout + 120)  # the first pull of each image on each node
        self.stack.apply_roles(credentials)
        live = self.live_color()  # `up` never changes colour
        self.report(f"migrating the database with the live release {releases.for_color(live)}")
        self.stack.job("migrate", releases.for_color(live), ["python3", "manage.py", "migrate", "--noinput"])
        for release in dict.fromkeys([releases.blue, releases.green]):
            self.stack.publish(release)
        # The live colour always runs; the other stays stopped if it was stopped on purpose.
        variables = self.stack.variables(releases, credentials, start=COLORS if new else (live,))
        colors = " and ".join(f"app-{c}" for c in COLORS if variables[f"{c.upper()}_REPLICAS"] != "0")
        beside = ", ".join(name for name in PROCESSES if variables[f"{name.upper()}_REPLICAS"] != "0")
        self.report(f"deploying {colors} ({self.env.settings['APP_REPLICAS']} tasks each), {beside or 'no cron'}")
        self.swarm.deploy(self.paths, variables)
        self.swarm.wait_running(["app-blue", "app-green", *PROCESSES, *INFRA], timeout)
        # Every lb on the live colour: an lb on a node that joined since starts at blue.
        lbs = [lb for _, lb in self.stack.lbs(ready=True)]  # one on a node that is away follows the commit
        switch_all(lbs, live, other_color(live), self.report)
        commit_live(lbs, live, releases.for_color(live), self.report)
        self.stack.lb_tasks.republish_unseen(timeout)
        self.swarm.prune_secrets(keep={variables["TLS_CERT_SECRET"], variables["TLS_KEY_SECRET"]})
        return releases, live

    def live_color(self) -> str:
        """The colour every lb routes to; when they disagree (or none runs), the colour the last
        promote or rollback made live; blue for a new environment."""
        colors = {view.live for view in read_lbs(self.stack.lbs())}
        if len(colors) == 1 and None not in colors:
            return str(colors.pop())
        for record in reversed(history.read(self.store).records):
            if record.get("action") in ("promote", "rollback") and record.get("outcome") == "ok":
                return str(record.get("color") or "blue")
        return "blue"

    # -- down ------------------------------------------------------------------------------
    def down(self, remove_volumes: bool) -> None:
        started = time.monotonic()
        with EnvironmentLock(self.swarm.manager, self.env.project, "down", self.report):
            self.report(
                f"removing stack {self.env.project}" + (" and its volumes on every node" if remove_volumes else "")
            )
            site = self.swarm.services().get("app-blue")
            self.swarm.remove()
            if remove_volumes:
                removed = self.swarm.remove_volumes(self.swarm.nodes())
                self.report(f"removed {len(removed)} volumes")
                if site is not None:  # the uploads, state and config files in SHARED_DIR
                    SharedDir(self.swarm, self.env, self.report).remove(
                        remote_reference(self.env, "site", site.release), 300
                    )
                else:
                    self.report(f"{shared_root(self.env)} is kept: no stack ran to say which image removes it")
                self.swarm.prune_secrets(keep=set())
                self.store.remove()
            else:
                history.record(self.store, self.env.name, "down", started, "ok")
