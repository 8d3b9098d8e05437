"""Migrations that cannot break the live release (issue #9): each deploy asks the new release
what its migrations do; compatible ones run while the old release serves, incompatible ones are
refused (or run behind the maintenance page), a rollback may pass only compatible ones, and a
migration waiting on a lock fails within MIGRATE_LOCK_TIMEOUT instead of stalling the site.
Real PostgreSQL, real releases (the default site with new migrations), bounded load."""

from __future__ import annotations

import json
import threading

import pytest

from .load import Load
from .stackenv import ok, release_with_files, remove_release, running_stack

pytestmark = pytest.mark.integration

MODEL = """from django.db import models


class PressRelease(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
{summary}    published = models.DateField()
    note = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-published", "slug"]

    def __str__(self) -> str:
        return self.title
"""
ADD_NOTE = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("press", "0002_seed_press_releases")]
    operations = [migrations.AddField("pressrelease", "note", models.TextField(null=True, blank=True))]
"""
DROP_SUMMARY = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("press", "0003_pressrelease_note")]
    operations = [migrations.RemoveField("pressrelease", "summary")]
"""
ADD_EXTRA = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("press", "0004_remove_pressrelease_summary")]
    operations = [migrations.AddField("pressrelease", "extra", models.TextField(null=True))]
"""
TOUCH = """from django.db import migrations


def touch(apps, schema_editor):
    apps.get_model("press", "PressRelease").objects.filter(slug="no-such-row").update(note="touched")


class Migration(migrations.Migration):
    dependencies = [("press", "0004_remove_pressrelease_summary")]
    operations = [migrations.RunPython(touch, migrations.RunPython.noop)]
"""
HAS_SUMMARY = "    summary = models.TextField()\n"


@pytest.fixture(scope="module")
def releases(release, client):
    """Three releases over the test's own: a nullable column added, then `summary` dropped, then
    another column added (for the lock test)."""
    add = {"press/models.py": MODEL.format(summary=HAS_SUMMARY), "press/migrations/0003_pressrelease_note.py": ADD_NOTE}
    drop = {
        **add,
        "press/models.py": MODEL.format(summary=""),
        "press/migrations/0004_remove_pressrelease_summary.py": DROP_SUMMARY,
    }
    extra = {**drop, "press/migrations/0005_pressrelease_extra.py": ADD_EXTRA}
    touch = {**drop, "press/migrations/0005_touch.py": TOUCH}
    tags = {
        "add": release_with_files(client, release, f"{release}-addnote", add),
        "drop": release_with_files(client, release, f"{release}-dropsummary", drop),
        "extra": release_with_files(client, release, f"{release}-extra", extra),
        "touch": release_with_files(client, release, f"{release}-touch", touch),
    }
    yield tags
    for tag in tags.values():
        remove_release(client, tag)


@pytest.fixture(scope="module")
def site(release, client, tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("migrations"), release, client, MIGRATE_LOCK_TIMEOUT="2") as env:
        yield env


def columns(site) -> set[str]:
    found = site.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'press_pressrelease'")
    return set(found.split())


def history(site) -> list[dict]:
    out = ok(site.switcher("history", "--json", "--env", site.name)).stdout
    return [json.loads(line) for line in out.splitlines()]


def live_release(site) -> str:
    status = site.status()
    return status["colors"][status["live"]]["release"]


def summary(load: Load) -> str:
    failures = load.failures()
    return f"{len(failures)} of {len(load.answers)} failed, e.g. {failures[:3]}"


def test_a_compatible_migration_runs_while_the_old_release_serves(site, releases):
    with Load(site.live_url + "/", str(site.cert), clients=8, max_seconds=240) as load:
        result = ok(site.switcher("deploy", releases["add"], "--promote", "--env", site.name))
    assert load.failures() == [], summary(load)
    assert len(load.answers) > 50
    assert "1 migration(s) to apply; 0 operation(s)" in result.stderr
    assert "note" in columns(site)
    record = next(r for r in history(site) if r["action"] == "deploy" and r.get("release") == releases["add"])
    assert record["backup"], "a backup was taken before migrating"
    assert record["migrations"] == [
        {
            "migration": "press.0003_pressrelease_note",
            "operation": "Add field note to pressrelease",
            "compatible": True,
            "why": "a nullable column",
        }
    ]
    assert site.status()["migrations"] == {"blue": "database ahead by 1", "green": "up to date"}


def test_a_rollback_may_pass_a_compatible_migration(site, releases):
    result = ok(site.switcher("rollback", "--env", site.name))
    assert "ahead of" in result.stderr and "compatible migration(s): it can serve" in result.stderr
    assert site.status()["live"] == "blue"
    with site.session() as http:
        page = http.get(site.live_url + "/", timeout=10)
        assert page.status_code == 200 and page.headers["X-Release"] == site.release
    ok(site.switcher("promote", "--env", site.name))  # the release with the column live again


def test_a_column_drop_is_refused_and_nothing_changes(site, releases):
    before = columns(site)
    with Load(site.live_url + "/", str(site.cert), clients=4, max_seconds=120) as load:
        result = site.switcher("deploy", releases["drop"], "--env", site.name)
    assert result.returncode == 8, result.stderr
    lines = result.stderr.strip().splitlines()
    error = next(number for number, line in enumerate(lines) if line.startswith("switcher: error:"))
    assert "cannot run beside" in lines[error] and "Traceback" not in result.stderr
    assert lines[error + 1 :] == [
        "  press 0004_remove_pressrelease_summary: Remove field summary from pressrelease: "
        "drops a column the live release reads"
    ], "one line per incompatible operation"
    assert columns(site) == before, "the database is unchanged"
    assert load.failures() == [], summary(load)
    status = site.status()
    assert status["live"] == "green" and status["colors"]["blue"]["release"] == site.release, "idle untouched"
    assert history(site)[-1]["outcome"] == "refused"


def test_with_maintenance_the_drop_gets_only_200_or_503_and_goes_live(site, releases):
    with Load(site.live_url + "/", str(site.cert), clients=8, max_seconds=300) as load:
        result = ok(site.switcher("deploy", releases["drop"], "--maintenance", "--env", site.name))
    statuses = {answer.status for answer in load.answers}
    assert statuses <= {200, 503}, [a for a in load.answers if a.status not in (200, 503)][:3]
    assert 503 in statuses and 200 in statuses
    assert "turning maintenance off" in result.stderr
    assert "summary" not in columns(site)
    assert site.status()["maintenance"] is None and live_release(site) == releases["drop"]
    with site.session() as http:
        assert http.get(site.live_url + "/", timeout=10).headers["X-Release"] == releases["drop"]
    assert next(r for r in reversed(history(site)) if r["action"] == "deploy")["maintenance"] is True


def test_a_rollback_past_the_drop_is_refused_and_points_at_the_backup(site, releases):
    deployed = next(r for r in reversed(history(site)) if r["action"] == "deploy" and r["outcome"] == "ok")
    result = site.switcher("rollback", "--env", site.name)
    assert result.returncode == 8, result.stderr
    assert "press.0004_remove_pressrelease_summary (not compatible with older code)" in result.stderr
    assert f"switcher db restore {deployed['backup']} --yes" in result.stderr
    assert live_release(site) == releases["drop"], "live stays where it was"


def test_a_migration_waiting_on_a_lock_fails_within_the_timeout_and_the_site_answers(site, releases):
    holding = threading.Thread(
        target=site.psql,
        args=("BEGIN; LOCK TABLE press_pressrelease IN ACCESS SHARE MODE; SELECT pg_sleep(25); COMMIT;",),
    )
    holding.start()
    try:
        with Load(site.live_url + "/", str(site.cert), clients=4, max_seconds=120) as load:
            result = site.switcher("deploy", releases["extra"], "--env", site.name)
    finally:
        holding.join(timeout=60)
    assert result.returncode != 0
    assert "waited more than MIGRATE_LOCK_TIMEOUT=2 s for a table lock" in result.stderr, result.stderr[-600:]
    assert "extra" not in columns(site)
    assert load.failures() == [], summary(load)
    assert live_release(site) == releases["drop"]


def test_custom_python_is_refused_unless_accepted_and_the_acceptance_is_recorded(site, releases):
    both = site.switcher("deploy", releases["touch"], "--maintenance", "--accept-incompatible", "--env", site.name)
    assert both.returncode == 3 and "not both" in both.stderr
    refused = site.switcher("deploy", releases["touch"], "--env", site.name)
    assert refused.returncode == 8 and "runs custom Python that switcher cannot judge" in refused.stderr
    ok(site.switcher("deploy", releases["touch"], "--accept-incompatible", "--env", site.name))
    record = next(r for r in reversed(history(site)) if r["action"] == "deploy")
    assert record["outcome"] == "ok" and record["release"] == releases["touch"]
    assert record["accepted_incompatible"] == [
        "press 0005_touch: Raw Python operation: runs custom Python that switcher cannot judge"
    ]
