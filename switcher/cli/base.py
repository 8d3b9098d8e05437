"""The `switcher` command's group and what its commands share: every SwitcherError becomes one
line and its exit code here; the environment, and the engine it runs on, from --env."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import docker.errors

from switcher import history
from switcher.cluster_cutover import ClusterCutover
from switcher.cluster_db import ClusterDatabase
from switcher.cluster_stack import ClusterStack
from switcher.config import Environment, Paths, default_env_name, load_environment
from switcher.cutover import Cutover
from switcher.errors import EXIT_CODES, ConfigError, SwitcherError
from switcher.plans import Options
from switcher.runtime import Docker
from switcher.store import EnvironmentStore

T = TypeVar("T")


class SwitcherGroup(click.Group):
    """Maps every SwitcherError to `switcher: error: …` and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwitcherError as error:
            click.echo(f"switcher: error: {error}", err=True)
            sys.exit(error.exit_code)
        except docker.errors.APIError as error:  # one no step expected (a container gone meanwhile)
            reason = (error.explanation or str(error)).splitlines()[0][:300]
            click.echo(f"switcher: error: the Docker daemon refused: {reason}", err=True)
            sys.exit(1)


def _exit_codes_help() -> str:
    return "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())


@click.group(
    cls=SwitcherGroup,
    epilog="\b\nExit codes:\n" + _exit_codes_help(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """Blue/green releases of a Django site behind nginx.

    Acts on the environment `make up` last started (or SWITCHER_ENV, or --env).
    """


def env_option(function: Any) -> Any:
    return click.option(
        "--env",
        "env_name",
        metavar="ENV",
        default=None,
        help="Environment: a file compose/env/ENV.env [default: the one `make up` started].",
    )(function)


def environment(env_name: str | None, swarm: bool = False) -> tuple[Paths, Environment]:
    """The environment's settings; ENGINE=swarm only for the commands built for it (`swarm`)."""
    paths = Paths.discover()
    env = load_environment(env_name or default_env_name(paths), paths)
    if env.engine == "swarm" and not swarm:
        raise ConfigError(
            f"{env.name} has ENGINE=swarm: only push, up, status, deploy, promote, rollback, maintenance, cron, "
            "db backup/list/verify/restore/export/import/replace, secrets rotate, config, manage, logs, history, "
            "prune, tls status, unlock and down work on a cluster yet "
            "(this command is not built for it: issue #11)"
        )
    return paths, env


def say(message: str) -> None:
    click.echo(f"switcher: {message}", err=True)


def read_history(docker: Docker, env: Environment) -> history.History:
    return noted(history.read(EnvironmentStore(docker, env.project)))


def noted(found: history.History) -> history.History:
    """The history, after saying what could not be read of it."""
    if found.note:
        say(f"note: {found.note}")
    return found


def format_record(record: dict) -> str:
    parts = [record.get("action", "?"), record.get("state"), record.get("color"), record.get("release")]
    what = " ".join(str(part) for part in parts if part)
    before = record.get("previous_release") or record.get("previous")
    if before:
        what += f" (was {record.get('previous_color', record.get('color', ''))} {before})"
    error = f": {record['error']}" if record.get("error") else ""
    return (
        f"{record.get('time', '?')}  {record.get('user', '?')}@{record.get('host', '?')}  "
        f"{what}  {record.get('outcome', '?')} in {record.get('duration', 0):.1f} s{error}"
    )


def mutation_options(function: Any) -> Any:
    function = click.option("--dry-run", is_flag=True, help="Print the plan of named steps; change nothing.")(function)
    for flag, default, what in (
        ("--drain-timeout", Options.drain_timeout, "for the old colour's requests in flight"),
        ("--health-timeout", Options.health_timeout, "for the new colour to become healthy"),
    ):
        function = click.option(flag, type=float, default=default, show_default=True, help=f"Seconds to wait {what}.")(
            function
        )
    return env_option(function)


def one_engine(env_name: str | None) -> Cutover:
    paths, env = environment(env_name)
    return Cutover(paths, env, Docker(), say)


def on_engine(env_name: str | None, one: Callable[[Cutover], T], cluster: Callable[[ClusterStack], T]) -> T:
    """`one` on one engine (compose), `cluster` on a Swarm: a command built for both."""
    paths, env = environment(env_name, swarm=True)
    if env.engine == "swarm":
        return cluster(ClusterStack(paths, env, say))
    return one(Cutover(paths, env, Docker(), say))


def database(env_name: str | None) -> Cutover | ClusterDatabase:
    """db backup, list, verify, restore, export, import: on one engine (compose) or on a Swarm."""
    return on_engine(env_name, lambda one: one, ClusterDatabase)


def switch_cutover(env_name: str | None) -> Cutover | ClusterCutover:
    """deploy, promote, rollback, maintenance, cron: on one engine (compose) or on a Swarm."""
    return on_engine(env_name, lambda one: one, ClusterCutover)


def main() -> None:
    cli(prog_name="switcher")
