"""Whether the release that is live survives a new release's migrations: pure rules over the
facts the new release reports (images/site/runtime/switcher_runtime/migrations.py, run with
Django's loader and executor in a one-off container of it).

During a blue/green deploy the old code keeps serving from the database the new release has
just migrated. An operation is *compatible* when the old code cannot notice it: a new table, a
nullable column or one with a database default, an index, a relaxed constraint. Everything the
old code reads or writes differently is not: a dropped or renamed column or table, a column
made NOT NULL or given another type, a new unique or check constraint (the old code may write
rows that violate it), custom SQL or Python (nobody can tell what it does). The rule set is the
one django-migration-linter checks, applied to Django's operation objects (see docs/database.md
for why not the linter itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from switcher.errors import SwitcherError

MARKER = "SWITCHER-MIGRATIONS "

# Operations that never change what the old code sees in the database.
HARMLESS = {
    "CreateModel": "a new table",
    "AlterModelOptions": "state only",
    "AlterModelManagers": "state only",
    "AlterModelTableComment": "a comment",
    "AddIndex": "a new index",
    "RemoveIndex": "an index dropped",
    "RenameIndex": "an index renamed",
    "RemoveConstraint": "a constraint relaxed",
    "AddIndexConcurrently": "a new index, built without locking writes",
    "RemoveIndexConcurrently": "an index dropped",
    "CreateExtension": "a database extension",
    "BtreeGinExtension": "a database extension",
    "BtreeGistExtension": "a database extension",
    "CITextExtension": "a database extension",
    "CryptoExtension": "a database extension",
    "HStoreExtension": "a database extension",
    "TrigramExtension": "a database extension",
    "UnaccentExtension": "a database extension",
    "CreateCollation": "a collation",
}
BREAKING = {
    "DeleteModel": "drops a table the live release reads",
    "RenameModel": "renames a table the live release reads",
    "AlterOrderWithRespectTo": "adds a NOT NULL _order column the live release does not write",
    "RemoveCollation": "drops a collation",
}


@dataclass(frozen=True)
class Verdict:
    app: str
    migration: str
    operation: str
    compatible: bool
    why: str

    @property
    def key(self) -> str:
        return f"{self.app}.{self.migration}"

    def line(self) -> str:
        return f"{self.app} {self.migration}: {self.operation}: {self.why}"

    def as_record(self) -> dict[str, Any]:
        return {"migration": self.key, "operation": self.operation, "compatible": self.compatible, "why": self.why}


def parse_output(output: str) -> dict[str, Any]:
    """The JSON line the release printed (other output, such as log lines, is ignored)."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER) :])
            except ValueError:
                break
    raise SwitcherError(f"the release did not report its migrations: {output.strip()[-200:]!r}")


def _alter_field(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[bool, str]:
    if old is None or new is None:
        return False, "alters a field switcher cannot see"
    if old.get("path") != new.get("path") or old.get("to") != new.get("to"):
        return False, f"changes the column's type ({old.get('path')} to {new.get('path')})"
    for fact in ("max_digits", "decimal_places", "primary_key"):
        if old.get(fact) != new.get(fact):
            return False, f"changes the column's type ({fact} {old.get(fact)} to {new.get(fact)})"
    if old.get("db_column") != new.get("db_column"):
        return False, "renames the column the live release reads"
    if old.get("null") and not new.get("null"):
        return False, "makes the column NOT NULL: the live release may write NULL"
    if not old.get("unique") and new.get("unique"):
        return False, "adds a unique constraint the live release's writes may violate"
    before, after = old.get("max_length"), new.get("max_length")
    if before != after:
        if before is None or (after is not None and after < before):
            return False, f"shortens the column (max_length {before} to {after})"
        return True, f"widens the column (max_length {before} to {after})"
    return True, "no change the live release can see"


def judge(facts: dict[str, Any]) -> tuple[bool, str]:
    """(compatible, why) for one operation's facts."""
    kind = facts.get("operation", "?")
    if kind in HARMLESS:
        return True, HARMLESS[kind]
    if kind in BREAKING:
        return False, BREAKING[kind]
    field = facts.get("field") or {}
    if kind == "AddField":
        if field.get("many_to_many"):
            return True, "a new join table"
        if field.get("null"):
            return True, "a nullable column"
        if field.get("db_default"):
            return True, "a column with a database default"
        return False, "adds a NOT NULL column without a database default: the live release's inserts fail"
    if kind == "RemoveField":
        return False, "drops a column the live release reads"
    if kind == "RenameField":
        if facts.get("same_column"):
            return True, "the column keeps its name (db_column)"
        return False, "renames a column the live release reads"
    if kind == "AlterField":
        return _alter_field(facts.get("old_field"), facts.get("field"))
    if kind == "AlterModelTable":
        return (False, "renames a table the live release reads") if facts.get("changed") else (True, "no change")
    if kind in ("AlterUniqueTogether", "AlterIndexTogether"):
        if kind == "AlterUniqueTogether" and facts.get("added"):
            return False, "adds a unique constraint the live release's writes may violate"
        return True, "relaxes or only indexes"
    if kind == "AddConstraint":
        return False, f"adds a {facts.get('constraint', 'constraint')} the live release's writes may violate"
    if kind in ("RunSQL", "RunPython"):
        if facts.get("noop"):
            return True, "does nothing"
        return False, f"runs custom {'SQL' if kind == 'RunSQL' else 'Python'} that switcher cannot judge"
    if kind == "SeparateDatabaseAndState":
        for inner in facts.get("database_operations") or []:
            compatible, why = judge(inner)
            if not compatible:
                return False, f"its database operation {inner.get('operation')}: {why}"
        return True, "changes the state, and the database only compatibly"
    return False, f"an operation switcher does not know ({facts.get('module', '?')}.{kind})"


def verdicts(plan: dict[str, Any]) -> list[Verdict]:
    """One verdict per operation of every unapplied migration, in the order they would run."""
    found = []
    for migration in plan.get("migrations") or []:
        app, name = str(migration.get("app")), str(migration.get("name"))
        if migration.get("backwards"):
            found.append(Verdict(app, name, "unapply", False, "the plan would unapply it"))
            continue
        for operation in migration.get("operations") or []:
            compatible, why = judge(operation)
            described = str(operation.get("describe") or operation.get("operation"))
            found.append(Verdict(app, name, described, compatible, why))
    return found


def pending(plan: dict[str, Any]) -> list[str]:
    return [f"{m.get('app')}.{m.get('name')}" for m in plan.get("migrations") or []]


def incompatible(found: list[Verdict]) -> list[Verdict]:
    return [verdict for verdict in found if not verdict.compatible]


def applied_by_deploys(records: list[dict[str, Any]]) -> dict[str, bool]:
    """Each migration a deploy applied, from the history: compatible or not (False wins)."""
    known: dict[str, bool] = {}
    for record in records:
        if record.get("action") != "deploy":
            continue
        for item in record.get("migrations") or []:
            if not isinstance(item, dict) or not isinstance(item.get("migration"), str):
                continue
            name = item["migration"]
            known[name] = known.get(name, True) and bool(item.get("compatible"))
    return known


def rollback_blockers(ahead: list[str], known: dict[str, bool]) -> list[str]:
    """The migrations the database has that block a rollback to a release that lacks them:
    those a deploy recorded incompatible, and those no deploy recorded at all."""
    blockers = []
    for name in ahead:
        if name not in known:
            blockers.append(f"{name} (applied outside a deploy: switcher cannot tell what it changed)")
        elif not known[name]:
            blockers.append(f"{name} (not compatible with older code)")
    return blockers


def backup_before(records: list[dict[str, Any]], migrations: list[str]) -> str | None:
    """The backup the first deploy that applied any of `migrations` took before migrating."""
    wanted = set(migrations)
    for record in records:
        if record.get("action") != "deploy":
            continue
        names = {item.get("migration") for item in record.get("migrations") or [] if isinstance(item, dict)}
        if names & wanted and record.get("backup"):
            return str(record["backup"])
    return None


def behind_refusal(records: list[dict[str, Any]], release: str, ahead: list[str]) -> str | None:
    """Why `release` cannot run live on a database that holds `ahead` (migrations it does not
    know, a newer release's) that older code cannot run beside; None when it can."""
    blockers = rollback_blockers(ahead, applied_by_deploys(records))
    if not blockers:
        return None
    backup = backup_before(records, ahead)
    restore = (
        f"`switcher db restore {backup} --yes` puts back the database from before them"
        if backup
        else "no backup from before them is recorded (see `switcher db list`)"
    )
    return f"{release} cannot serve this database: it lacks {'; '.join(blockers)}; {restore}"


def describe_state(state: dict[str, Any] | None) -> str:
    """One colour's migrations against the database, for `status`."""
    if state is None:
        return "-"
    unapplied, ahead = state.get("unapplied") or [], state.get("ahead") or []
    parts = []
    if unapplied:
        parts.append(f"{len(unapplied)} not applied")
    if ahead:
        parts.append(f"database ahead by {len(ahead)}")
    return ", ".join(parts) or "up to date"


def state_against(known: dict[str, Any], applied: set[str]) -> dict[str, list[str]]:
    """A release's migrations (`known` mode of the reporter) against the database's applied
    ones, as Django's loader sees them: a squashed migration counts as applied when everything
    it replaces is; what it replaces is never "ahead"."""
    names = set(known.get("known") or [])
    replaces = {str(k): set(v) for k, v in (known.get("replaces") or {}).items()}
    replaced = set().union(*replaces.values()) if replaces else set()
    unapplied = [name for name in names if name not in applied and not (name in replaces and replaces[name] <= applied)]
    ahead = [name for name in applied if name not in names and name not in replaced]
    return {"unapplied": sorted(unapplied), "ahead": sorted(ahead)}


@contextmanager
def lock_timeout_said(release: str, seconds: int) -> Iterator[None]:
    """A migrate that failed on PostgreSQL's lock_timeout says so in one line (either engine)."""
    try:
        yield
    except SwitcherError as error:
        if "lock timeout" not in str(error):
            raise
        raise SwitcherError(
            f"a migration of {release} waited more than MIGRATE_LOCK_TIMEOUT={seconds} s for a table lock "
            "(a long transaction holds it); nothing of that migration was applied: deploy again when the "
            "database is quieter"
        ) from None
