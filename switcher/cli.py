"""The `switcher` command: thin click commands over the core; errors become one line here."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from switcher.config import Environment, Paths, check_release, default_env_name, load_environment
from switcher.errors import EXIT_CODES, SwitcherError
from switcher.runtime import Docker
from switcher.stack import Stack
from switcher.state import StackStatus, read_status


class SwitcherGroup(click.Group):
    """Maps every SwitcherError to `switcher: error: …` and its exit code, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwitcherError as error:
            click.echo(f"switcher: error: {error}", err=True)
            sys.exit(error.exit_code)


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


def _environment(env_name: str | None) -> tuple[Paths, Environment]:
    paths = Paths.discover()
    return paths, load_environment(env_name or default_env_name(paths), paths)


def _say(message: str) -> None:
    click.echo(f"switcher: {message}", err=True)


def _print_status(status: StackStatus) -> None:
    click.echo(f"environment  {status.env} (compose project {status.project})")
    click.echo(f"live colour  {status.live or 'unknown'}")
    for color, part in status.colors.items():
        role = "live" if color == status.live else "idle" if status.live else "?"
        click.echo(f"  {color:<6} {role:<5} release {part.release or '-':<24} {part.state:<10} {part.health}")
    services = "  ".join(f"{name} {part.state}/{part.health}" for name, part in status.services.items())
    click.echo(f"services     {services}")
    click.echo(f"live URL     {status.urls['live']}")
    click.echo(f"preview URL  {status.urls['preview']}  (the idle colour; loopback only)")
    for note in status.notes:
        click.echo(f"note: {note}")


@cli.command()
@env_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(env_name: str | None, as_json: bool) -> None:
    """Show the live colour, each colour's release, state and health, and the URLs."""
    _, env = _environment(env_name)
    result = read_status(env, Docker())
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print_status(result)


@cli.command()
@env_option
@click.option("--release", required=True, help="Release for containers that do not exist yet.")
def up(env_name: str | None, release: str) -> None:
    """Start the environment's stack (blue live when new) and wait until it is healthy.

    Containers that already exist keep their release: changing a colour's release is
    `switcher deploy`'s job. `make up` runs this after building what is missing.
    """
    paths, env = _environment(env_name)
    check_release(release)
    result = Stack(paths, env, Docker()).up(release, _say)
    _print_status(result)


@cli.command()
@env_option
@click.option("--volumes", is_flag=True, help="Also delete the volumes: the database, state and static files.")
def down(env_name: str | None, volumes: bool) -> None:
    """Stop and remove the environment's containers (volumes are kept unless --volumes)."""
    paths, env = _environment(env_name)
    Stack(paths, env, Docker()).down(volumes, _say)


def main() -> None:
    cli(prog_name="switcher")


if __name__ == "__main__":
    main()
