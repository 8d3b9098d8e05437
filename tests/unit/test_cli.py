from click.testing import CliRunner

from switcher.cli import cli


def run(args, paths, monkeypatch, **env):
    monkeypatch.setenv("SWITCHER_ENV_DIR", str(paths.env_dir))
    monkeypatch.setenv("SWITCHER_STATE_DIR", str(paths.state_dir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(cli, args)


def one_line_error(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("switcher: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_help_lists_commands_and_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for word in ("status", "up", "down", "Exit codes", "lock"):
        assert word in result.output


def test_unknown_environment(paths, monkeypatch):
    result = run(["status", "--env", "nope"], paths, monkeypatch)
    assert result.exit_code == 5
    assert "unknown environment 'nope'" in one_line_error(result)


def test_malformed_env_file(paths, monkeypatch, write_env):
    write_env("bad", "HTTP_PORT=80\nnonsense\n")
    result = run(["status", "--env", "bad"], paths, monkeypatch)
    assert result.exit_code == 3
    assert "line 2" in one_line_error(result)


def test_daemon_unreachable(paths, monkeypatch, write_env, tmp_path):
    write_env("x", "")
    result = run(["status", "--env", "x"], paths, monkeypatch, DOCKER_HOST=f"unix://{tmp_path}/no.sock")
    assert result.exit_code == 4
    assert "cannot reach the Docker daemon" in one_line_error(result)


def test_bad_release_id(paths, monkeypatch, write_env):
    write_env("x", "")
    result = run(["up", "--env", "x", "--release", "a/b"], paths, monkeypatch)
    assert result.exit_code == 5
    assert "not a valid release id" in one_line_error(result)


def test_a_docker_error_no_step_expected_is_one_line(paths, monkeypatch, write_env):
    import docker.errors

    import switcher.cli.site

    def refuse(*args, **kwargs):
        raise docker.errors.APIError("409 Client Error", explanation="container abc is restarting, wait")

    write_env("x", "")
    monkeypatch.setattr(switcher.cli.site, "read_overview", refuse)
    monkeypatch.setattr(switcher.cli.site, "Docker", lambda: None)
    result = run(["status", "--env", "x"], paths, monkeypatch)
    assert result.exit_code == 1
    assert "the Docker daemon refused: container abc is restarting" in one_line_error(result)
