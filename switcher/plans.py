"""What deploy, promote and rollback will do, as named steps: pure, printed by --dry-run and
followed step by step by deployment.py and promotion.py on every engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from switcher.config import LIVE_FLAG


@dataclass(frozen=True)
class Step:
    name: str
    description: str


@dataclass(frozen=True)
class Options:
    """All defaults of a switch in one place."""

    health_timeout: float = 120.0
    verify_requests: int = 5
    verify_timeout: float = 15.0
    drain_timeout: float = 30.0
    stop_old: bool = False
    # deploy: migrations the live release cannot run beside are applied behind the maintenance
    # page (then the release is promoted and maintenance turned off), or accepted as they are.
    maintenance: bool = False
    accept_incompatible: bool = False


def deploy_plan(idle: str, release: str, smoke_paths: list[str] | None = None, maintenance: bool = False) -> list[Step]:
    """deploy's steps, the same on every engine (the preview: one engine's listener on
    127.0.0.1; on a Swarm the lbs' own, asked from a job on the stack's network)."""
    paths = ", ".join(smoke_paths or ["/"])
    steps = [
        Step("check-release", f"refuse unless the images of release {release} exist (a Swarm: in REGISTRY)"),
        Step(
            "check-migrations",
            f"ask {release} what its unapplied migrations do; refuse any the live release cannot run beside"
            + (" (allowed: --maintenance)" if maintenance else " (unless --maintenance or --accept-incompatible)"),
        ),
        Step("recreate", f"app-{idle} runs release {release} (one engine: recreated; a Swarm: its service updated)"),
        Step("backup", "back up the database first if there is anything to migrate"),
    ]
    if maintenance:
        steps.append(Step("maintenance-on", "turn maintenance on (200 or the 503 page only); stop cron, beat, workers"))
    steps += [
        Step("migrate", f"run `manage.py migrate` of {release} with lock_timeout MIGRATE_LOCK_TIMEOUT"),
        Step("check-deploy", f"run `manage.py check --deploy` in a one-off container of {release}"),
    ]
    steps += [
        Step(
            "wait-healthy",
            f"wait until app-{idle} runs {release}, healthy (one engine: /healthz answers through preview; "
            "a Swarm: every task)",
        ),
        Step("warm", f"send a few requests to app-{idle} through preview"),
        Step("smoke", f"check that preview answers {paths} (2xx, or a redirect within the site) from {release}"),
    ]
    steps.append(Step("publish", f"publish the static files and maintenance page of {release} (no overwrite)"))
    return steps


def promote_plan(target: str, old: str, release: str, already_live: bool, stop_old: bool) -> list[Step]:
    """promote's steps, the same on every engine (one lb on one engine, one per lb node on a Swarm)."""
    flag = f"create {LIVE_FLAG}" if target == "green" else f"remove {LIVE_FLAG}"
    steps = []
    if not already_live:
        steps += [
            Step("gate", f"check app-{target} runs {release}, healthy (one engine: answering through preview)"),
            Step("check-schema", f"refuse if the database has migrations {release} lacks that older code cannot bear"),
            Step("nginx-check", "validate every lb's nginx configuration (nginx -t)"),
            Step("publish", f"make sure the static files of {release} are published on every lb"),
            Step(
                "switch",
                f"every lb sends new requests to {target}: {flag} (atomic; nginx reads it per request); "
                "each read back, else every lb switched back",
            ),
        ]
    steps += [
        Step("verify", f"check that every lb's live listener answers with {release}; else switch every lb back"),
        Step("cron", f"hand cron over to {release}: the old scheduler finishes its job and stops first"),
        Step("drain", f"wait until app-{old} has finished its requests in flight (it stays warm)"),
    ]
    if stop_old:
        steps.append(Step("stop-old", f"stop app-{old}"))
    steps.append(Step("prune", "remove static files no retained release references"))
    return steps


def retained_releases(published_newest_first: list[str], in_use: list[str], retain: int) -> list[str]:
    """The releases whose static files stay: those running, then the newest published, up to
    `retain` in all (more when more than `retain` are running)."""
    kept = list(dict.fromkeys(r for r in in_use if r))
    for release in published_newest_first:
        if len(kept) >= retain:
            break
        if release not in kept:
            kept.append(release)
    return kept


def format_plan(title: str, steps: list[Step]) -> str:
    lines = [title]
    lines += [f"  {number}. {step.name}: {step.description}" for number, step in enumerate(steps, start=1)]
    return "\n".join(lines)


def run_steps(
    report: Callable[[str], None],
    title: str,
    steps: list[Step],
    actions: Mapping[str, Callable[[], object]],
    dry_run: bool,
) -> None:
    """The named steps of a command, each reported as it starts (or all, for --dry-run)."""
    if dry_run:
        report(format_plan(f"{title} (dry run: nothing is changed)", steps))
        return
    for number, step in enumerate(steps, start=1):
        report(f"step {number}/{len(steps)} {step.name}: {step.description}")
        actions[step.name]()
