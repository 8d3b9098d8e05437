"""Whether the live release survives a new release's migrations (switcher/migrations.py): the
rules over the facts a release reports, and what a rollback may pass."""

from __future__ import annotations

import pytest

from switcher import migrations
from switcher.errors import SwitcherError


def field(path: str = "django.db.models.TextField", **facts: object) -> dict:
    return {"path": path, "null": False, "unique": False, "max_length": None, "db_default": False, **facts}


CHAR = "django.db.models.CharField"


@pytest.mark.parametrize(
    ("facts", "compatible", "why"),
    [
        ({"operation": "CreateModel"}, True, "a new table"),
        ({"operation": "AddField", "field": field(null=True)}, True, "nullable"),
        ({"operation": "AddField", "field": field(db_default=True)}, True, "database default"),
        ({"operation": "AddField", "field": field()}, False, "NOT NULL column without a database default"),
        ({"operation": "AddField", "field": field(many_to_many=True)}, True, "join table"),
        ({"operation": "RemoveField", "old_field": field()}, False, "drops a column"),
        ({"operation": "RenameField"}, False, "renames a column"),
        ({"operation": "RenameField", "same_column": True}, True, "keeps its name"),
        ({"operation": "DeleteModel"}, False, "drops a table"),
        ({"operation": "RenameModel"}, False, "renames a table"),
        ({"operation": "AlterField", "old_field": field(null=True), "field": field()}, False, "NOT NULL"),
        ({"operation": "AlterField", "old_field": field(), "field": field(null=True)}, True, "no change"),
        ({"operation": "AlterField", "old_field": field(), "field": field(CHAR, max_length=10)}, False, "type"),
        (
            {"operation": "AlterField", "old_field": field(CHAR, max_length=10), "field": field(CHAR, max_length=20)},
            True,
            "widens",
        ),
        (
            {"operation": "AlterField", "old_field": field(CHAR, max_length=20), "field": field(CHAR, max_length=10)},
            False,
            "shortens",
        ),
        ({"operation": "AlterField", "old_field": field(), "field": field(unique=True)}, False, "unique"),
        ({"operation": "AlterField", "old_field": field(), "field": field(db_column="x")}, False, "renames the column"),
        ({"operation": "AlterField", "old_field": None, "field": field()}, False, "cannot see"),
        ({"operation": "AddIndex"}, True, "index"),
        ({"operation": "AddIndexConcurrently"}, True, "without locking"),
        ({"operation": "AddConstraint", "constraint": "CheckConstraint"}, False, "CheckConstraint"),
        ({"operation": "AlterUniqueTogether", "added": True}, False, "unique"),
        ({"operation": "AlterUniqueTogether", "added": False}, True, "relaxes"),
        ({"operation": "AlterModelTable", "changed": True}, False, "renames a table"),
        ({"operation": "RunPython", "noop": False}, False, "custom Python"),
        ({"operation": "RunPython", "noop": True}, True, "nothing"),
        ({"operation": "RunSQL", "noop": False}, False, "custom SQL"),
        ({"operation": "Frobnicate", "module": "someapp.ops"}, False, "does not know (someapp.ops.Frobnicate)"),
        (
            {"operation": "SeparateDatabaseAndState", "database_operations": []},
            True,
            "state",
        ),
        (
            {"operation": "SeparateDatabaseAndState", "database_operations": [{"operation": "RemoveField"}]},
            False,
            "RemoveField: drops a column",
        ),
    ],
)
def test_each_operation_is_judged_against_the_live_release(facts, compatible, why):
    verdict, reason = migrations.judge(facts)
    assert verdict is compatible and why in reason, reason


PLAN = {
    "migrations": [
        {
            "app": "press",
            "name": "0003_note",
            "operations": [
                {"operation": "AddField", "describe": "Add field note to pressrelease", "field": field(null=True)},
                {"operation": "RemoveField", "describe": "Remove field summary from pressrelease"},
            ],
        }
    ],
    "ahead": [],
}


def test_a_plan_gives_one_verdict_per_operation_and_one_line_per_incompatible_one():
    found = migrations.verdicts(PLAN)
    assert [v.compatible for v in found] == [True, False]
    assert migrations.pending(PLAN) == ["press.0003_note"]
    bad = migrations.incompatible(found)
    assert [v.line() for v in bad] == [
        "press 0003_note: Remove field summary from pressrelease: drops a column the live release reads"
    ]
    assert bad[0].as_record()["migration"] == "press.0003_note"


def test_the_report_is_found_among_other_output_and_its_absence_is_an_error():
    assert migrations.parse_output('log line\nSWITCHER-MIGRATIONS {"migrations": []}\n') == {"migrations": []}
    with pytest.raises(SwitcherError, match="did not report"):
        migrations.parse_output("Traceback: ImportError")


HISTORY = [
    {
        "action": "deploy",
        "backup": "20261201T000000Z",
        "migrations": [{"migration": "press.0003_a", "compatible": True}],
    },
    {"action": "promote"},
    {
        "action": "deploy",
        "backup": "20261202T000000Z",
        "migrations": [
            {"migration": "press.0004_b", "compatible": True},
            {"migration": "press.0004_b", "compatible": False},
        ],
    },
]


def test_a_rollback_may_pass_compatible_migrations_only():
    known = migrations.applied_by_deploys(HISTORY)
    assert known == {"press.0003_a": True, "press.0004_b": False}
    assert migrations.rollback_blockers(["press.0003_a"], known) == []
    blockers = migrations.rollback_blockers(["press.0003_a", "press.0004_b", "shop.0009_x"], known)
    assert blockers == [
        "press.0004_b (not compatible with older code)",
        "shop.0009_x (applied outside a deploy: switcher cannot tell what it changed)",
    ]
    assert migrations.backup_before(HISTORY, ["press.0004_b"]) == "20261202T000000Z"
    assert migrations.backup_before(HISTORY, ["shop.0009_x"]) is None


def test_status_describes_a_colour_against_the_database():
    assert migrations.describe_state({"unapplied": [], "ahead": []}) == "up to date"
    assert (
        migrations.describe_state({"unapplied": ["a.1"], "ahead": ["b.2", "b.3"]})
        == "1 not applied, database ahead by 2"
    )
    assert migrations.describe_state(None) == "-"


def test_a_release_against_the_database_counts_squashed_migrations_as_django_does():
    known = {"known": ["a.0001", "a.0002_squashed", "b.0001"], "replaces": {"a.0002_squashed": ["a.0002", "a.0003"]}}
    assert migrations.state_against(known, {"a.0001", "a.0002", "a.0003", "b.0001"}) == {"unapplied": [], "ahead": []}
    assert migrations.state_against(known, {"a.0001", "a.0002"}) == {
        "unapplied": ["a.0002_squashed", "b.0001"],
        "ahead": [],
    }
    assert migrations.state_against(known, {"a.0001", "a.0002_squashed", "b.0001", "c.0001"}) == {
        "unapplied": [],
        "ahead": ["c.0001"],
    }
