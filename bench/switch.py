"""Issue #3's benchmark: the same load against three ways of shipping a release of one site.

- `docker compose up -d --force-recreate` of the live app service (what most compose users do);
- `switcher promote` of the healthy idle colour;
- a minimal hand-written switch: rewrite the upstream address in nginx's config and reload.

Each is run ROUNDS times in both directions under 16 keep-alive clients (bounded in time).
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.integration.load import Answer, Load
from tests.integration.stackenv import ROOT, StackEnv


@dataclass(frozen=True)
class Run:
    failed: int
    total: int
    gap_ms: float
    steady_p50: float
    steady_p99: float
    window_p50: float
    window_p99: float
    window_max: float
    switch_seconds: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def longest_gap(answers: list[Answer], start: float, end: float) -> float:
    """The longest time within [start, end] with no successful response finishing."""
    moments = sorted([start, end, *(a.finished for a in answers if a.status == 200 and start <= a.finished <= end)])
    return max(b - a for a, b in itertools.pairwise(moments)) if len(moments) > 1 else end - start


def measure(env: StackEnv, action: Callable[[], None], steady: float = 3.0, after: float = 1.5) -> Run:
    with Load(env.live_url + "/press/", str(env.cert), max_seconds=120) as load:
        time.sleep(steady)
        started = time.monotonic()
        action()
        ended = time.monotonic()
        time.sleep(after)
    return summarize(load.answers, started, ended)


def summarize(answers: list[Answer], started: float, ended: float) -> Run:
    """The answers of a load around one switch that ran from `started` to `ended`."""
    window_end = ended + 1.0
    steady_ms = [1000 * (a.finished - a.started) for a in answers if a.finished < started and a.status == 200]
    window = [a for a in answers if a.finished >= started and a.started <= window_end]
    window_ms = [1000 * (a.finished - a.started) for a in window]
    return Run(
        failed=sum(1 for a in answers if a.status != 200),
        total=len(answers),
        gap_ms=1000 * longest_gap(answers, started, window_end),
        steady_p50=percentile(steady_ms, 0.5),
        steady_p99=percentile(steady_ms, 0.99),
        window_p50=percentile(window_ms, 0.5),
        window_p99=percentile(window_ms, 0.99),
        window_max=max(window_ms, default=0.0),
        switch_seconds=ended - started,
    )


def sh(env: StackEnv, service: str, script: str) -> None:
    env.exec(service, ["sh", "-c", script])


def run_methods(env: StackEnv, next_release: str, rounds: int) -> dict[str, list[Run]]:
    def switcher(*args: str) -> None:
        result = env.switcher(*args, "--env", env.name)
        assert result.returncode == 0, result.stderr

    def compose_recreate() -> None:
        live = env.status()["live"]
        subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                env.project,
                "-f",
                str(ROOT / "compose/stack.yml"),
                "up",
                "-d",
                "--no-deps",
                "--force-recreate",
                "--wait",
                f"app-{live}",
            ],
            env=compose_env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    addresses = [env.settings["SUBNET"].rsplit(".", 1)[0] + suffix for suffix in (".11:8000", ".12:8000")]

    conf = "/etc/nginx/switcher/site.conf"

    def nginx_reload() -> None:
        # The reference: point app_blue's server line at green's address, then reload.
        sh(
            env,
            "lb",
            f"sed -i '0,/server {addresses[0]} /s//server {addresses[1]} /' {conf} && nginx -t -q && nginx -s reload",
        )

    def restore_nginx() -> None:  # not measured: put the rendered configuration back
        sh(
            env,
            "lb",
            f"sed -i '0,/server {addresses[1]} /s//server {addresses[0]} /' {conf} && nginx -t -q && nginx -s reload",
        )
        time.sleep(2)

    compose_env = compose_environment(env)
    methods: dict[str, list[Run]] = {"compose --force-recreate": [], "switcher promote": [], "nginx reload": []}
    for _ in range(rounds):
        # promote there and back, so blue is live again for the reference, which moves blue's route
        methods["switcher promote"].append(measure(env, lambda: switcher("promote")))
        methods["switcher promote"].append(measure(env, lambda: switcher("promote")))
        methods["nginx reload"].append(measure(env, nginx_reload))
        restore_nginx()
        methods["compose --force-recreate"].append(measure(env, compose_recreate))
    return methods


def compose_environment(env: StackEnv) -> dict[str, str]:
    """The variables switcher gives compose, so the bench's own compose call matches them."""
    import os

    from switcher.compose import compose_variables
    from switcher.config import Paths, load_environment
    from switcher.credentials import ensure_credentials
    from switcher.runtime import Docker
    from switcher.stack import plan_up
    from switcher.state import read_green_flag
    from switcher.store import EnvironmentStore

    paths = Paths(root=ROOT, env_dir=env.directory / "env", state_dir=env.directory / "state")
    config = load_environment(env.name, paths)
    docker = Docker()
    containers = docker.project_containers(config.project)
    plan = plan_up(config, containers, read_green_flag(docker, containers), env.release)
    credentials = ensure_credentials(EnvironmentStore(docker, config.project), config.name, create=False)
    return {**os.environ, **compose_variables(config, plan.releases, credentials)}


def timing(env: StackEnv, rounds: int = 5) -> tuple[float, float]:
    """Median wall time of `switcher status` and of `switcher promote` of a healthy colour."""
    status, promote = [], []
    for _ in range(rounds):
        started = time.monotonic()
        assert env.switcher("status", "--env", env.name).returncode == 0
        status.append(time.monotonic() - started)
        started = time.monotonic()
        assert env.switcher("promote", "--env", env.name, "--drain-timeout", "0").returncode == 0
        promote.append(time.monotonic() - started)
    return statistics.median(status), statistics.median(promote)


def report(methods: dict[str, list[Run]]) -> str:
    headers = [
        "method",
        "failed / requests",
        "longest gap ms",
        "steady p50/p99 ms",
        "switch p50/p99/max ms",
        "p99 ratio",
        "switch s",
    ]
    rows = []
    for name, runs in methods.items():
        failed = sum(r.failed for r in runs)
        total = sum(r.total for r in runs)
        steady99 = statistics.median(r.steady_p99 for r in runs)
        window99 = statistics.median(r.window_p99 for r in runs)
        rows.append(
            [
                name,
                f"{failed} / {total}"
                + (f" (in {sum(1 for r in runs if r.failed)} of {len(runs)} runs)" if failed else ""),
                f"{max(r.gap_ms for r in runs):.0f}",
                f"{statistics.median(r.steady_p50 for r in runs):.0f} / {steady99:.0f}",
                f"{statistics.median(r.window_p50 for r in runs):.0f} / {window99:.0f} / "
                f"{max(r.window_max for r in runs):.0f}",
                f"{window99 / steady99:.2f}" if steady99 else "-",
                f"{statistics.median(r.switch_seconds for r in runs):.2f}",
            ]
        )
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
