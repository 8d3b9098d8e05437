"""The `switcher` command: thin click commands over the core, a module per group of commands
(site, release, operate, db, security); base.py holds the group, which turns every error into
one line, and what the commands share."""

from switcher.cli import db, operate, release, security, site  # noqa: F401  (each registers its commands)
from switcher.cli.base import cli, main

__all__ = ["cli", "main"]
