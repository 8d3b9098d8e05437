"""What a release's migrations would do to the database, as plain facts for switcher.

    python3 -m switcher_runtime.migrations plan    the unapplied migrations, in order, each
                                                   operation described (JSON on stdout)
    python3 -m switcher_runtime.migrations state   which migrations this release knows that the
                                                   database lacks, and which the database has
                                                   that this release does not know
    python3 -m switcher_runtime.migrations known   the migrations this release has on disk and
                                                   what its squashed ones replace (no database)

Django's own migration loader and executor read the graph and the django_migrations table;
for each operation the facts that decide whether the release that is live survives it (the
field before and after, a constraint's kind, whether custom SQL or Python runs) are written
out. The rules themselves are switcher's (switcher/migrations.py on the host), so they are the
same for every release an environment runs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

FIELD_FACTS = ("null", "unique", "max_length", "max_digits", "decimal_places", "db_column", "primary_key", "to")


def field_facts(field: Any) -> dict[str, Any] | None:
    """What of a field the database sees (unbound field from a model state)."""
    if field is None:
        return None
    from django.db.models import NOT_PROVIDED

    _, path, _, kwargs = field.deconstruct()
    facts: dict[str, Any] = {"path": path}
    for name in FIELD_FACTS:
        value = kwargs.get(name, getattr(field, name, None) if name != "to" else None)
        facts[name] = value if isinstance(value, str | int | bool) or value is None else str(value)
    facts["null"] = bool(getattr(field, "null", False))
    facts["unique"] = bool(getattr(field, "_unique", kwargs.get("unique", False)))
    facts["db_default"] = getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED
    facts["many_to_many"] = bool(getattr(field, "many_to_many", False))
    return facts


def _model_field(state: Any, app: str, model: str, name: str) -> Any:
    model_state = state.models.get((app, model.lower()))
    return model_state.fields.get(name) if model_state is not None else None


def _together(state: Any, app: str, model: str, option: str) -> set:
    model_state = state.models.get((app, model.lower()))
    if model_state is None:
        return set()
    return {tuple(item) for item in model_state.options.get(option) or ()}


def operation_facts(operation: Any, app: str, state: Any) -> dict[str, Any]:
    """Facts about one operation against `state` (the project state just before it)."""
    from django.db import migrations

    kind = type(operation).__name__
    facts: dict[str, Any] = {
        "operation": kind,
        "module": type(operation).__module__,
        "describe": operation.describe(),
    }
    model = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    if isinstance(operation, migrations.AddField):
        facts["field"] = field_facts(operation.field)
    elif isinstance(operation, migrations.AlterField):
        facts["old_field"] = field_facts(_model_field(state, app, operation.model_name, operation.name))
        facts["field"] = field_facts(operation.field)
    elif isinstance(operation, migrations.RemoveField):
        facts["old_field"] = field_facts(_model_field(state, app, operation.model_name, operation.name))
    elif isinstance(operation, migrations.RenameField):
        old = field_facts(_model_field(state, app, operation.model_name, operation.old_name))
        facts["same_column"] = bool(old and old.get("db_column"))
    elif isinstance(operation, migrations.AlterModelTable):
        current = state.models.get((app, operation.name.lower()))
        facts["changed"] = (current.options.get("db_table") if current else None) != operation.table
    elif isinstance(operation, migrations.AlterUniqueTogether | migrations.AlterIndexTogether):
        option = operation.option_name
        new = {tuple(item) for item in getattr(operation, option) or ()}
        facts["added"] = bool(new - _together(state, app, operation.name, option))
    elif isinstance(operation, migrations.AddConstraint):
        facts["constraint"] = type(operation.constraint).__name__
    elif isinstance(operation, migrations.RunSQL):
        facts["noop"] = operation.sql in ("", migrations.RunSQL.noop) or not operation.sql
    elif isinstance(operation, migrations.RunPython):
        facts["noop"] = operation.code is migrations.RunPython.noop
    elif isinstance(operation, migrations.SeparateDatabaseAndState):
        inner = []
        scratch = state.clone()
        for database_operation in operation.database_operations:
            inner.append(operation_facts(database_operation, app, scratch))
            database_operation.state_forwards(app, scratch)
        facts["database_operations"] = inner
    if model and "model" not in facts:
        facts["model"] = str(model)
    return facts


def plan() -> dict[str, Any]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    steps = executor.migration_plan(targets)
    state = executor._create_project_state(with_applied_migrations=True)
    migrations_out = []
    for migration, backwards in steps:
        if backwards:  # migrate to the leaves never unapplies; said if it ever does
            migrations_out.append({"app": migration.app_label, "name": migration.name, "backwards": True})
            continue
        operations = []
        for operation in migration.operations:
            operations.append(operation_facts(operation, migration.app_label, state))
            operation.state_forwards(migration.app_label, state)
        migrations_out.append(
            {"app": migration.app_label, "name": migration.name, "atomic": migration.atomic, "operations": operations}
        )
    return {"vendor": connection.vendor, "migrations": migrations_out, "ahead": _ahead(executor.loader)}


def state() -> dict[str, Any]:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    known = set(loader.graph.nodes)
    unapplied = sorted(f"{app}.{name}" for app, name in known - set(loader.applied_migrations))
    return {
        "known": len(known),
        "applied": len(loader.applied_migrations),
        "unapplied": unapplied,
        "ahead": _ahead(loader),
    }


def _ahead(loader: Any) -> list[str]:
    """Migrations the database has that this release does not know (a newer release's)."""
    known = set(loader.graph.nodes)
    replaced = {old for key in known for old in (loader.graph.nodes[key].replaces or [])}
    return sorted(f"{app}.{name}" for app, name in set(loader.applied_migrations) - known - replaced)


def known() -> dict[str, Any]:
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    nodes = loader.graph.nodes
    replaces = {f"{a}.{n}": [f"{x}.{y}" for x, y in nodes[(a, n)].replaces] for a, n in nodes if nodes[(a, n)].replaces}
    return {"known": sorted(f"{app}.{name}" for app, name in nodes), "replaces": replaces}


def main(argv: list[str]) -> int:
    modes = {"plan": plan, "state": state, "known": known}
    if len(argv) != 1 or argv[0] not in modes:
        print("usage: python3 -m switcher_runtime.migrations plan|state|known", file=sys.stderr)
        return 2
    import django

    django.setup()
    result = modes[argv[0]]()
    print("SWITCHER-MIGRATIONS " + json.dumps(result, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
