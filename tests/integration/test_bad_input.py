"""Refusals: one line on stderr, a documented exit code, and nothing started."""

import pytest

pytestmark = pytest.mark.integration
EMPTY = {"containers": [], "volumes": [], "networks": []}


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("switcher: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def test_unknown_release_starts_nothing(fresh_env):
    result = fresh_env.switcher("up", "--env", fresh_env.name, "--release", "no-such-release")
    assert result.returncode == 5
    assert "missing image switcher/site:no-such-release" in one_line_error(result)
    assert fresh_env.leftovers() == EMPTY


def test_partly_built_release_starts_nothing(fresh_env, client):
    tag = f"partial-{fresh_env.name}"
    client.images.get(f"switcher/site:{fresh_env.release}").tag("switcher/site", tag)
    try:
        result = fresh_env.switcher("up", "--env", fresh_env.name, "--release", tag)
        assert result.returncode == 5
        assert f"switcher/lb:{tag}" in one_line_error(result)
        assert fresh_env.leftovers() == EMPTY
    finally:
        client.images.remove(f"switcher/site:{tag}")


def test_missing_certificate_file_starts_nothing(fresh_env):
    fresh_env.settings.update(TLS_CERT="/nonexistent/site.pem", TLS_KEY="/nonexistent/site.key")
    fresh_env.write_env_file()
    result = fresh_env.switcher("up", "--env", fresh_env.name, "--release", fresh_env.release)
    assert result.returncode == 3
    assert "TLS_CERT file /nonexistent/site.pem does not exist" in one_line_error(result)
    assert fresh_env.leftovers() == EMPTY


def test_malformed_env_file_starts_nothing(fresh_env):
    fresh_env.write_env_file("PROJECT=" + fresh_env.project + "\nHTTPS_PORT: 443\n")
    result = fresh_env.switcher("up", "--env", fresh_env.name, "--release", fresh_env.release)
    assert result.returncode == 3
    assert "line 2: expected KEY=VALUE" in one_line_error(result)
    assert fresh_env.leftovers() == EMPTY


def test_unreachable_daemon(fresh_env, tmp_path):
    for command in (["status"], ["up", "--release", fresh_env.release], ["down"]):
        result = fresh_env.switcher(*command, "--env", fresh_env.name, DOCKER_HOST=f"unix://{tmp_path}/none.sock")
        assert result.returncode == 4, command
        assert "cannot reach the Docker daemon" in one_line_error(result)


def test_status_of_an_environment_that_is_not_running(fresh_env):
    data = fresh_env.status()
    assert data["live"] is None
    assert data["colors"]["blue"]["state"] == "missing"
    assert "make up" in data["notes"][0]
