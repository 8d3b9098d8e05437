"""promote and rollback: their named steps (plans.promote_plan), in order, over one engine
interface (engine.py), the same on one Docker engine and on a Swarm.

Every decision about colours is made from what runs, read under the environment's lock. A
colour goes live only when its deploy record says its release deployed ok (colors.py); a
release goes live only on a database it can serve (migrations.behind_refusal); every lb takes
the switch or none keeps it (switch.py); a verification that fails switches every lb back.
Every step is safe to repeat: a switcher killed at any point leaves a serving site and the
same command run again finishes the job.
"""

from __future__ import annotations

import time

from switcher import colors, history, migrations
from switcher.config import other_color
from switcher.engine import ColorState, Engine
from switcher.errors import NotFound, Refused, SwitcherError, Unhealthy
from switcher.plans import Options, promote_plan, run_steps
from switcher.switch import switch_all


def refuse_behind(engine: Engine, release: str, ahead: list[str]) -> None:
    """Refuse to run `release` live on a database that holds migrations it does not know (a
    newer release's) that older code cannot run beside; say so when they are compatible."""
    if not ahead:
        return
    refusal = migrations.behind_refusal(history.read(engine.store).records, release, ahead)
    if refusal is not None:
        raise Refused(refusal)
    engine.report(f"  the database is ahead of {release} by {len(ahead)} compatible migration(s): it can serve")


class Promotion:
    def __init__(self, engine: Engine) -> None:
        self.engine, self.report = engine, engine.report

    # -- promote ------------------------------------------------------------------------------
    def promote(self, target: str | None, options: Options, dry_run: bool, expected_release: str | None = None) -> None:
        if target is not None:
            other_color(target)  # refuses an unknown colour
        if dry_run:
            routing = self.engine.routing()
            color = target or other_color(routing.required())
            release = expected_release or self.engine.color(color).release or "?"
            steps = promote_plan(color, other_color(color), release, routing.live == color, options.stop_old)
            run_steps(self.report, f"promote {color}", steps, {}, dry_run=True)
            return
        with self.engine.locked(f"promote {target or 'the idle colour'}"):
            self.promote_locked(target, options, expected_release)

    def promote_locked(
        self, target: str | None, options: Options, expected_release: str | None = None, action: str = "promote"
    ) -> None:
        """promote's steps; the caller holds the lock."""
        engine = self.engine
        started = time.monotonic()
        routing = engine.routing()  # under the lock
        if target is None:
            target = other_color(routing.required())
        old = other_color(target)
        release = engine.color(target).release
        if release is None:
            raise NotFound(f"app-{target} does not exist; deploy a release to it first")
        if expected_release and release != expected_release:
            raise SwitcherError(f"app-{target} runs {release}, not {expected_release}")
        already_live = routing.live == target
        if not already_live:
            reason = colors.refusal(target, colors.read_record(engine.store, target), release)
            if reason is not None:
                raise Refused(f"will not make {target} live: {reason}; deploy a release to it first")
        old_release = engine.color(old).release
        lbs = engine.lbs()  # every lb is switched at once
        switched = False

        def check_schema() -> None:
            refuse_behind(engine, release, engine.migrations_ahead(target, release))

        def switch() -> None:
            nonlocal switched
            engine.refresh_maintenance(release)  # the page of the release that is about to be live
            switch_all(lbs, target, old, self.report)
            switched = True

        def verify() -> None:
            try:
                engine.verify(release, options.verify_requests, options.verify_timeout)
            except Unhealthy:
                if switched:
                    self.report(f"verification failed: switching every lb back to {old}")
                    switch_all(lbs, old, target, self.report)
                raise
            engine.commit_live(target, release)  # verified: an lb that missed the switch follows it once back

        actions = {
            "gate": lambda: engine.gate(target, release, options.verify_timeout),
            "check-schema": check_schema,
            "nginx-check": engine.check_lbs,
            "publish": lambda: engine.publish(release),
            "switch": switch,
            "verify": verify,
            "cron": lambda: engine.cron_follow(release, options.health_timeout),
            "drain": lambda: engine.drain(old, options.drain_timeout),
            "stop-old": lambda: engine.stop_color(old),
            "prune": engine.prune,
        }
        fields = {"color": target, "release": release, "previous_color": old, "previous_release": old_release}
        steps = promote_plan(target, old, release, already_live, options.stop_old)
        try:
            run_steps(self.report, f"{action} {target}", steps, actions, dry_run=False)
        except SwitcherError as error:
            self._record(action, started, "failed", **fields, error=str(error))
            raise
        self._record(action, started, "ok", **fields, lbs=len(lbs))
        where = f" on {len(lbs)} lbs" if len(lbs) > 1 else ""
        self.report(f"{target} is live with release {release}{where}; {old} ({old_release}) is idle")

    # -- rollback -----------------------------------------------------------------------------
    def rollback(self, options: Options, dry_run: bool) -> None:
        """The idle colour goes live again, brought back first when it is stopped or gone, or
        to its last good release when its own did not deploy ok."""
        if dry_run:
            target = self._idle()
            plan = self._rollback_source(target, self.engine.color(target))
            if plan is not None:
                self.report(f"rollback: first {plan[1]}")
            self.promote(target, options, dry_run=True)
            return
        with self.engine.locked("rollback"):
            target = self._idle()  # under the lock
            plan = self._rollback_source(target, self.engine.color(target))
            if plan is not None:
                release, why = plan
                self.report(why)
                self.engine.bring_back(target, release, options.health_timeout)
                colors.write_record(self.engine.store, target, colors.ready(release))
            self.promote_locked(target, options, action="rollback")

    def _idle(self) -> str:
        return other_color(self.engine.routing().required())

    def _rollback_source(self, target: str, state: ColorState) -> tuple[str, str] | None:
        """None when the idle colour can go live as it is; else the release to bring it back
        with and why. Refuses when it holds a release that did not deploy ok and no earlier
        release of it is known good."""
        record = colors.read_record(self.engine.store, target)
        reason = colors.refusal(target, record, state.release)
        if reason is None and state.release is not None:
            if state.running:
                return None
            return state.release, f"starting app-{target} (release {state.release}) again"
        if record is None:  # an environment from before deploy records: trust the history
            release = self._recorded_release(target)
            return release, f"recreating app-{target} with its recorded release {release}"
        good = record.last_ok
        if not good or not self.engine.has_release(good):
            missing = "no earlier release of it is recorded ok" if not good else f"its last good release {good} is gone"
            raise Refused(f"cannot roll back to {target}: {reason or 'it has no container'}, and {missing}")
        return good, f"{reason or f'app-{target} is gone'}: rolling {target} back to its last good release {good}"

    def _recorded_release(self, color: str) -> str:
        for record in reversed(history.read(self.engine.store).records):
            if record.get("outcome") != "ok":
                continue
            if record.get("color") == color and record.get("release"):
                return record["release"]
            if record.get("previous_color") == color and record.get("previous_release"):
                return record["previous_release"]
        raise NotFound(f"no release of {color} is recorded; deploy one with `switcher deploy RELEASE`")

    def _record(self, action: str, started: float, outcome: str, **fields: object) -> None:
        history.record(self.engine.store, self.engine.env.name, action, started, outcome, **fields)
