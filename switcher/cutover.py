"""deploy on one Docker engine: the steps of plans.deploy_plan against Docker, the lb and HTTP,
each reported as it starts, the whole recorded in the history; promote and rollback run the
same steps on every engine (promotion.py over compose_engine.py).

Every decision about colours is made from a status read under the environment's lock (a
status read before it may be stale by the time the lock is ours). A colour goes live only when
its deploy record says its release finished deploying ok (colors.py). Every step is safe to
repeat, so a switcher killed at any point leaves a serving site and the same command run again
finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switcher import colors, migrations, smoke
from switcher.chores import Chores
from switcher.compose_engine import ComposeEngine
from switcher.config import check_release
from switcher.errors import ConfigError, Refused, SwitcherError, Unhealthy
from switcher.maintenance import MaintenanceSwitch
from switcher.plans import Options, deploy_plan
from switcher.promotion import Promotion
from switcher.runtime import require_images


class Cutover(Chores):
    # -- waiting ------------------------------------------------------------------------------
    def _smoke(self, release: str, timeout: float) -> None:
        """Each of SMOKE_PATHS answers through preview as smoke.problem() wants; a colour still
        coming up (no answer, 502-504) gets until `timeout`, anything else fails at once."""
        for path in self.env.smoke_paths:
            deadline = time.monotonic() + timeout
            while True:
                answer = self.probe.get("preview", path)
                trouble = smoke.problem(path, answer, release, self.env.site_hosts)
                if trouble is None:
                    break
                if answer.status not in smoke.TRANSIENT or time.monotonic() > deadline:
                    raise Unhealthy(trouble)
                time.sleep(0.2)

    def _explain_failure(self, color: str) -> None:
        container = self.color_container(color)
        if container is None:
            return
        for line in container.health_log[-3:]:
            self.report(f"  health check of app-{color}: {line[:300]}")
        for line in self.docker.logs_tail(container.name, 15).strip().splitlines():
            self.report(f"  app-{color} log: {line[:300]}")

    # -- deploy -------------------------------------------------------------------------------
    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        check_release(release)
        if options.maintenance and options.accept_incompatible:
            raise ConfigError("choose --maintenance or --accept-incompatible, not both")
        then_promote = then_promote or options.maintenance  # --maintenance: the old guide's whole upgrade
        before = self.status()
        require_images(self.docker, [f"{self.env.image_prefix}/site:{release}"], release)
        if dry_run:
            idle = before.idle
            assert idle is not None
            steps = deploy_plan(idle, release, self.env.smoke_paths, options.maintenance)
            self._run(f"deploy {release} to {idle}", steps, {}, dry_run=True)
            if then_promote:
                self.promote(idle, options, dry_run=True, expected_release=release)
            if options.maintenance:
                self.report("then: turn maintenance off (unless it was on before the deploy)")
            return
        with self.locked(f"deploy {release}"):
            idle, turned_on = self._deploy_locked(release, options)
            if then_promote:
                try:
                    self.promotion.promote_locked(idle, options, expected_release=release)
                except SwitcherError:
                    if turned_on:
                        self.report("maintenance stays on: check through the bypass, then `switcher maintenance off`")
                    raise
            if turned_on:
                self.report("turning maintenance off")
                MaintenanceSwitch(self.docker, self.lb()).turn_off()

    def _deploy_locked(self, release: str, options: Options) -> tuple[str, bool]:
        """The deploy's steps; the idle colour and whether this deploy turned maintenance on."""
        status = self.status()  # under the lock: the idle colour of now, not of before the lock
        idle = status.idle
        assert idle is not None
        steps = deploy_plan(idle, release, self.env.smoke_paths, options.maintenance)
        started = time.monotonic()
        previous = status.colors[idle].release
        live_release = status.live_release or self.any_release()
        releases = self.releases(fallback=release, **{idle: release})
        facts: dict[str, object] = {}  # for the deploy's history record
        pending: list[str] = []
        record: colors.ColorRecord | None = None  # written once the idle colour is touched
        turned_on = False

        def task(command: list[str], user: str | None = None) -> Callable[[], None]:
            return lambda: self.task(command, release, releases, user=user)

        def check_migrations() -> None:
            names, found = self.check_migrations(release, releases)
            pending.extend(names)
            if not names:
                self.report(f"  {release} has no migration to apply")
                return
            facts["migrations"] = [verdict.as_record() for verdict in found]
            bad = migrations.incompatible(found)
            self.report(
                f"  {len(names)} migration(s) to apply; {len(bad)} operation(s) {live_release} cannot run beside"
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
            record = colors.starting(self.color_record(idle), previous, release)
            self.set_color_record(idle, record)
            self.stack.recreate_color(idle, releases)

        def backup() -> None:
            if not pending:
                self.report("  nothing to migrate: no backup needed")
                return
            facts["backup"] = self.backup(release=live_release, reason=f"before migrating for {release}").id

        def maintenance_on() -> None:
            nonlocal turned_on
            switch = MaintenanceSwitch(self.docker, self.lb())
            if switch.read() is None:
                message = "The site is being upgraded; it is back in a few minutes."
                switch.turn_on(live_release, self.credentials()["MAINTENANCE_TOKEN"], message, 300, [])
                turned_on = True
                facts["maintenance"] = True
            else:
                self.report("  maintenance is on already: it stays on after the deploy")
            self.report("  stopping cron, beat and workers; the promote starts those of the new release")
            self.stack.stop_processes()

        def wait_healthy() -> None:
            self.wait_healthy(idle, options.health_timeout)
            self.expect("preview", release, timeout=options.verify_timeout)

        actions = {
            "check-release": lambda: None,
            "check-migrations": check_migrations,
            "recreate": recreate,
            "backup": backup,
            "maintenance-on": maintenance_on,
            "migrate": lambda: self.migrate(release, releases),
            "check-deploy": task(["python3", "manage.py", "check", "--deploy"]),
            "wait-healthy": wait_healthy,
            "warm": lambda: [self.probe.get("preview", path) for path in ("/", "/", "/healthz")],
            "smoke": lambda: self._smoke(release, options.verify_timeout),
            "publish": task(["publish-assets", "/srv/static", "/srv/maintenance"], user="0"),
        }
        fields = {"color": idle, "release": release, "previous": previous}
        try:
            self._run(f"deploy {release} to {idle}", steps, actions, dry_run=False)
        except SwitcherError as error:
            if record is None:  # refused before anything changed: the idle colour is as it was
                self.record("deploy", started, "refused", **fields, error=str(error).splitlines()[0], **facts)
                raise
            self.set_color_record(idle, colors.finished(record, error=str(error)))
            self._explain_failure(idle)
            self.report(f"stopping app-{idle}; live traffic stays on {status.live}")
            failed = self.color_container(idle)
            if failed is not None:
                self.docker.stop(failed.name)
            if turned_on:
                self.report("maintenance stays on (the database may be part-migrated): check through the bypass")
            self.record("deploy", started, "failed", **fields, error=str(error), **facts)
            raise
        assert record is not None
        self.set_color_record(idle, colors.finished(record))
        self.record("deploy", started, "ok", **fields, **facts)
        self.report(f"release {release} is ready on {idle}: {self.env.preview_url}")
        return idle, turned_on

    # -- promote and rollback: the same steps on every engine (promotion.py) --------------------
    @property
    def promotion(self) -> Promotion:
        return Promotion(ComposeEngine(self))

    def promote(self, target: str | None, options: Options, dry_run: bool, expected_release: str | None = None) -> None:
        self.promotion.promote(target, options, dry_run, expected_release)

    def rollback(self, options: Options, dry_run: bool) -> None:
        self.promotion.rollback(options, dry_run)
