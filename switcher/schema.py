"""The site's schema across releases: what a release's migrations would do (asked of the
release itself, in a one-off container), applying them under a lock timeout, whether a
rollback may pass migrations the older code does not know, and each colour's migration state.
The rules are pure, in migrations.py."""

from __future__ import annotations

import json
from typing import Any

from switcher import migrations
from switcher.compose import Releases
from switcher.config import COLORS
from switcher.database import Database
from switcher.errors import SwitcherError
from switcher.runtime import ContainerInfo

REPORTER = ["python3", "-m", "switcher_runtime.migrations"]
ENTRYPOINT = "/opt/switcher-runtime/bin/entrypoint"  # sets what a docker exec would miss


class Schema(Database):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: dict[str, dict[str, Any]] = {}

    def migration_plan(self, release: str, releases: Releases) -> dict[str, Any]:
        """The migrations `release` would apply to this database, each operation described."""
        return migrations.parse_output(self.task([*REPORTER, "plan"], release, releases))

    def migrate(self, release: str, releases: Releases) -> None:
        """`manage.py migrate` of `release` with PostgreSQL's lock_timeout: a migration waiting
        for a table a long transaction holds fails instead of queueing every live request
        behind its lock."""
        seconds = int(self.env.settings["MIGRATE_LOCK_TIMEOUT"])
        with migrations.lock_timeout_said(release, seconds):
            self.task(
                ["python3", "manage.py", "migrate", "--noinput"],
                release,
                releases,
                environment={"PGOPTIONS": f"-c lock_timeout={seconds * 1000}"},
            )

    def release_state(self, release: str, container: str) -> dict[str, list[str]] | None:
        """`release`'s migrations (running in `container`) against the database, or None."""
        known, applied = self.known_migrations(release, container), self.applied_migrations()
        return None if known is None or applied is None else migrations.state_against(known, applied)

    def colour_migration_states(self) -> dict[str, str]:
        """Each running colour's migrations against the database, for `status`: the applied ones
        from the db (one psql), each release's own list from the store (asked of its container
        once per release, then kept: a release's migrations never change)."""
        found = self.containers()
        return self.migration_states(found, self.applied_migrations(found))

    def migration_states(self, found: dict[str, ContainerInfo], applied: set[str] | None) -> dict[str, str]:
        """colour_migration_states with the containers and the applied migrations already read."""
        states = {}
        for color in COLORS:
            container = found.get(f"app-{color}")
            if container is None or container.state != "running" or not container.release:
                states[color] = "-"
                continue
            known = self.known_migrations(container.release, container.name)
            if known is None or applied is None:
                states[color] = "unknown"
                continue
            states[color] = migrations.describe_state(migrations.state_against(known, applied))
        return states

    def applied_migrations(self, found: dict[str, ContainerInfo] | None = None) -> set[str] | None:
        db = (found if found is not None else self.containers()).get("db")
        if db is None or db.state != "running":
            return None
        query = "SELECT app || '.' || name FROM django_migrations"
        code, output = self.docker.exec_output(
            db.name, ["sh", "-c", f'psql -X -At -U postgres -d "$POSTGRES_DB" -c "{query}"'], user="postgres"
        )
        return set(output.split()) if code == 0 else None

    def known_migrations(self, release: str, container: str) -> dict[str, Any] | None:
        """`release`'s migrations: from the store, else asked of its container (and stored);
        kept for the rest of the command."""
        known = self._known.get(release) or self._read_known_migrations(release, container)
        if known is not None:
            self._known[release] = known
        return known

    def _read_known_migrations(self, release: str, container: str) -> dict[str, Any] | None:
        path = f"migrations/known-{release}.json"
        cached = self.store.read(path)
        if cached:
            try:
                return json.loads(cached)
            except ValueError:
                pass
        code, output = self.docker.exec_output(container, ["timeout", "20", ENTRYPOINT, *REPORTER, "known"])
        if code != 0:
            return None
        try:
            known = migrations.parse_output(output)
        except SwitcherError:
            return None
        self.store.write({path: (json.dumps(known, sort_keys=True).encode(), 0o600)})
        return known
