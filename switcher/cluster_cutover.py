"""deploy on a Swarm (ENGINE=swarm): its named steps, in order, over swarm_engine.py and
cluster_stack.py; promote and rollback run the same steps as on one engine (promotion.py). The
rules are the single host's: a colour goes live only when its deploy record says its release
deployed ok (colors.py); migrations are judged by the same pure rules (migrations.py) before
anything changes.

On a cluster the colour made idle by a promote keeps running (warm, for an instant rollback)
and the lbs route by the same flag file as on one host, one per lb node, flipped through each
node's engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switcher import colors, history, migrations
from switcher.cluster_stack import ClusterStack
from switcher.config import check_release, other_color, parse_networks
from switcher.errors import ConfigError, Refused, SwitcherError
from switcher.maintenance_mode import set_maintenance
from switcher.plans import Options, Step, run_steps
from switcher.promotion import Promotion
from switcher.schema import REPORTER
from switcher.swarm_engine import SwarmEngine


def cluster_deploy_plan(idle: str, release: str) -> list[Step]:
    return [
        Step("check-release", f"refuse unless the site image of {release} is in REGISTRY"),
        Step(
            "check-migrations",
            f"ask {release} (a job) what its unapplied migrations do; refuse any the live "
            "release cannot run beside (unless --accept-incompatible)",
        ),
        Step("backup", "back up the database in the db task first if there is anything to migrate"),
        Step("migrate", f"run `manage.py migrate` of {release} (a job) with lock_timeout MIGRATE_LOCK_TIMEOUT"),
        Step("publish", f"publish the static files and maintenance page of {release} on every lb node"),
        Step("update", f"app-{idle}: release {release}, APP_REPLICAS tasks (docker stack deploy)"),
        Step("wait-healthy", f"wait until every task of app-{idle} runs {release} and is healthy"),
    ]


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

    def _run(self, title: str, steps: list[Step], actions: dict[str, Callable[[], object]], dry_run: bool) -> None:
        run_steps(self.report, title, steps, actions, dry_run)

    def live(self) -> str:
        """The colour every lb routes to; refuses when they disagree."""
        routing = self.engine.routing()
        if routing.live is None:
            raise Refused(f"{routing.why}; nothing changed")
        return routing.live

    def record(self, action: str, started: float, outcome: str, **fields: object) -> None:
        history.record(self.store, self.env.name, action, started, outcome, **fields)

    # -- deploy --------------------------------------------------------------------------
    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        check_release(release)
        _refuse_unbuilt(options)
        live = self.live()
        idle = other_color(live)
        steps = cluster_deploy_plan(idle, release)
        if dry_run:
            self._run(f"deploy {release} to {idle}", steps, {}, dry_run=True)
            if then_promote:
                self.promotion.promote(idle, options, dry_run=True, expected_release=release)
            return
        with self.engine.locked(f"deploy {release}"):
            idle = other_color(self.live())  # under the lock
            self._deploy_locked(release, idle, options)
            if then_promote:
                self.promotion.promote_locked(idle, options, expected_release=release)

    def _deploy_locked(self, release: str, idle: str, options: Options) -> None:
        started = time.monotonic()
        live = other_color(idle)
        before = self.engine.releases()
        live_release = before.for_color(live)
        releases = self.engine.releases(**{idle: release})
        facts: dict[str, object] = {}
        pending: list[str] = []
        record: colors.ColorRecord | None = None

        def check() -> None:
            self.stack.require_in_registry([("site", release)])

        def check_migrations() -> None:
            plan = migrations.parse_output(self.stack.job("plan", release, [*REPORTER, "plan"]))
            ahead = [str(name) for name in plan.get("ahead") or []]
            if ahead:  # the single host's rule: only migrations deploys recorded compatible
                refusal = migrations.behind_refusal(history.read(self.store).records, release, ahead)
                if refusal is not None:
                    raise Refused(refusal)
                self.report(f"  the database is ahead of {release} by {len(ahead)} compatible migration(s)")
            pending.extend(migrations.pending(plan))
            found = migrations.verdicts(plan)
            bad = migrations.incompatible(found)
            self.report(
                f"  {len(pending)} migration(s) to apply; {len(bad)} operation(s) {live_release} cannot run beside"
            )
            if pending:
                facts["migrations"] = [verdict.as_record() for verdict in found]
            if bad and not options.accept_incompatible:
                raise Refused(
                    f"{release} has migrations the live release {live_release} cannot run beside (nothing was "
                    "changed; ship them in two releases: docs/database.md):\n"
                    + "\n".join(f"  {verdict.line()}" for verdict in bad)
                )
            if bad:
                facts["accepted_incompatible"] = [verdict.line() for verdict in bad]

        def backup() -> None:
            if not pending:
                self.report("  nothing to migrate: no backup needed")
                return
            facts["backup"] = self.stack.backup(live_release, f"before migrating for {release}")

        def migrate() -> None:
            if not pending:
                return
            seconds = int(self.env.settings["MIGRATE_LOCK_TIMEOUT"])
            self.stack.job(
                "migrate",
                release,
                ["python3", "manage.py", "migrate", "--noinput"],
                environment={"PGOPTIONS": f"-c lock_timeout={seconds * 1000}"},
            )

        def update() -> None:
            nonlocal record
            record = colors.starting(colors.read_record(self.store, idle), before.for_color(idle), release)
            colors.write_record(self.store, idle, record)
            self.stack.deploy(releases)

        actions = {
            "check-release": check,
            "check-migrations": check_migrations,
            "backup": backup,
            "migrate": migrate,
            "publish": lambda: self.stack.publish(release),
            "update": update,
            "wait-healthy": lambda: self.swarm.wait_release(f"app-{idle}", release, options.health_timeout),
        }
        fields = {"color": idle, "release": release, "previous": before.for_color(idle)}
        try:
            self._run(f"deploy {release} to {idle}", cluster_deploy_plan(idle, release), actions, dry_run=False)
        except SwitcherError as error:
            if record is not None:
                colors.write_record(self.store, idle, colors.finished(record, error=str(error)))
            self.record("deploy", started, "failed" if record else "refused", **fields, error=str(error), **facts)
            raise
        assert record is not None
        colors.write_record(self.store, idle, colors.finished(record))
        self.record("deploy", started, "ok", **fields, **facts)
        self.report(f"release {release} is ready on {idle}")

    # -- promote and rollback: the same steps on every engine (promotion.py) --------------------
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
                live_release = self.engine.color(self.live()).release or ""  # under the lock
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
            "live_release": self.engine.color(self.live()).release,
        }
