"""Carrying out deploy, promote and rollback: the steps of plans.py against Docker, the lb and
HTTP, each reported as it starts, the whole recorded in the history.

Every step is safe to repeat, so a switcher killed at any point leaves a serving site and the
same command run again finishes the job.
"""

from __future__ import annotations

import getpass
import re
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from switcher import history
from switcher.compose import Releases
from switcher.config import COLORS, CRON_STOPPED_FLAG, LIVE_FLAG, Environment, Paths, check_release, other_color
from switcher.errors import ConfigError, NotFound, SwitcherError, Unhealthy
from switcher.lock import EnvironmentLock
from switcher.maintenance import MaintenanceSwitch
from switcher.plans import Options, Step, deploy_plan, format_plan, promote_plan, retained_releases
from switcher.probe import SiteProbe
from switcher.runtime import ContainerInfo, Docker
from switcher.stack import Stack, by_service, plan_up
from switcher.state import StackStatus, derive_status, read_green_flag

Report = Callable[[str], None]


class Cutover:
    def __init__(self, paths: Paths, env: Environment, docker: Docker, report: Report) -> None:
        self.paths, self.env, self.docker, self.report = paths, env, docker, report
        self.stack = Stack(paths, env, docker)
        self.history_path = paths.env_state_dir(env.name) / "history.jsonl"
        self.probe = SiteProbe(env, paths.env_state_dir(env.name) / "tls")

    # -- reading the truth ----------------------------------------------------------------------
    def _containers(self) -> dict[str, ContainerInfo]:
        return by_service(self.docker.project_containers(self.env.project))

    def _status(self) -> StackStatus:
        containers = self.docker.project_containers(self.env.project)
        status = derive_status(self.env, containers, read_green_flag(self.docker, containers))
        if status.live is None:
            raise SwitcherError(f"the lb of {self.env.name} is not running; start the stack with `make up`")
        return status

    def _releases(self, fallback: str | None = None, **override: str) -> Releases:
        """The releases running now (a missing part gets `fallback`), with `override` applied."""
        containers = self.docker.project_containers(self.env.project)
        plan = plan_up(self.env, containers, None, fallback or self._any_release())
        return replace(plan.releases, **override)

    def _task(
        self,
        command: list[str],
        release: str | None = None,
        releases: Releases | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
    ) -> str:
        """A one-off container of `release` (default: blue's) with the stack's volumes."""
        releases = releases or self._releases()
        return self.stack.run_task(
            releases, self.stack.credentials(), release or releases.blue, command, user=user, stdin=stdin
        )

    def _lb(self) -> str:
        lb = self._containers().get("lb")
        if lb is None or lb.state != "running":
            raise SwitcherError("the lb is not running")
        return lb.name

    def _color_container(self, color: str) -> ContainerInfo | None:
        return self._containers().get(f"app-{color}")

    # -- running steps ------------------------------------------------------------------------
    def _run(self, title: str, steps: list[Step], actions: dict[str, Callable[[], None]], dry_run: bool) -> None:
        if dry_run:
            self.report(format_plan(f"{title} (dry run: nothing is changed)", steps))
            return
        for number, step in enumerate(steps, start=1):
            self.report(f"step {number}/{len(steps)} {step.name}: {step.description}")
            actions[step.name]()

    def _record(self, action: str, started: float, outcome: str, **fields: object) -> None:
        history.append(
            self.history_path,
            {
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "user": getpass.getuser(),
                "host": socket.gethostname(),
                "env": self.env.name,
                "action": action,
                "outcome": outcome,
                "duration": round(time.monotonic() - started, 3),
                **fields,
            },
        )

    def _locked(self, command: str):
        image = f"{self.env.image_prefix}/site:{self._any_release()}"
        return EnvironmentLock(self.docker, self.env.project, image, command, self.report)

    def _any_release(self) -> str:
        for container in self._containers().values():
            if container.release and container.service.startswith("app-"):
                return container.release
        raise SwitcherError(f"{self.env.name} has no site containers; start it with `make up`")

    # -- waiting ------------------------------------------------------------------------------
    def _wait_healthy(self, color: str, timeout: float) -> ContainerInfo:
        deadline = time.monotonic() + timeout
        last_said = 0.0
        while True:
            container = self._color_container(color)
            if container is None:
                raise Unhealthy(f"app-{color} does not exist")
            if container.state == "running" and container.health == "healthy":
                return container
            if container.state in ("exited", "dead", "restarting") or container.health == "unhealthy":
                raise Unhealthy(f"app-{color} is {container.state}/{container.health}")
            now = time.monotonic()
            if now > deadline:
                raise Unhealthy(f"app-{color} not healthy after {timeout:.0f} s ({container.health})")
            if now - last_said >= 5:
                self.report(f"  app-{color}: {container.state}/{container.health}")
                last_said = now
            time.sleep(0.5)

    def _expect(self, listener: str, release: str, path: str = "/healthz", count: int = 1, timeout: float = 15) -> None:
        """`count` answers in a row with 200 and X-Release `release`, within `timeout`."""
        deadline = time.monotonic() + timeout
        good = 0
        last = None
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

    def _explain_failure(self, color: str) -> None:
        container = self._color_container(color)
        if container is None:
            return
        for line in container.health_log[-3:]:
            self.report(f"  health check of app-{color}: {line[:300]}")
        for line in self.docker.logs_tail(container.name, 15).strip().splitlines():
            self.report(f"  app-{color} log: {line[:300]}")

    # -- deploy -------------------------------------------------------------------------------
    def deploy(self, release: str, options: Options, dry_run: bool, then_promote: bool) -> None:
        check_release(release)
        status = self._status()
        idle = status.idle
        assert idle is not None
        steps = deploy_plan(idle, release)
        started = time.monotonic()
        image = f"{self.env.image_prefix}/site:{release}"
        if not self.docker.image_exists(image):
            raise NotFound(
                f"release {release} is not built: missing image {image} (run `make build RELEASE={release}`)"
            )
        if dry_run:
            self._run(f"deploy {release} to {idle}", steps, {}, dry_run=True)
            if then_promote:
                self.promote(idle, options, dry_run=True, expected_release=release)
            return
        with self._locked(f"deploy {release}"):
            previous = status.colors[idle].release
            releases = self._releases(fallback=release, **{idle: release})

            def task(command: list[str], user: str | None = None) -> Callable[[], None]:
                return lambda: self._task(command, release, releases, user=user)

            def wait_healthy() -> None:
                self._wait_healthy(idle, options.health_timeout)
                self._expect("preview", release, timeout=options.verify_timeout)

            actions = {
                "check-release": lambda: None,
                "recreate": lambda: self.stack.recreate_color(idle, releases),
                "migrate": task(["python3", "manage.py", "migrate", "--noinput"]),
                "check-deploy": task(["python3", "manage.py", "check", "--deploy"]),
                "wait-healthy": wait_healthy,
                "warm": lambda: [self.probe.get("preview", path) for path in ("/", "/", "/healthz")],
                "smoke": lambda: self._expect("preview", release, path="/", timeout=options.verify_timeout),
                "publish": task(["publish-assets", "/srv/static", "/srv/maintenance"], user="0"),
            }
            try:
                self._run(f"deploy {release} to {idle}", steps, actions, dry_run=False)
            except SwitcherError as error:
                self._explain_failure(idle)
                self.report(f"stopping app-{idle}; live traffic stays on {status.live}")
                failed = self._color_container(idle)
                if failed is not None:
                    self.docker.stop(failed.name)
                self._record(
                    "deploy", started, "failed", color=idle, release=release, previous=previous, error=str(error)
                )
                raise
            self._record("deploy", started, "ok", color=idle, release=release, previous=previous)
            self.report(f"release {release} is ready on {idle}: {self.env.preview_url}")
            if then_promote:
                self._promote_locked(idle, options, expected_release=release)

    # -- promote ------------------------------------------------------------------------------
    def promote(self, target: str | None, options: Options, dry_run: bool, expected_release: str | None = None) -> None:
        status = self._status()
        target = target or status.idle
        assert target is not None
        other_color(target)  # refuses an unknown colour
        if dry_run:
            release = expected_release or status.colors[target].release or "?"
            steps = promote_plan(target, other_color(target), release, status.live == target, options.stop_old)
            self._run(f"promote {target}", steps, {}, dry_run=True)
            return
        with self._locked(f"promote {target}"):
            self._promote_locked(target, options, expected_release)

    def _promote_locked(
        self, target: str, options: Options, expected_release: str | None = None, action: str = "promote"
    ) -> None:
        status = self._status()
        old = other_color(target)
        target_container = self._color_container(target)
        if target_container is None or not target_container.release:
            raise NotFound(f"app-{target} does not exist; deploy a release to it first")
        release = target_container.release
        if expected_release and release != expected_release:
            raise SwitcherError(f"app-{target} runs {release}, not {expected_release}")
        already_live = status.live == target
        steps = promote_plan(target, old, release, already_live, options.stop_old)
        started = time.monotonic()
        switched = False
        lb = self._lb()
        old_release = status.colors[old].release

        def gate() -> None:
            if target_container.state != "running" or target_container.health != "healthy":
                raise Unhealthy(f"app-{target} is {target_container.state}/{target_container.health}, not healthy")
            self._expect("preview", release, timeout=options.verify_timeout)

        def nginx_check() -> None:
            code, output = self.docker.exec_output(lb, ["nginx", "-t", "-q"])
            if code != 0:
                raise ConfigError(f"the lb's nginx configuration is invalid: {output.strip().splitlines()[-1:]}")

        def publish() -> None:
            if self.docker.exec_status(lb, ["test", "-f", f"/srv/static/.releases/{release}.json"]) != 0:
                self._task(["publish-assets", "/srv/static", "/srv/maintenance"], release, user="0")

        def switch() -> None:
            nonlocal switched
            maintenance = MaintenanceSwitch(self.docker, lb)
            if maintenance.read() is not None:  # the page of the release that is about to be live
                maintenance.refresh_page(release)
            self._set_live(lb, target)
            switched = True

        def verify() -> None:
            try:
                self._expect("live", release, count=options.verify_requests, timeout=options.verify_timeout)
            except Unhealthy:
                if switched:
                    self.report(f"verification failed: switching live traffic back to {old}")
                    self._set_live(lb, old)
                raise

        def drain() -> None:
            self._drain(old, options.drain_timeout)

        def cron() -> None:
            self._cron_follow(release)

        actions = {
            "gate": gate,
            "nginx-check": nginx_check,
            "publish": publish,
            "switch": switch,
            "verify": verify,
            "drain": drain,
            "cron": cron,
            "stop-old": lambda: self._stop_color(old),
            "prune": lambda: self._prune(quiet=True),
        }
        try:
            self._run(f"{action} {target}", steps, actions, dry_run=False)
        except SwitcherError as error:
            self._record(
                action,
                started,
                "failed",
                color=target,
                release=release,
                previous_color=old,
                previous_release=old_release,
                error=str(error),
            )
            raise
        self._record(
            action, started, "ok", color=target, release=release, previous_color=old, previous_release=old_release
        )
        self.report(f"{target} is live with release {release}; {old} ({old_release}) is idle")

    def _stop_color(self, color: str) -> None:
        container = self._color_container(color)
        if container is not None:
            self.docker.stop(container.name, timeout=30)

    def _set_live(self, lb: str, color: str) -> None:
        command = f"touch {LIVE_FLAG}" if color == "green" else f"rm -f {LIVE_FLAG}"
        code, output = self.docker.exec_output(lb, ["sh", "-c", command])
        green = self.docker.exec_status(lb, ["test", "-f", LIVE_FLAG]) == 0
        if code != 0 or green != (color == "green"):
            raise SwitcherError(f"could not switch the lb to {color}: {output.strip()[:200]}")

    def _drain(self, color: str, timeout: float) -> None:
        container = self._color_container(color)
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

    # -- cron ---------------------------------------------------------------------------------
    def _cron_follow(self, release: str) -> None:
        """Cron runs the live release: stop the old scheduler (its job may finish), start the new."""
        current = self._containers().get("cron")
        releases = self._releases(cron=release)
        if self.stack.cron_stopped_by_operator():
            if current is None or current.release != release:
                self.stack.create_cron_stopped(releases)
            self.report("  cron stays stopped (`switcher cron start` starts it)")
            return
        if current is not None and current.release == release and current.state == "running":
            return
        self.stack.start_cron(releases)

    def cron(self, action: str) -> dict:
        status = self._status()
        lb = self._lb()
        live_release = status.live_release or self._any_release()
        if action in ("stop", "start"):
            started = time.monotonic()
            with self._locked(f"cron {action}"):
                if action == "stop":
                    self.docker.exec_output(lb, ["touch", CRON_STOPPED_FLAG])
                    current = self._containers().get("cron")
                    if current is not None:
                        self.report("stopping cron; a running job may finish first")
                        self.docker.stop(current.name, timeout=int(self.env.settings["CRON_STOP_TIMEOUT"]))
                else:
                    self.docker.exec_output(lb, ["rm", "-f", CRON_STOPPED_FLAG])
                    self.stack.start_cron(self._releases(cron=live_release))
                self._record("cron", started, "ok", state=action, release=live_release)
        current = self._containers().get("cron")
        return {
            "state": current.state if current else "missing",
            "release": current.release if current else None,
            "stopped_by_operator": self.stack.cron_stopped_by_operator(),
            "live_release": live_release,
        }

    # -- site configuration files -------------------------------------------------------------
    def config_put(self, name: str, content: bytes) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}", name):
            raise ConfigError(f"'{name}' is not a plain file name (letters, digits, _ . -)")
        self._status()
        started = time.monotonic()
        with self._locked(f"config put {name}"):
            script = 'cd /var/lib/site/config && umask 022 && cat > ".$1.tmp" && mv ".$1.tmp" "$1"'
            self._task(["sh", "-c", script, "sh", name], user="0", stdin=content)
            self._record("config", started, "ok", file=name, bytes=len(content))

    def config_list(self) -> list[str]:
        self._status()
        output = self._task(["sh", "-c", 'cd /var/lib/site/config && for f in *; do [ -f "$f" ] && echo "== $f"; done'])
        return [line[3:] for line in output.splitlines() if line.startswith("== ")]

    # -- static files -------------------------------------------------------------------------
    def prune(self, dry_run: bool) -> list[str]:
        self._status()
        if dry_run:
            return self._retained()
        with self._locked("prune"):
            return self._prune(quiet=False)

    def _retained(self) -> list[str]:
        code, output = self.docker.exec_output(self._lb(), ["ls", "-t", "/srv/static/.releases"])
        published = [name[: -len(".json")] for name in output.split() if name.endswith(".json")] if code == 0 else []
        in_use = [c.release or "" for name, c in self._containers().items() if name.startswith("app-")]
        return retained_releases(published, in_use, int(self.env.settings["RETAIN_RELEASES"]))

    def _prune(self, quiet: bool) -> list[str]:
        keep = self._retained()
        self._task(["prune-static", "/srv/static", *keep], user="0")
        if not quiet:
            self.report(f"retained the static files of: {', '.join(keep)}")
        return keep

    # -- maintenance --------------------------------------------------------------------------
    def maintenance(self, on: bool, message: str | None, retry_after: int, allow: list[str]) -> None:
        status = self._status()
        started = time.monotonic()
        with self._locked("maintenance " + ("on" if on else "off")):
            switch = MaintenanceSwitch(self.docker, self._lb())
            release = status.live_release or self._any_release()
            if on:
                token = self.stack.credentials()["MAINTENANCE_TOKEN"]
                switch.turn_on(release, token, message, retry_after, allow)
            else:
                switch.turn_off()
            self._record(
                "maintenance", started, "ok", state="on" if on else "off", release=release, message=message or ""
            )

    def maintenance_token(self) -> str:
        return self.stack.credentials()["MAINTENANCE_TOKEN"]

    # -- rollback -----------------------------------------------------------------------------
    def rollback(self, options: Options, dry_run: bool) -> None:
        status = self._status()
        target = status.idle
        assert target is not None
        container = self._color_container(target)
        needs_start = container is None or container.state != "running"
        if dry_run:
            if needs_start:
                self.report(f"rollback: start app-{target} again from its recorded release first")
            self.promote(target, options, dry_run=True)
            return
        with self._locked(f"rollback to {target}"):
            if needs_start:
                self._restart_color(target, container)
            self._promote_locked(target, options, action="rollback")

    def _restart_color(self, color: str, container: ContainerInfo | None) -> None:
        if container is not None:
            self.report(f"starting app-{color} (release {container.release}) again")
            self.docker.start(container.name)
        else:
            release = self._recorded_release(color)
            self.report(f"recreating app-{color} with its recorded release {release}")
            self.stack.recreate_color(color, self._releases(fallback=release, **{color: release}))
        self._wait_healthy(color, 120)

    def _recorded_release(self, color: str) -> str:
        for record in reversed(history.read(self.history_path)):
            if record.get("outcome") != "ok":
                continue
            if record.get("color") == color and record.get("release"):
                return record["release"]
            if record.get("previous_color") == color and record.get("previous_release"):
                return record["previous_release"]
        raise NotFound(f"no release of {color} is recorded; deploy one with `switcher deploy RELEASE`")


COLOR_CHOICES = COLORS
