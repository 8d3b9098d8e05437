"""Several operators, several checkouts, one environment (issue #7 item 11), and the commands
an unlucky operator can get wrong: nothing of the environment lives in a checkout, nothing
running is recreated because a setting differs, data is deleted only when confirmed."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest

from .stackenv import ROOT, StackEnv, derived_release, ok, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory, release, client):
    with running_stack(tmp_path_factory.mktemp("operators"), release, client) as env:
        yield env


class Checkout:
    """Another clone of the project on the same host: its own compose files and env file,
    an empty state directory, the same Docker daemon."""

    def __init__(self, site: StackEnv, directory) -> None:
        self.site, self.root = site, directory
        shutil.copytree(ROOT / "compose", directory / "compose", ignore=shutil.ignore_patterns("env"))
        (directory / "compose" / "env").mkdir()
        shutil.copy(site.directory / "env" / f"{site.name}.env", directory / "compose" / "env")

    def switcher(self, *args: str):
        return self.site.switcher(
            *args,
            "--env",
            self.site.name,
            SWITCHER_ROOT=str(self.root),
            SWITCHER_ENV_DIR=str(self.root / "compose" / "env"),
            SWITCHER_STATE_DIR=str(self.root / ".switcher"),
        )

    def add_setting(self, line: str) -> None:
        with open(self.root / "compose" / "env" / f"{self.site.name}.env", "a") as env_file:
            env_file.write(line + "\n")


def container_ids(site: StackEnv) -> dict[str, str]:
    return {
        c.labels["com.docker.compose.service"]: c.id
        for c in site.client.containers.list(filters={"label": f"com.docker.compose.project={site.project}"})
    }


def history(run) -> list[dict]:
    return [json.loads(line) for line in ok(run("history", "--json", "-n", "1000")).stdout.splitlines()]


def test_a_second_checkout_acts_on_the_running_environment(site, tmp_path):
    other = Checkout(site, tmp_path)
    before = container_ids(site)
    status = json.loads(ok(other.switcher("status", "--json")).stdout)
    assert status["live"] == "blue" and status["colors"]["blue"]["release"] == site.release
    ok(other.switcher("up", "--release", "some-other-release"))
    assert container_ids(site) == before, "a second `make up` must not recreate anything"
    ok(other.switcher("deploy", site.release))
    ok(other.switcher("promote"))
    assert site.status()["live"] == "green"
    with site.session() as http:
        assert http.get(site.live_url + "/healthz", timeout=10).json()["color"] == "green"
    first = history(lambda *a: site.switcher(*a, "--env", site.name))
    assert first == history(other.switcher), "both checkouts read one history"
    assert [r["action"] for r in first[-3:]] == ["up", "deploy", "promote"], "every change, `up` too"
    assert not (tmp_path / ".switcher" / site.name).exists(), "no credentials, certificate or history in a checkout"
    ok(site.switcher("promote", "--env", site.name))  # back to blue, from the first checkout
    assert before["db"] == container_ids(site)["db"] and before["lb"] == container_ids(site)["lb"]


def test_up_refuses_to_recreate_a_running_database_or_lb_for_a_changed_setting(site, tmp_path):
    other = Checkout(site, tmp_path)
    before = container_ids(site)
    for setting, service, what in (
        ("MEMCACHED_MEMORY_MB=32", "memcached", "environment MEMCACHED_MEMORY_MB"),
        ("DB_MEMORY_MB=4096", "db", "db runs with other settings"),
        ("WRITE_RATE_LIMIT=99", "lb", "environment WRITE_RATE_LIMIT"),
    ):
        probe = Checkout(site, tmp_path / service)
        probe.add_setting(setting)
        result = probe.switcher("up", "--release", site.release)
        assert result.returncode == 8, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("switcher: error: ") and what in line and "switcher down" in line, line
        assert container_ids(site) == before
    ok(other.switcher("up", "--release", site.release))  # unchanged settings: fine, nothing recreated
    assert container_ids(site) == before


def test_deleting_the_data_needs_yes_and_the_lock(site):
    before = site.leftovers()
    refused = site.switcher("down", "--env", site.name, "--volumes")
    assert refused.returncode == 8 and "add --yes" in refused.stderr
    assert site.leftovers() == before
    with site.lock_held_elsewhere("deploy r9"):
        for args in (["down"], ["down", "--volumes", "--yes"], ["up", "--release", site.release]):
            locked = site.switcher(*args, "--env", site.name)
            assert locked.returncode == 7 and "alice@elsewhere" in locked.stderr, args
    assert site.leftovers() == before
    assert site.status()["colors"]["blue"]["health"] == "healthy"


def test_up_after_down_keeps_the_live_colour_and_its_release(site, client):
    """The live flag outlives the lb (it is in the lb-live volume): `up` after `down` must plan
    with the colour that was live, e.g. run cron from its release, not blue's."""
    tag = derived_release(client, site.release, f"{site.release}-later")
    try:
        ok(site.switcher("deploy", tag, "--env", site.name, "--promote"))
        ok(site.switcher("down", "--env", site.name))
        restarted = ok(site.switcher("up", "--env", site.name, "--release", site.release))
        assert f"migrating the database with release {tag}" in restarted.stderr
        status = site.status()
        assert status["live"] == "green" and status["colors"]["green"]["release"] == tag
        assert status["services"]["cron"]["release"] == tag
        ok(site.switcher("rollback", "--env", site.name))
    finally:
        # Blue is live again; green keeps the tag's container until the next deploy replaces it.
        ok(site.switcher("deploy", site.release, "--env", site.name))
        client.images.remove(f"switcher/site:{tag}", force=True)


def test_a_torn_history_record_is_skipped_and_reported(site):
    record = json.dumps({"action": "promote", "release": "Ångström", "outcome": "ok"}, ensure_ascii=False).encode()
    torn = record[: record.index("Å".encode()) + 1]  # cut inside the two bytes of Å
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("history/20991231T000000.000000Z-promote-torn.json")
        info.size, info.mode = len(torn), 0o600
        tar.addfile(info, io.BytesIO(torn))
    site.client.containers.get(f"{site.project}-switcher-store").put_archive("/store", archive.getvalue())
    for command in (["status"], ["history"], ["status", "--json"]):
        result = ok(site.switcher(*command, "--env", site.name))
        assert "skipped 1 unreadable history record" in result.stderr and "Traceback" not in result.stderr
    rolled = ok(site.switcher("rollback", "--env", site.name))
    assert "Traceback" not in rolled.stderr
    ok(site.switcher("rollback", "--env", site.name))
    assert site.status()["live"] == "blue"


def site_env(site: StackEnv, color: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in site.container(f"app-{color}").attrs["Config"]["Env"])
    return dict(pairs)


CONNECT = """
import os, sys, psycopg
try:
    psycopg.connect(host="/run/postgresql", dbname="site", user="site", password=sys.argv[1], connect_timeout=5).close()
    print("connected")
except psycopg.OperationalError:
    print("refused")
"""


def test_secrets_are_rotated_and_applied(site):
    old = site.credentials()
    # The maintenance token: at once, also while maintenance is on.
    ok(site.switcher("maintenance", "on", "--env", site.name))
    try:
        ok(site.switcher("secrets", "rotate", "maintenance-token", "--env", site.name))
        new = site.credentials()
        assert new["MAINTENANCE_TOKEN"] != old["MAINTENANCE_TOKEN"]
        with site.session() as http:
            for token, status in ((old["MAINTENANCE_TOKEN"], 503), (new["MAINTENANCE_TOKEN"], 200)):
                answer = http.get(site.live_url + "/", headers={"X-Maintenance-Bypass": token}, timeout=10)
                assert answer.status_code == status
        # The site's database password: set in the database, both colours recreated with it.
        before = container_ids(site)
        rotated = ok(site.switcher("secrets", "rotate", "db-password", "--env", site.name))
        assert "recreated app-blue" in rotated.stderr and "recreated app-green" in rotated.stderr
        after = site.credentials()
        assert after["DB_PASSWORD"] != old["DB_PASSWORD"]
        assert all(site_env(site, color)["DB_PASSWORD"] == after["DB_PASSWORD"] for color in ("blue", "green"))
        assert site.exec("app-blue", ["python3", "-c", CONNECT, after["DB_PASSWORD"]]).strip() == "connected"
        assert site.exec("app-blue", ["python3", "-c", CONNECT, old["DB_PASSWORD"]]).strip() == "refused"
        assert container_ids(site)["db"] == before["db"], "the database is not restarted"
        with site.session() as http:
            answer = http.get(site.live_url + "/", headers={"X-Maintenance-Bypass": after["MAINTENANCE_TOKEN"]})
            assert answer.status_code == 200 and "Ångström" in answer.text
    finally:
        ok(site.switcher("maintenance", "off", "--env", site.name))
    # Outside maintenance, a rotation that recreates the live colour is refused, and changes nothing.
    refused = site.switcher("secrets", "rotate", "django-secret-key", "--env", site.name)
    assert refused.returncode == 8 and "maintenance on" in refused.stderr
    assert site.credentials()["DJANGO_SECRET_KEY"] == old["DJANGO_SECRET_KEY"]
    # The broker's password is a cluster's: one host's broker has a unix socket only.
    refused = site.switcher("secrets", "rotate", "broker-password", "--env", site.name)
    assert refused.returncode == 8 and "one host's broker takes no password" in refused.stderr, refused.stderr
    assert site.credentials()["BROKER_PASSWORD"] == old["BROKER_PASSWORD"]
    records = history(lambda *a: site.switcher(*a, "--env", site.name))
    rotations = [r for r in records if r["action"] == "secrets"]
    assert [r["secret"] for r in rotations] == ["maintenance-token", "db-password"]
    for value in site.credentials().values():
        assert value not in json.dumps(records), "no secret in the history"
    ok(site.switcher("up", "--env", site.name, "--release", site.release))  # nothing differs afterwards


def test_manage_runs_a_command_of_the_live_release_and_passes_its_exit_code(site):
    checked = ok(site.switcher("manage", "--env", site.name, "check"))
    assert "System check identified no issues" in checked.stdout
    shell = site.switcher("manage", "--env", site.name, "shell", "-c", "import django; print(6 * 7)")
    assert shell.returncode == 0 and shell.stdout.strip().endswith("42"), shell.stderr
    unknown = site.switcher("manage", "--env", site.name, "no-such-command")
    assert unknown.returncode == 1 and "Unknown command" in unknown.stderr + unknown.stdout
    records = history(lambda *a: site.switcher(*a, "--env", site.name))
    assert [(r["command"], r["exit"]) for r in records if r["action"] == "manage"][-3:] == [
        ("check", 0),
        ("shell", 0),
        ("no-such-command", 1),
    ]


def test_logs_of_a_service(site):
    cron = ok(site.switcher("logs", "cron", "--env", site.name, "-n", "2"))
    assert len(cron.stdout.splitlines()) == 2 and "cron: " in cron.stdout
    live = ok(site.switcher("logs", "--env", site.name, "--since", "1d"))
    assert "Booting worker" in live.stdout, "the live colour's gunicorn"
    bad = site.switcher("logs", "--env", site.name, "--since", "yesterday")
    assert bad.returncode == 3 and bad.stderr.strip().startswith("switcher: error: --since 'yesterday'")
