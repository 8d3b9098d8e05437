"""The errors a user can cause or meet, each with its exit code, mapped in one place (cli).

Anything else is a bug and keeps its traceback.
"""


class SwitcherError(Exception):
    """A failure to report as one line, with a documented exit code."""

    exit_code = 1


class ConfigError(SwitcherError):
    """An environment file, setting or certificate path is wrong."""

    exit_code = 3


class DockerUnavailable(SwitcherError):
    """The Docker daemon (or Compose v2) cannot be reached."""

    exit_code = 4


class NotFound(SwitcherError):
    """An unknown release, colour or environment."""

    exit_code = 5


class Unhealthy(SwitcherError):
    """A container or the site did not become healthy in time."""

    exit_code = 6


class LockHeld(SwitcherError):
    """Another switcher is changing this environment."""

    exit_code = 7


class Refused(SwitcherError):
    """The command would break a safety rule: a release whose deploy did not finish going live,
    data deleted without --yes, a running db or lb recreated because a setting changed."""

    exit_code = 8


EXIT_CODES = {
    0: "success",
    1: "the operation failed (see the message)",
    2: "usage error (unknown command or option)",
    ConfigError.exit_code: "configuration error: environment file, setting or certificate",
    DockerUnavailable.exit_code: "the Docker daemon or Compose v2 is unreachable",
    NotFound.exit_code: "unknown release, colour or environment",
    Unhealthy.exit_code: "a container or the site is not healthy",
    LockHeld.exit_code: "another switcher holds this environment's lock",
    Refused.exit_code: "refused: it would break a safety rule (the message says which); nothing was changed",
}


def last_lines(output: str, count: int) -> str:
    """The last `count` non-empty lines of a failed command's output, on one line."""
    return " | ".join([line for line in output.strip().splitlines() if line.strip()][-count:])
