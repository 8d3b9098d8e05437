"""Running the stack's compose file for one environment.

`compose_variables` (pure) says what every ${VARIABLE} of compose/stack.yml is; `Compose`
runs `docker compose` with them. Kept apart so the variables are unit-tested without Docker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from switcher.config import Environment, Paths
from switcher.errors import DockerUnavailable, SwitcherError, last_lines


@dataclass(frozen=True)
class Releases:
    """Which release each part of the stack runs."""

    blue: str
    green: str
    stack: str  # lb, db and memcached
    cron: str = ""  # the live release, once cron runs; empty means blue's

    def for_color(self, color: str) -> str:
        return self.blue if color == "blue" else self.green


def compose_variables(
    env: Environment,
    releases: Releases,
    credentials: Mapping[str, str],
    task_release: str | None = None,
) -> dict[str, str]:
    """Every variable compose/stack.yml interpolates, as strings."""
    variables = dict(env.settings)
    variables.pop("TLS_CERT", None)
    variables.pop("TLS_KEY", None)
    variables.update(
        BLUE_RELEASE=releases.blue,
        GREEN_RELEASE=releases.green,
        STACK_RELEASE=releases.stack,
        TASK_RELEASE=task_release or releases.blue,
        CRON_RELEASE=releases.cron or releases.blue,
        BLUE_ADDR=env.color_address("blue"),
        GREEN_ADDR=env.color_address("green"),
        DYNAMIC_RANGE=env.dynamic_range,
        # memcached's own memory plus room for its connections and bookkeeping.
        MEMCACHED_LIMIT_MB=str(int(env.settings["MEMCACHED_MEMORY_MB"]) + 64),
    )
    variables.update(credentials)
    return variables


def base_command(paths: Paths, env: Environment) -> list[str]:
    return [
        "docker",
        "compose",
        "--project-name",
        env.project,
        "--project-directory",
        str(paths.root / "compose"),
        "--file",
        str(paths.compose_file),
        # The Procfile's processes and their broker: only ever started by name, for a release
        # that declares them; active so that `down` and status see them.
        "--profile",
        "workers",
        # TLS_MODE=acme's renewal service: also only started by name (switcher up).
        "--profile",
        "acme",
    ]


@dataclass(frozen=True)
class ComposeResult:
    returncode: int
    output: str


class Compose:
    """`docker compose` for one environment, with its variables in the process environment."""

    def __init__(self, paths: Paths, env: Environment, variables: Mapping[str, str]) -> None:
        if shutil.which("docker") is None:
            raise DockerUnavailable("the docker command is not installed")
        self.command = base_command(paths, env)
        self.variables = dict(variables)

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        capture: bool = True,
        timeout: float = 900,
        stdin: bytes | None = None,
    ) -> ComposeResult:
        process_env = {**os.environ, **self.variables}
        try:
            completed = subprocess.run(
                [*self.command, *args],
                env=process_env,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.STDOUT if capture else None,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SwitcherError(f"docker compose {' '.join(args)} did not finish in {timeout:.0f} s") from None
        output = (completed.stdout or b"").decode("utf-8", "replace")
        if completed.returncode != 0 and "is not a docker command" in output:
            raise DockerUnavailable("Compose v2 is missing (docker compose); run scripts/host-deps.sh")
        if check and completed.returncode != 0:
            raise SwitcherError(f"docker compose {args[0]} failed: {last_lines(output, 3) or 'no output'}")
        return ComposeResult(completed.returncode, output)

    def attach(self, args: Sequence[str]) -> int:
        """Run with this process's own stdin, stdout and stderr (an operator at a terminal, or a
        pipe), for as long as it takes; the exit code as it is."""
        try:
            return subprocess.run([*self.command, *args], env={**os.environ, **self.variables}, check=False).returncode
        except KeyboardInterrupt:
            return 130

    def config_hashes(self, services: Sequence[str]) -> dict[str, str]:
        """What compose would label each service's container with (com.docker.compose.config-hash)."""
        result = self.run(["config", "--hash", ",".join(services)])
        hashes = {}
        for line in result.output.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in services:
                hashes[parts[0]] = parts[1]
        return hashes

    def service_definitions(self) -> dict[str, dict]:
        """The services as compose resolves them (interpolated), for saying what differs."""
        result = self.run(["config", "--format", "json"])
        try:
            return json.loads(result.output[result.output.index("{") :]).get("services", {})
        except (ValueError, AttributeError):
            return {}
