"""Carrying out deploy, promote and rollback: the steps of plans.py against Docker, the lb and
HTTP, each reported as it starts, the whole recorded in the history.

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
from switcher.config import check_release, other_color
from switcher.errors import ConfigError, NotFound, Refused, SwitcherError, Unhealthy
from switcher.maintenance import MaintenanceSwitch
from switcher.plans import Options, deploy_plan, promote_plan
from switcher.runtime import ContainerInfo, require_images
from switcher.switch import switch_all


class Cutover(Chores):
    # -- waiting ------------------------------------------------------------------------------
    def _expect(self, listener: str, release: str, path: str = "/healthz", count: int = 1, timeout: float = 15) -> None:
        """`count` answers in a row with 200 and X-Release `release`, within `timeout`."""
        deadline = time.monotonic() + timeout
        good = 0
        while good < count:
            last = self.probe.get(listener, path)
            if last.status == 200 and last.release == release:
                good += 1
                continue
            good = 0
            if time.monotonic() > deadline:
                raise Unhealthy(
                    f"{listener} {path} answered {last.status} with release {last.release or '-'} "
                    f"(expected 200 from {release}): {last.body[:120]!r}"
                )
            time.sleep(0.2)

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
                    self._promote_locked(idle, options, expected_release=release)
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
            self._expect("preview", release, timeout=options.verify_timeout)

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

    # -- promote ------------------------------------------------------------------------------
    def promote(self, target: str | None, options: Options, dry_run: bool, expected_release: str | None = None) -> None:
        before = self.status()
        if target is not None:
            other_color(target)  # refuses an unknown colour
        if dry_run:
            color = target or before.idle
            assert color is not None
            release = expected_release or before.colors[color].release or "?"
            steps = promote_plan(color, other_color(color), release, before.live == color, options.stop_old)
            self._run(f"promote {color}", steps, {}, dry_run=True)
            return
        with self.locked(f"promote {target or 'the idle colour'}"):
            self._promote_locked(target, options, expected_release)

    def _promote_locked(
        self, target: str | None, options: Options, expected_release: str | None = None, action: str = "promote"
    ) -> None:
        status = self.status()  # under the lock
        target = target or status.idle
        assert target is not None
        old = other_color(target)
        target_container = self.color_container(target)
        if target_container is None or not target_container.release:
            raise NotFound(f"app-{target} does not exist; deploy a release to it first")
        release = target_container.release
        if expected_release and release != expected_release:
            raise SwitcherError(f"app-{target} runs {release}, not {expected_release}")
        already_live = status.live == target
        if not already_live:
            reason = colors.refusal(target, self.color_record(target), release)
            if reason is not None:
                raise Refused(f"will not make {target} live: {reason}; deploy a release to it first")
        steps = promote_plan(target, old, release, already_live, options.stop_old)
        started = time.monotonic()
        switched = False
        lbs = self.lbs()  # every lb is switched at once; the first one also checks and publishes
        lb = lbs[0].name
        old_release = status.colors[old].release

        def gate() -> None:
            if target_container.state != "running" or target_container.health != "healthy":
                raise Unhealthy(f"app-{target} is {target_container.state}/{target_container.health}, not healthy")
            self._expect("preview", release, timeout=options.verify_timeout)

        def check_schema() -> None:
            state = self.release_state(release, target_container.name)
            if state is None:
                raise Unhealthy(f"app-{target} could not say which migrations it knows")
            self.refuse_behind(release, [str(name) for name in state.get("ahead") or []])

        def nginx_check() -> None:
            code, output = self.docker.exec_output(lb, ["nginx", "-t", "-q", "-e", "stderr"])
            if code != 0:
                raise ConfigError(f"the lb's nginx configuration is invalid: {output.strip().splitlines()[-1:]}")

        def publish() -> None:
            if self.docker.exec_status(lb, ["test", "-f", f"/srv/static/.releases/{release}.json"]) != 0:
                self.task(["publish-assets", "/srv/static", "/srv/maintenance"], release, user="0")

        def switch() -> None:
            nonlocal switched
            maintenance = MaintenanceSwitch(self.docker, lb)
            if maintenance.read() is not None:  # the page of the release that is about to be live
                maintenance.refresh_page(release)
            switch_all(lbs, target, old, self.report)
            switched = True

        def verify() -> None:
            try:
                self._expect("live", release, count=options.verify_requests, timeout=options.verify_timeout)
            except Unhealthy:
                if switched:
                    self.report(f"verification failed: switching live traffic back to {old}")
                    switch_all(lbs, old, target, self.report)
                raise

        actions = {
            "gate": gate,
            "check-schema": check_schema,
            "nginx-check": nginx_check,
            "publish": publish,
            "switch": switch,
            "verify": verify,
            "cron": lambda: self.cron_follow(release),
            "drain": lambda: self._drain(old, options.drain_timeout),
            "stop-old": lambda: self._stop_color(old),
            "prune": lambda: self.prune_static(quiet=True),
        }
        fields = {"color": target, "release": release, "previous_color": old, "previous_release": old_release}
        try:
            self._run(f"{action} {target}", steps, actions, dry_run=False)
        except SwitcherError as error:
            self.record(action, started, "failed", **fields, error=str(error))
            raise
        self.record(action, started, "ok", **fields)
        self.report(f"{target} is live with release {release}; {old} ({old_release}) is idle")

    def _stop_color(self, color: str) -> None:
        container = self.color_container(color)
        if container is not None:
            self.docker.stop(container.name, timeout=30)

    def _drain(self, color: str, timeout: float) -> None:
        container = self.color_container(color)
        if container is None or container.state != "running":
            return
        deadline = time.monotonic() + timeout
        while True:
            code, output = self.docker.exec_output(container.name, ["inflight"])
            if code != 0:
                self.report(f"  app-{color} cannot count its requests in flight; not waiting")
                return
            in_flight = int(output.strip() or 0)
            if in_flight == 0:
                return
            if time.monotonic() > deadline:
                self.report(f"  app-{color} still has {in_flight} requests in flight after {timeout:.0f} s")
                return
            time.sleep(0.2)

    # -- rollback -----------------------------------------------------------------------------
    def rollback(self, options: Options, dry_run: bool) -> None:
        before = self.status()
        if dry_run:
            target = before.idle
            assert target is not None
            container = self.color_container(target)
            plan = self._rollback_source(target, container)
            if plan is not None:
                self.report(f"rollback: first {plan[1]}")
            self.promote(target, options, dry_run=True)
            return
        with self.locked("rollback"):
            status = self.status()  # under the lock
            target = status.idle
            assert target is not None
            container = self.color_container(target)
            plan = self._rollback_source(target, container)
            if plan is not None:
                release, why = plan
                self.report(why)
                if container is not None and container.release == release and container.state != "running":
                    self.docker.start(container.name)
                else:
                    self.stack.recreate_color(target, self.releases(fallback=release, **{target: release}))
                self.wait_healthy(target, options.health_timeout)
                self.set_color_record(target, colors.ready(release))
            self._promote_locked(target, options, action="rollback")

    def _rollback_source(self, target: str, container: ContainerInfo | None) -> tuple[str, str] | None:
        """None when the idle colour can go live as it is; else the release to bring it back
        with and why. Refuses when it holds a release that did not deploy ok and no earlier
        release of it is known good."""
        record = self.color_record(target)
        running = container.release if container is not None else None
        reason = colors.refusal(target, record, running)
        if reason is None and container is not None:
            if container.state == "running":
                return None
            return running or "", f"starting app-{target} (release {running}) again"
        if record is None:  # an environment from before deploy records: trust the history
            release = self._recorded_release(target)
            return release, f"recreating app-{target} with its recorded release {release}"
        good = record.last_ok
        if not good or not self.docker.image_exists(f"{self.env.image_prefix}/site:{good}"):
            missing = "no earlier release of it is recorded ok" if not good else f"its last good release {good} is gone"
            raise Refused(f"cannot roll back to {target}: {reason or 'it has no container'}, and {missing}")
        return good, f"{reason or f'app-{target} is gone'}: rolling {target} back to its last good release {good}"

    def _recorded_release(self, color: str) -> str:
        for record in reversed(self.history().records):
            if record.get("outcome") != "ok":
                continue
            if record.get("color") == color and record.get("release"):
                return record["release"]
            if record.get("previous_color") == color and record.get("previous_release"):
                return record["previous_release"]
        raise NotFound(f"no release of {color} is recorded; deploy one with `switcher deploy RELEASE`")
