"""deploy: its named steps (plans.deploy_plan), in order, over the engine interface
(engine.py: `DeployEngine`), the same on one Docker engine and on a Swarm; `--promote` goes
on with promotion.py under the same lock.

Every decision about colours is made from what runs, read under the environment's lock. A
release's migrations are judged before anything changes (migrations.py); the idle colour's
deploy record (colors.py) says `deploying` from the moment it is touched, `ok` only when every
step passed, so a failed or interrupted deploy never goes live.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switcher import colors, history, migrations, smoke
from switcher.config import check_release, other_color
from switcher.engine import DeployEngine
from switcher.errors import ConfigError, Refused, SwitcherError, Unhealthy
from switcher.maintenance_mode import apply_maintenance
from switcher.plans import Options, deploy_plan, run_steps
from switcher.promotion import Promotion, refuse_behind


class Deployment:
    def __init__(self, engine: DeployEngine) -> None:
        self.engine, self.report = engine, engine.report

    def plan(self, idle: str, release: str, options: Options):
        return deploy_plan(idle, release, self.engine.env.smoke_paths, options.maintenance)

    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        check_release(release)
        if options.maintenance and options.accept_incompatible:
            raise ConfigError("choose --maintenance or --accept-incompatible, not both")
        then_promote = then_promote or options.maintenance  # --maintenance: the old guide's whole upgrade
        self.engine.require_release(release)
        promotion = Promotion(self.engine)
        if dry_run:
            idle = self._idle()
            run_steps(self.report, f"deploy {release} to {idle}", self.plan(idle, release, options), {}, dry_run=True)
            if then_promote:
                promotion.promote(idle, options, dry_run=True, expected_release=release)
            if options.maintenance:
                self.report("then: turn maintenance off (unless it was on before the deploy)")
            return
        with self.engine.locked(f"deploy {release}"):
            idle, turned_on = self._deploy_locked(release, options)
            if then_promote:
                try:
                    promotion.promote_locked(idle, options, expected_release=release)
                except SwitcherError:
                    if turned_on:
                        self.report("maintenance stays on: check through the bypass, then `switcher maintenance off`")
                    raise
            if turned_on:
                self.report("turning maintenance off")
                apply_maintenance(self.engine, False, "", None, 0, [])

    def _idle(self) -> str:
        return other_color(self.engine.routing().required())

    def _deploy_locked(self, release: str, options: Options) -> tuple[str, bool]:
        """The deploy's steps; the idle colour and whether this deploy turned maintenance on."""
        engine = self.engine
        idle = self._idle()  # under the lock: the idle colour of now, not of before the lock
        live = other_color(idle)
        started = time.monotonic()
        previous = engine.color(idle).release
        live_release = engine.color(live).release or previous or release
        facts: dict[str, object] = {}  # for the deploy's history record
        pending: list[str] = []
        record: colors.ColorRecord | None = None  # written once the idle colour is touched
        turned_on = False

        def check_migrations() -> None:
            plan = engine.migration_plan(release, idle)
            refuse_behind(engine, release, [str(name) for name in plan.get("ahead") or []])
            pending.extend(migrations.pending(plan))
            if not pending:
                self.report(f"  {release} has no migration to apply")
                return
            found = migrations.verdicts(plan)
            facts["migrations"] = [verdict.as_record() for verdict in found]
            bad = migrations.incompatible(found)
            self.report(
                f"  {len(pending)} migration(s) to apply; {len(bad)} operation(s) {live_release} cannot run beside"
            )
            if not bad:
                return
            lines = [verdict.line() for verdict in bad]
            if options.maintenance:
                self.report("  --maintenance: they run behind the maintenance page: " + "; ".join(lines))
            elif options.accept_incompatible:
                facts["accepted_incompatible"] = lines
                self.report("  --accept-incompatible (recorded in the history): " + "; ".join(lines))
            else:
                raise Refused(
                    f"{release} has migrations the live release {live_release} cannot run beside (nothing was "
                    "changed; deploy with --maintenance, or ship them in two releases: docs/database.md):\n"
                    + "\n".join(f"  {line}" for line in lines)
                )

        def recreate() -> None:
            nonlocal record
            record = colors.starting(colors.read_record(engine.store, idle), previous, release)
            colors.write_record(engine.store, idle, record)
            engine.recreate(idle, release)

        def backup() -> None:
            if not pending:
                self.report("  nothing to migrate: no backup needed")
                return
            facts["backup"] = engine.backup(live_release, f"before migrating for {release}")

        def maintenance_on() -> None:
            nonlocal turned_on
            if any(lb.in_maintenance() for lb in engine.lbs()):
                self.report("  maintenance is on already: it stays on after the deploy")
            else:
                message = "The site is being upgraded; it is back in a few minutes."
                apply_maintenance(engine, True, engine.credentials()["MAINTENANCE_TOKEN"], message, 300, [])
                turned_on = True
                facts["maintenance"] = True
            self.report("  stopping cron, beat and workers; the promote starts those of the new release")
            engine.stop_processes()

        def wait_healthy() -> None:
            engine.wait_ready(idle, release, options.health_timeout, options.verify_timeout)

        actions: dict[str, Callable[[], object]] = {
            "check-release": lambda: None,  # done before the lock: nothing is changed by it
            "check-migrations": check_migrations,
            "recreate": recreate,
            "backup": backup,
            "maintenance-on": maintenance_on,
            "migrate": lambda: engine.migrate(release, idle),
            "check-deploy": lambda: engine.run(release, idle, ["python3", "manage.py", "check", "--deploy"]),
            "wait-healthy": wait_healthy,
            "warm": lambda: engine.warm(idle),
            "smoke": lambda: self._smoke(idle, release, options.verify_timeout),
            "publish": lambda: engine.publish(release),
        }
        fields = {"color": idle, "release": release, "previous": previous}
        try:
            run_steps(self.report, f"deploy {release} to {idle}", self.plan(idle, release, options), actions, False)
        except SwitcherError as error:
            if record is None:  # refused before anything changed: the idle colour is as it was
                self._record(started, "refused", **fields, error=str(error).splitlines()[0], **facts)
                raise
            colors.write_record(engine.store, idle, colors.finished(record, error=str(error)))
            engine.explain_failure(idle)
            self.report(f"stopping app-{idle}; live traffic stays on {live}")
            engine.stop_color(idle)
            if turned_on:
                self.report("maintenance stays on (the database may be part-migrated): check through the bypass")
            self._record(started, "failed", **fields, error=str(error), **facts)
            raise
        assert record is not None
        colors.write_record(engine.store, idle, colors.finished(record))
        self._record(started, "ok", **fields, **facts)
        self.report(f"release {release} is ready on {idle}" + (f": {engine.preview_url}" if engine.preview_url else ""))
        return idle, turned_on

    def _smoke(self, color: str, release: str, timeout: float) -> None:
        """Each of SMOKE_PATHS answers as smoke.problem() wants; a colour still coming up (no
        answer, 502-504) gets until `timeout`, anything else fails at once."""
        for path in self.engine.env.smoke_paths:
            deadline = time.monotonic() + timeout
            while True:
                answer = self.engine.preview_get(color, path)
                trouble = smoke.problem(path, answer, release, self.engine.env.site_hosts)
                if trouble is None:
                    break
                if answer.status not in smoke.TRANSIENT or time.monotonic() > deadline:
                    raise Unhealthy(trouble)
                time.sleep(0.2)

    def _record(self, started: float, outcome: str, **fields: object) -> None:
        history.record(self.engine.store, self.engine.env.name, "deploy", started, outcome, **fields)
