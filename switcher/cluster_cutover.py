"""deploy, promote and rollback on a Swarm (ENGINE=swarm): the named steps of each, in order,
over cluster_stack.py. The rules are the single host's: a colour goes live only when its
deploy record says its release deployed ok (colors.py); migrations are judged by the same pure
rules (migrations.py) before anything changes; every lb of the cluster takes the switch or none
does (switch.py); a verification that fails switches every lb back.

On a cluster the idle colour keeps running after a promote (that is the drain: its requests in
flight finish there) and the lbs route by the same flag file, one per lb node, flipped through
each node's engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from switcher import colors, history, migrations
from switcher.cluster_probe import verify_lbs
from switcher.cluster_stack import ClusterStack, plan_releases
from switcher.compose import Releases
from switcher.config import check_release, other_color
from switcher.errors import ConfigError, NotFound, Refused, SwitcherError, Unhealthy
from switcher.lock import EnvironmentLock
from switcher.plans import Options, Step, run_steps
from switcher.schema import REPORTER
from switcher.switch import switch_all


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


def cluster_promote_plan(target: str, old: str, release: str, already_live: bool) -> list[Step]:
    steps = []
    if not already_live:
        steps += [
            Step("gate", f"check every task of app-{target} runs {release} and is healthy"),
            Step("switch", f"every lb routes new requests to {target} (each read back; else all switched back)"),
        ]
    steps += [
        Step("verify", f"check that every lb answers with {release}; else switch every lb back"),
        Step("cron", f"cron runs {release} (the old one stops first)"),
    ]
    return steps


def _refuse_unbuilt(options: Options) -> None:
    if options.maintenance or options.stop_old:
        option = "--maintenance" if options.maintenance else "--stop-old"
        raise ConfigError(f"{option} is not built for a cluster yet (issue #11); nothing was changed")


class ClusterCutover:
    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm, self.env, self.store = stack, stack.swarm, stack.env, stack.store
        self.report = stack.report

    # -- shared --------------------------------------------------------------------------
    def _run(self, title: str, steps: list[Step], actions: dict[str, Callable[[], object]], dry_run: bool) -> None:
        run_steps(self.report, title, steps, actions, dry_run)

    def _locked(self, what: str) -> EnvironmentLock:
        return EnvironmentLock(self.swarm.manager, self.env.project, what, self.report)

    def live(self) -> str:
        """The colour every lb routes to; refuses when they disagree or none runs."""
        status = self.stack.status()
        if not status.lbs:
            raise Unhealthy("no lb task runs: nothing routes live traffic")
        if status.live is None:
            raise Refused(f"{status.notes[0] if status.notes else 'the lbs cannot say their colour'}; nothing changed")
        return status.live

    def releases(self, **override: str) -> Releases:
        """What the stack's services run now (`override`: the parts about to change)."""
        services = self.swarm.services()
        if "app-blue" not in services:
            raise NotFound(f"{self.env.name} has no stack yet: `switcher up --env {self.env.name}` first")
        return replace(plan_releases(services, services["app-blue"].release), **override)

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
                self._run(f"promote {idle}", cluster_promote_plan(idle, live, release, False), {}, dry_run=True)
            return
        with self._locked(f"deploy {release}"):
            idle = other_color(self.live())  # under the lock
            self._deploy_locked(release, idle, options)
            if then_promote:
                self._promote_locked(idle, options, expected_release=release)

    def _deploy_locked(self, release: str, idle: str, options: Options) -> None:
        started = time.monotonic()
        live = other_color(idle)
        before = self.releases()
        live_release = before.for_color(live)
        releases = self.releases(**{idle: release})
        facts: dict[str, object] = {}
        pending: list[str] = []
        record: colors.ColorRecord | None = None

        def check() -> None:
            self.stack.require_in_registry([("site", release)])

        def check_migrations() -> None:
            plan = migrations.parse_output(self.stack.job("plan", release, [*REPORTER, "plan"]))
            ahead = [str(name) for name in plan.get("ahead") or []]
            if ahead:  # the single host's rule: only migrations deploys recorded compatible
                known = migrations.applied_by_deploys(history.read(self.store).records)
                blockers = migrations.rollback_blockers(ahead, known)
                if blockers:
                    raise Refused(f"{release} cannot serve this database: it lacks {'; '.join(blockers)}")
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
            self.swarm.deploy(self.stack.paths, self.stack.variables(releases, self.stack.credentials()))

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

    # -- promote -------------------------------------------------------------------------
    def promote(self, target: str | None, options: Options, dry_run: bool) -> None:
        _refuse_unbuilt(options)
        if target is not None:
            other_color(target)
        if dry_run:
            live = self.live()
            color = target or other_color(live)
            release = self.releases().for_color(color)
            steps = cluster_promote_plan(color, other_color(color), release, live == color)
            self._run(f"promote {color}", steps, {}, dry_run=True)
            return
        with self._locked(f"promote {target or 'the idle colour'}"):
            self._promote_locked(target, options)

    def rollback(self, options: Options, dry_run: bool) -> None:
        """The idle colour goes live again, when its record says its release deployed ok."""
        if dry_run:
            self.promote(None, options, dry_run=True)
            return
        with self._locked("rollback"):
            self._promote_locked(None, options, action="rollback")

    def _promote_locked(
        self, target: str | None, options: Options, expected_release: str | None = None, action: str = "promote"
    ) -> None:
        started = time.monotonic()
        status = self.stack.status()
        if not status.lbs:
            raise Unhealthy("no lb task runs: nothing routes live traffic")
        live = status.live  # None: the lbs disagree (a switcher killed while it flipped them)
        if target is None:
            if live is None:
                raise Refused(f"{status.notes[0]}: `switcher promote COLOR` puts every lb on COLOR; nothing changed")
            target = other_color(live)
        old = other_color(target)
        releases = self.releases()
        release, old_release = releases.for_color(target), releases.for_color(old)
        if expected_release and release != expected_release:
            raise SwitcherError(f"app-{target} runs {release}, not {expected_release}")
        already_live = live == target
        if not already_live:
            reason = colors.refusal(target, colors.read_record(self.store, target), release)
            if reason is not None:
                raise Refused(f"will not make {target} live: {reason}; deploy a release to it first")
        found = self.stack.lbs()
        lbs = [lb for _, lb in found]

        def switch() -> None:
            switch_all(lbs, target, old, self.report)

        def verify() -> None:
            try:
                nodes = [node for node, _ in found]
                verify_lbs(nodes, self.env, release, options.verify_requests, options.verify_timeout)
            except Unhealthy:
                if not already_live:
                    self.report(f"verification failed: switching every lb back to {old}")
                    switch_all(lbs, old, target, self.report)
                raise

        def cron() -> None:
            if releases.cron != release:
                self.swarm.deploy(
                    self.stack.paths, self.stack.variables(self.releases(cron=release), self.stack.credentials())
                )
                self.swarm.wait_release("cron", release, options.health_timeout)

        actions = {
            "gate": lambda: self.swarm.wait_release(f"app-{target}", release, 0),
            "switch": switch,
            "verify": verify,
            "cron": cron,
        }
        fields = {"color": target, "release": release, "previous_color": old, "previous_release": old_release}
        steps = cluster_promote_plan(target, old, release, already_live)
        try:
            self._run(f"{action} {target}", steps, actions, dry_run=False)
        except SwitcherError as error:
            self.record(action, started, "failed", **fields, error=str(error))
            raise
        self.record(action, started, "ok", **fields, lbs=len(lbs))
        self.report(f"{target} is live with release {release} on {len(lbs)} lb(s); {old} ({old_release}) is idle")
