"""The environment's other changes, each under the lock and in the history: maintenance mode,
the site's cron, its configuration files and the pruning of old static files."""

from __future__ import annotations

import ipaddress
import time

from switcher.certificates import Certificates
from switcher.compose_engine import ComposeEngine
from switcher.config import COLORS, CRON_STOPPED_FLAG, check_config_name, parse_networks
from switcher.credentials import CLUSTER_ONLY, RECREATES, ROTATABLE, refuse_on_one_host, refuse_rotating_live, rotate
from switcher.errors import NotFound
from switcher.maintenance import MaintenanceSwitch
from switcher.maintenance_mode import set_maintenance
from switcher.plans import retained_releases
from switcher.schema import Schema
from switcher.state import StackStatus
from switcher.switch import LbContainer


class Chores(Schema, Certificates):
    # -- maintenance --------------------------------------------------------------------------
    def maintenance(self, on: bool, message: str | None, retry_after: int, allow: list[str]) -> None:
        networks = parse_networks(allow, "--allow")  # before anything changes
        self.status()
        self._note_unseen(networks)
        token = self.credentials()["MAINTENANCE_TOKEN"]
        set_maintenance(ComposeEngine(self), on, token, message, retry_after, networks)

    def _note_unseen(self, networks: list[str]) -> None:
        """Loopback clients reach the lb through Docker's userland proxy, from the network's
        gateway: an allowed loopback address would never match."""
        for network in networks:
            if ipaddress.ip_network(network).is_loopback:
                attached = self.docker.inspect(self.lb()).get("NetworkSettings", {}).get("Networks") or {}
                gateway = next((n.get("Gateway") for n in attached.values() if n.get("Gateway")), "its gateway")
                self.report(
                    f"note: the lb never sees {network}: clients on this host come through Docker's "
                    f"userland proxy, from {gateway}; use the bypass token (`switcher maintenance token`)"
                )

    def maintenance_token(self) -> str:
        return self.credentials()["MAINTENANCE_TOKEN"]

    # -- secrets ------------------------------------------------------------------------------
    def rotate_secret(self, name: str) -> list[str]:
        """A new value for one secret, stored and applied; returns what was redone."""
        key = ROTATABLE[name]
        if key in CLUSTER_ONLY:
            raise refuse_on_one_host(name)
        self.status()
        started = time.monotonic()
        recreates = key in RECREATES
        with self.locked(f"secrets rotate {name}"):
            status = self.status()  # under the lock: which colour is live and running now
            switch = MaintenanceSwitch(self.docker, self.lb())
            state = switch.read()
            if recreates and state is None:
                raise refuse_rotating_live(name)
            values = self.stack.credentials(fresh=rotate(self.store, self.env.name, key))
            done = ["stored a new value"]
            if key == "MAINTENANCE_TOKEN" and state is not None:
                allow = state.get("allow") or []
                switch.turn_on(
                    state.get("release") or "",
                    values[key],
                    state.get("message"),
                    state.get("retry_after") or 300,
                    allow,
                )
                done.append("maintenance mode now takes the new token")
            if key in ("DB_PASSWORD", "DB_SUPERUSER_PASSWORD"):
                self.stack.apply_roles(values)
                done.append("set it in the database")
            if recreates:
                done += self._recreate_site(status)
            self.record("secrets", started, "ok", secret=name, done=done)
        return done

    def _recreate_site(self, status: StackStatus) -> list[str]:
        """Both colours (the idle one first) and cron again, each with its own release and the
        new credentials. Stopped colours get them with their next deploy."""
        done = []
        releases = self.releases()
        for color in (status.idle, status.live):
            assert color is not None
            if status.colors[color].state != "running":
                done.append(f"app-{color} is stopped: it gets the new value when it is deployed")
                continue
            self.report(f"recreating app-{color} with the new value")
            self.stack.recreate_color(color, releases)
            self.wait_healthy(color, float(self.env.settings["HEALTH_TIMEOUT"]))
            done.append(f"recreated app-{color}")
        if self.containers().get("cron") is not None:
            if self.stack.cron_stopped_by_operator():
                self.stack.create_cron_stopped(releases)
            else:
                self.stack.start_cron(releases)
            done.append("recreated cron")
        return done

    # -- operating the site -------------------------------------------------------------------
    def manage(self, arguments: list[str], terminal: bool) -> int:
        """`manage.py ARGUMENTS` in a one-off container of the live release (the stack's volumes
        and settings), attached to this terminal or pipe; its exit code. Recorded in the history
        by its command name only (arguments may hold anything)."""
        status = self.status()
        release = status.live_release or self.any_release()
        started = time.monotonic()
        code = self.stack.attach_task(self.releases(), release, ["python3", "manage.py", *arguments], terminal)
        command = arguments[0] if arguments else "help"
        self.record("manage", started, "ok" if code == 0 else "failed", release=release, command=command, exit=code)
        return code

    def log_target(self, service: str) -> str:
        """The container of `service`: live (default), idle, blue, green, lb, cron, worker, beat,
        broker, db, memcached."""
        if service in ("live", "idle"):
            status = self.status()
            service = (status.live if service == "live" else status.idle) or ""
        name = f"app-{service}" if service in COLORS else service
        container = self.containers().get(name)
        if container is None:
            raise NotFound(f"{self.env.name} has no {name} container")
        return container.name

    # -- cron ---------------------------------------------------------------------------------
    def cron_follow(self, release: str) -> None:
        """Cron, beat and the workers run the live release: stop the old ones (a job or task may
        finish), start the new."""
        current = self.containers().get("cron")
        releases = self.releases(cron=release)
        if self.stack.cron_stopped_by_operator():
            if current is None or current.release != release:
                self.stack.create_cron_stopped(releases)
            else:
                self.stack.start_workers(releases)
            self.report("  cron stays stopped (`switcher cron start` starts it)")
            return
        self.stack.start_cron(releases)

    def cron(self, action: str) -> dict:
        self.status()
        lb = self.lb()
        if action in ("stop", "start"):
            started = time.monotonic()
            with self.locked(f"cron {action}"):
                live_release = self.status().live_release or self.any_release()  # under the lock
                if action == "stop":
                    self.docker.exec_output(lb, ["touch", CRON_STOPPED_FLAG])
                    self.report("stopping cron (and beat); a running job may finish first")
                    self.stack.stop_schedulers()
                else:
                    self.docker.exec_output(lb, ["rm", "-f", CRON_STOPPED_FLAG])
                    self.stack.start_cron(self.releases(cron=live_release))
                self.record("cron", started, "ok", state=action, release=live_release)
        live_release = self.status().live_release or self.any_release()
        current = self.containers().get("cron")
        return {
            "state": current.state if current else "missing",
            "release": current.release if current else None,
            "stopped_by_operator": self.stack.cron_stopped_by_operator(),
            "live_release": live_release,
        }

    # -- site configuration files -------------------------------------------------------------
    def config_put(self, name: str, content: bytes) -> None:
        check_config_name(name)
        self.status()
        started = time.monotonic()
        with self.locked(f"config put {name}"):
            script = 'cd /var/lib/site/config && umask 027 && cat > ".$1.tmp" && mv ".$1.tmp" "$1"'
            self.task(["sh", "-c", script, "sh", name], stdin=content)  # as the site's user, who owns it
            self.record("config", started, "ok", file=name, bytes=len(content))

    def config_list(self) -> list[str]:
        self.status()
        output = self.task(["sh", "-c", 'cd /var/lib/site/config && for f in *; do [ -f "$f" ] && echo "== $f"; done'])
        return [line[3:] for line in output.splitlines() if line.startswith("== ")]

    # -- static files -------------------------------------------------------------------------
    def prune(self, dry_run: bool) -> list[str]:
        self.status()
        if dry_run:
            return self._retained()
        with self.locked("prune"):
            return self.prune_static(quiet=False)

    def _retained(self) -> list[str]:
        published = LbContainer(self.docker, self.lb()).published_releases()
        in_use = [c.release or "" for name, c in self.containers().items() if name.startswith("app-")]
        return retained_releases(published, in_use, int(self.env.settings["RETAIN_RELEASES"]))

    def prune_static(self, quiet: bool) -> list[str]:
        keep = self._retained()
        self.task(["prune-static", "/srv/static", *keep], user="0")
        if not quiet:
            self.report(f"retained the static files of: {', '.join(keep)}")
        return keep
