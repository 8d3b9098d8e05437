"""Benchmarks of issue #9 (the database across releases), each against a baseline run in the
same process on the same stack:

- `switcher db backup` of a database of about 1 GB (generated) against a plain `pg_dump -Fc`
  run by hand: the same db image, user, socket and backups volume, so the difference is what
  switcher adds (the exported snapshot, the per-table row counts, the checksum, the record);
- the restore phase of `switcher db restore` (verify the checksum, pg_restore into a fresh
  database, count its rows against the record, swap it in) against a plain `pg_restore` into a
  new database; and the whole command, which backs up the database it replaces first;
- the deploy's migration check (the release asked what its migrations do, in a one-off
  container) against the whole deploy of the same release.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import docker

from bench.tables import table
from switcher.config import Paths, load_environment
from switcher.cutover import Cutover
from switcher.runtime import Docker
from tests.integration.stackenv import ROOT, StackEnv, ok, release_with_files, remove_release

TARGET_BYTES = 1 << 30
FILL = (
    "CREATE TABLE IF NOT EXISTS bench_filler (id bigserial PRIMARY KEY, n integer, created timestamptz, "
    "payload text); INSERT INTO bench_filler (n, created, payload) SELECT g, now() - g * interval '1 second', "
    "md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 17)::text) || md5((g * 19)::text) "
    "FROM generate_series({start}, {end}) AS g"
)


def _fill(env: StackEnv) -> tuple[int, float]:
    """Rows into bench_filler until the database holds about 1 GB; its size and the seconds."""
    started = time.monotonic()
    start, batch = 1, 1_000_000
    while True:
        env.psql(FILL.format(start=start, end=start + batch - 1))
        start += batch
        size = int(env.psql("SELECT pg_database_size('site')"))
        if size >= TARGET_BYTES or start > 20_000_000:  # bounded
            env.psql("VACUUM ANALYZE bench_filler")
            return size, time.monotonic() - started


def _plain(client: docker.DockerClient, env: StackEnv, command: str) -> float:
    """`command` in a one-off container of the db image beside the db, as db-task runs."""
    started = time.monotonic()
    client.containers.run(
        f"switcher/db:{env.release}",
        ["sh", "-c", command],
        entrypoint=[],
        user="postgres",
        network_mode="none",
        volumes={
            f"{env.project}_db-socket": {"bind": "/run/postgresql", "mode": "rw"},
            f"{env.project}_backups": {"bind": "/var/lib/switcher/backups", "mode": "rw"},
        },
        remove=True,
    )
    return time.monotonic() - started


def _timed(function) -> tuple[float, object]:
    started = time.monotonic()
    result = function()
    return time.monotonic() - started, result


def bench_database(client: docker.DockerClient, release: str, rounds: int) -> str:
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-db-")), release, client, BACKUP_RETAIN="3")
    check_release = f"{release}-bench-migration"
    try:
        env.up()
        size, fill_seconds = _fill(env)
        paths = Paths(ROOT, env.directory / "env", env.directory / "state")
        session = Cutover(paths, load_environment(env.name, paths), Docker(), lambda _: None)
        plain_dump, ours_dump, plain_restore, ours_restore, whole_restore = [], [], [], [], []
        dump_size = plain_size = 0
        for _ in range(rounds):  # interleaved, so drift hits both alike
            plain_dump.append(
                _plain(client, env, "pg_dump -U postgres -d site -Fc -f /var/lib/switcher/backups/plain.dump")
            )
            plain_size = int(
                client.containers.run(
                    f"switcher/db:{release}",
                    ["stat", "-c", "%s", "/var/lib/switcher/backups/plain.dump"],
                    entrypoint=[],
                    volumes={f"{env.project}_backups": {"bind": "/var/lib/switcher/backups", "mode": "ro"}},
                    remove=True,
                )
            )
            seconds, result = _timed(lambda: ok(env.switcher("db", "backup", "--env", env.name)))
            ours_dump.append(seconds)
            backup_id = result.stdout.strip()
            dump_size = next(b.size for b in session.backups() if b.id == backup_id)
            plain_restore.append(
                _plain(
                    client,
                    env,
                    "createdb -U postgres -O site bench_plain && pg_restore -U postgres -d bench_plain --no-owner "
                    "--no-privileges --role=site --exit-on-error /var/lib/switcher/backups/plain.dump",
                )
            )
            _plain(client, env, "dropdb -U postgres bench_plain && rm /var/lib/switcher/backups/plain.dump")
            ours_restore.append(_timed(lambda backup_id=backup_id: session.db_task(["restore", backup_id]))[0])
            whole_restore.append(
                _timed(
                    lambda backup_id=backup_id: ok(env.switcher("db", "restore", backup_id, "--yes", "--env", env.name))
                )[0]
            )
            ok(env.switcher("maintenance", "off", "--env", env.name))
        check, deploy = _migration_check(client, env, session, release, check_release, rounds)
    finally:
        env.destroy()
        remove_release(client, check_release)
    median = statistics.median
    rows = [
        ["plain `pg_dump -Fc` (baseline)", f"{median(plain_dump):.1f}", "1.00", f"{plain_size / 1e6:,.0f} MB"],
        [
            "`switcher db backup` (snapshot, counts, checksum, record)",
            f"{median(ours_dump):.1f}",
            f"{median(ours_dump) / median(plain_dump):.2f}",
            f"{dump_size / 1e6:,.0f} MB",
        ],
        ["plain `pg_restore` into a new database (baseline)", f"{median(plain_restore):.1f}", "1.00", ""],
        [
            "switcher's restore phase (verify, pg_restore, count, swap)",
            f"{median(ours_restore):.1f}",
            f"{median(ours_restore) / median(plain_restore):.2f}",
            "",
        ],
        [
            "whole `switcher db restore` (+ maintenance, a backup of the replaced database first)",
            f"{median(whole_restore):.1f}",
            f"{median(whole_restore) / median(plain_restore):.2f}",
            "",
        ],
    ]
    text = table(["case", "seconds", "ratio", "dump"], rows)
    text += (
        f"\n\nDatabase: {size / 1e6:,.0f} MB (pg_database_size; generated in {fill_seconds:.0f} s); medians of "
        f"{rounds} interleaved rounds.\n\n"
    )
    check_rows = [
        ["migration check, nothing to apply", f"{median(check[0]):.2f}"],
        ["migration check, one migration to apply", f"{median(check[1]):.2f}"],
        ["whole `switcher deploy` of a release with nothing to apply", f"{median(deploy):.2f}"],
    ]
    return text + table(["deploy's migration check", "seconds"], check_rows)


def _migration_check(
    client: docker.DockerClient, env: StackEnv, session: Cutover, release: str, tag: str, rounds: int
) -> tuple[tuple[list[float], list[float]], list[float]]:
    migration = (
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
        '    dependencies = [("press", "0002_seed_press_releases")]\n'
        '    operations = [migrations.AddField("pressrelease", "note", models.TextField(null=True))]\n'
    )
    release_with_files(client, release, tag, {"press/migrations/0003_pressrelease_note.py": migration})
    releases = session.releases()
    none, one, deploy = [], [], []
    for _ in range(max(rounds, 3)):
        none.append(_timed(lambda: session.check_migrations(release, releases))[0])
        one.append(_timed(lambda: session.check_migrations(tag, releases))[0])
        deploy.append(_timed(lambda: ok(env.switcher("deploy", release, "--env", env.name)))[0])
    return (none, one), deploy


if __name__ == "__main__":
    import os

    print(bench_database(docker.from_env(), os.environ.get("RELEASE", "dev"), int(os.environ.get("BENCH_ROUNDS", "2"))))
