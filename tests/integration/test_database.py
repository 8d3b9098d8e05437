"""The database across releases (issue #9, the backup part): consistent backups while the site
serves and writes, retention, restore round trips, a damaged backup refused, and the backup
deploy takes before it migrates."""

from __future__ import annotations

import json
import tarfile
import threading
import time

import pytest

from .stackenv import build_site_release, ok, remove_release, running_stack

pytestmark = pytest.mark.integration
ROWS = "SELECT count(*) FROM press_pressrelease"


@pytest.fixture(scope="module")
def site(release, client, tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("database"), release, client, BACKUP_RETAIN="3") as env:
        yield env


def insert(site, first: int, count: int) -> None:
    site.psql(
        "INSERT INTO press_pressrelease (slug, title, summary, published) "
        f"SELECT 'probe-' || n, 'Probe ' || n, 'a row of the backup test', '2026-12-01' "
        f"FROM generate_series({first}, {first + count - 1}) AS n",
    )


def backups(site) -> list[dict]:
    out = ok(site.switcher("db", "list", "--json", "--env", site.name)).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_a_new_database_answers_only_once_its_first_start_is_done(release, client):
    """A new database's first start creates its cluster with a server of its own, then stops
    that server and starts the real one. The health check (pg_isready on the shared socket)
    must not pass before: `switcher up` sets the roles as soon as it passes, and lost its
    connection when the first server stopped under it (seen on a loaded machine)."""
    db = client.containers.run(
        f"switcher/db:{release}", detach=True, network_mode="none",
        environment={"POSTGRES_DB": "probe", "POSTGRES_USER": "probe"}, labels={"io.switcher.project": "swt-db-first"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while db.exec_run(["pg_isready", "-q", "-h", "/run/postgresql"]).exit_code != 0:
            assert time.monotonic() < deadline, db.logs().decode()[-2000:]
            time.sleep(0.05)
        assert "db: initialised a UTF-8 cluster" in db.logs().decode(), "it answered before its first start was done"
    finally:
        db.remove(force=True)


def test_a_backup_while_rows_are_written_counts_exactly_what_it_holds(site):
    insert(site, 1, 10)
    stop = threading.Event()
    written = []

    def writer() -> None:
        for number in range(1000, 1400):  # bounded: at most 400 single-row transactions
            if stop.is_set():
                break
            insert(site, number, 1)
            written.append(number)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backup_id = ok(site.switcher("db", "backup", "--label", "busy", "--env", site.name)).stdout.strip()
    finally:
        stop.set()
        thread.join(timeout=120)
    assert written, "rows were written during the backup"
    record = next(b for b in backups(site) if b["id"] == backup_id)
    assert record["label"] == "busy" and record["release"] == site.release and record["size"] > 0
    assert 10 <= record["tables"]["public.press_pressrelease"] - 3 <= 10 + len(written)
    ok(site.switcher("db", "verify", backup_id, "--env", site.name))


def test_restore_brings_back_deleted_rows_and_keeps_maintenance_on(site):
    before = int(site.psql(ROWS))
    backup_id = ok(site.switcher("db", "backup", "--env", site.name)).stdout.strip()
    site.psql("DELETE FROM press_pressrelease WHERE slug LIKE 'probe-%'")
    assert int(site.psql(ROWS)) == 3
    refused = site.switcher("db", "restore", backup_id, "--env", site.name)  # no terminal: no --yes, no restore
    assert refused.returncode != 0 and int(site.psql(ROWS)) == 3
    result = ok(site.switcher("db", "restore", backup_id, "--yes", "--env", site.name))
    assert int(site.psql(ROWS)) == before
    assert "maintenance stays on" in result.stderr
    token = ok(site.switcher("maintenance", "token", "--env", site.name)).stdout.strip()
    with site.session() as http:
        assert http.get(site.live_url + "/press/", timeout=10).status_code == 503
        checked = http.get(site.live_url + "/press/", cookies={"switcher_bypass": token}, timeout=10)
        assert checked.status_code == 200 and "Probe 1" in checked.text, "the site reads the restored rows"
    ok(site.switcher("maintenance", "off", "--env", site.name))
    ok(site.switcher("cron", "start", "--env", site.name))
    listed = backups(site)
    assert any(b["label"] == "before-restore" for b in listed), "the replaced database was backed up first"
    assert len(listed) == 3, "BACKUP_RETAIN=3"


def test_a_damaged_backup_is_refused_before_anything_changes(site, client):
    backup_id = ok(site.switcher("db", "backup", "--env", site.name)).stdout.strip()
    client.containers.run(
        f"switcher/db:{site.release}",
        ["sh", "-c", f"printf 'x' >> /var/lib/switcher/backups/{backup_id}.dump"],
        entrypoint=[],
        user="postgres",
        network_mode="none",
        volumes={f"{site.project}_backups": {"bind": "/var/lib/switcher/backups", "mode": "rw"}},
        remove=True,
    )
    rows = site.psql(ROWS)
    result = site.switcher("db", "restore", backup_id, "--yes", "--env", site.name)
    assert result.returncode != 0 and "is damaged" in result.stderr, result.stderr
    assert site.psql(ROWS) == rows
    assert site.status()["maintenance"] is None, "maintenance was not even turned on"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db", "backup", "--label", "Bad Label"], "backup label 'Bad Label' must be"),
        (["db", "restore", "../../etc/passwd", "--yes"], "is not a backup id"),
        (["db", "restore", "20200101T000000Z", "--yes"], "has no backup 20200101T000000Z"),
    ],
)
def test_bad_database_input_is_one_line(site, args, message):
    result = site.switcher(*args, "--env", site.name)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_deploy_backs_up_before_it_migrates_and_not_when_nothing_is_to_migrate(site, client, tmp_path_factory):
    def new_field(site_dir) -> None:
        (site_dir / "press" / "migrations" / "0003_pressrelease_note.py").write_text(
            "from django.db import migrations, models\n\n\n"
            "class Migration(migrations.Migration):\n"
            '    dependencies = [("press", "0002_seed_press_releases")]\n'
            "    operations = [\n"
            '        migrations.AddField("pressrelease", "note", models.TextField(null=True)),\n'
            "    ]\n"
        )

    tag = build_site_release(f"{site.release}-mig", tmp_path_factory.mktemp("mig"), new_field)
    try:
        plain = ok(site.switcher("deploy", site.release, "--env", site.name))
        assert "nothing to migrate" in plain.stderr
        deployed = ok(site.switcher("deploy", tag, "--env", site.name))
        assert f"before migrating for {tag}" in deployed.stderr
        history = [
            json.loads(line) for line in ok(site.switcher("history", "--json", "--env", site.name)).stdout.splitlines()
        ]
        record = next(r for r in history if r.get("action") == "deploy" and r.get("release") == tag)
        backup = next(b for b in backups(site) if b["id"] == record["backup"])
        assert backup["release"] == site.release, "taken from the database the live release used"
        assert site.psql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == "1"
    finally:
        remove_release(client, tag)


def write_rows(site, writers: int, rows: int, stop: threading.Event) -> list[threading.Thread]:
    """`writers` clients each inserting up to `rows` rows, one transaction each, until `stop`."""

    def writer(number: int) -> None:
        for row in range(rows):
            if stop.is_set():
                break
            site.psql(
                "INSERT INTO press_pressrelease (slug, title, summary, published) "
                f"VALUES ('w{number}-{row}', 'Order {number}-{row}', 'personal data', '2026-12-01')"
            )

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    return threads


def slugs(env) -> set[str]:
    return set(env.psql("SELECT slug FROM press_pressrelease").split())


def test_export_import_and_replace_into_another_environment(site, client, tmp_path):
    stop = threading.Event()
    writers = write_rows(site, 8, 60, stop)
    try:
        backup_id = ok(site.switcher("db", "backup", "--label", "orders", "--env", site.name)).stdout.strip()
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=120)
    counted = next(b for b in backups(site) if b["id"] == backup_id)["tables"]["public.press_pressrelease"]
    archive = tmp_path / "orders.tar"
    ok(site.switcher("db", "export", backup_id, str(archive), "--env", site.name))
    assert archive.stat().st_mode & 0o777 == 0o600
    again = site.switcher("db", "export", backup_id, str(archive), "--env", site.name)
    assert again.returncode != 0 and "never overwrites" in again.stderr

    settings = {"DB_REPLACE_HOOK": "anonymise --placeholder=hidden", "BACKUP_RETAIN": "5"}
    with running_stack(tmp_path / "integration", site.release, client, **settings) as other:
        bogus = tmp_path / "bogus.tar"
        with tarfile.open(bogus, "w") as tar:
            tar.add(archive, arcname=f"../{backup_id}.dump")
        for bad, message in ((bogus, "not a switcher backup archive"), (tmp_path, "is a directory")):
            refused = other.switcher("db", "import", str(bad), "--env", other.name)
            assert refused.returncode != 0 and message in refused.stderr and "Traceback" not in refused.stderr
        assert backups(other) == []

        # A backup from one environment restored into a new one: every row its record counts.
        assert ok(other.switcher("db", "import", str(archive), "--env", other.name)).stdout.strip() == backup_id
        ok(other.switcher("db", "restore", backup_id, "--yes", "--env", other.name))
        restored = slugs(other)
        assert len(restored) == counted and restored <= slugs(site)
        assert {s for s in restored if s.startswith("w")}, "rows written during the backup are there"
        ok(other.switcher("maintenance", "off", "--env", other.name))

        # `db replace --from` the other environment: its data, this one's credentials, the hook run.
        env_dir = other.directory / "env"
        (env_dir / f"{site.name}.env").write_text((site.directory / "env" / f"{site.name}.env").read_text())
        credentials = other.credentials()
        summaries_before = site.psql("SELECT count(DISTINCT summary) FROM press_pressrelease")
        result = ok(other.switcher("db", "replace", "--from", site.name, "--fresh", "--yes", "--env", other.name))
        assert "running DB_REPLACE_HOOK: manage.py anonymise --placeholder=hidden" in result.stderr
        assert slugs(other) == slugs(site)
        assert other.psql("SELECT DISTINCT summary FROM press_pressrelease") == "hidden"
        assert site.psql("SELECT count(DISTINCT summary) FROM press_pressrelease") == summaries_before
        assert other.credentials() == credentials
        assert other.status()["maintenance"] is None
        with other.session() as http:
            page = http.get(other.live_url + "/", timeout=10)
            assert page.status_code == 200 and "<br>hidden<" in page.text, "it serves the copied, anonymised rows"

        (env_dir / "production.env").write_text((env_dir / f"{other.name}.env").read_text())
        refused = other.switcher("db", "replace", "--from", site.name, "--yes", "--env", "production")
        assert refused.returncode == 8 and "never replaces production" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_down_with_volumes_deletes_the_backups_too(site):
    """Last in this file: the stack is gone afterwards."""
    assert any(name.endswith("_backups") for name in site.leftovers()["volumes"])
    ok(site.switcher("down", "--env", site.name, "--volumes", "--yes"))
    assert site.leftovers()["volumes"] == [], "only `down --volumes --yes` deletes them, and it does"
