import pytest

from switcher.config import (
    DEFAULTS,
    check_release,
    default_env_name,
    load_environment,
    other_color,
    parse_env_text,
    parse_networks,
    validate,
)
from switcher.errors import ConfigError, NotFound


def test_parse_env_text_reads_pairs_comments_and_quotes():
    text = "# comment\n\nA_B=1\nQUOTED=\"two words\"\nSINGLE='x'\nEMPTY=\n"
    assert parse_env_text(text, "f") == {"A_B": "1", "QUOTED": "two words", "SINGLE": "x", "EMPTY": ""}


def test_parse_env_text_names_the_bad_line():
    with pytest.raises(ConfigError, match=r"f line 2: expected KEY=VALUE"):
        parse_env_text("A=1\nthis is not a setting\n", "f")


def test_parse_env_text_refuses_a_key_set_twice():
    with pytest.raises(ConfigError, match="HTTP_PORT is set twice"):
        parse_env_text("HTTP_PORT=1\nHTTP_PORT=2\n", "f")


def test_validate_fills_defaults_and_project(paths):
    env = validate("staging", {}, "f", paths.root)
    assert env.project == "switcher-staging"
    assert env.settings["HTTPS_PORT"] == DEFAULTS["HTTPS_PORT"]
    assert env.tls_cert is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"HTTPS_PORTT": "1"}, "unknown setting HTTPS_PORTT"),
        ({"HTTP_PORT": "http"}, "HTTP_PORT='http' is not a port number"),
        ({"HTTPS_PORT": "70000"}, "is not a port number"),
        ({"HTTP_PORT": "8000", "HTTPS_PORT": "8000"}, "must differ"),
        ({"SUBNET": "10.0.0.0/29"}, "too small"),
        ({"SUBNET": "not-a-net"}, "is not an IPv4 network"),
        ({"BIND_ADDRESS": "localhost"}, "is not an IPv4 address"),
        ({"PROJECT": "Bad Name"}, "not a valid compose project name"),
        ({"GUNICORN_WORKERS": "0"}, "must be a positive whole number"),
        ({"MIGRATE_LOCK_TIMEOUT": "5s"}, "MIGRATE_LOCK_TIMEOUT='5s' must be a positive whole number"),
        ({"DB_REPLACE_HOOK": "anonymise --keep-staff"}, None),
        (
            {"DB_REPLACE_HOOK": "anonymise; rm -rf /"},
            "DB_REPLACE_HOOK='anonymise; rm -rf /' must be a manage.py command",
        ),
        ({"DB_REPLACE_HOOK": "--settings=x flush"}, "must be a manage.py command"),
        ({"DB_REPLACE_HOOK": "anonymise $(id)"}, "must be a manage.py command"),
        ({"SITE_HOSTS": " , "}, "SITE_HOSTS is empty"),
        ({"TLS_CERT": "a.pem"}, "set both TLS_CERT and TLS_KEY"),
        ({"SITE_HOSTS": "example.org,evil.example/x"}, "'evil.example/x' is not a host name"),
        ({"SITE_HOSTS": "exa mple.org"}, "is not a host name"),
        ({"SITE_HOSTS": "a;b.example"}, "is not a host name"),
        ({"SITE_HOSTS": "-bad.example"}, "is not a host name"),
        ({"SITE_HOSTS": "x" * 64 + ".example"}, "is not a host name"),
        ({"SITE_HOSTS": "${SECRET}"}, "is not a host name"),
        ({"TRUSTED_PROXIES": "10.0.0.1,"}, None),  # a trailing comma is just a separator
        ({"TRUSTED_PROXIES": "10.0.0.300"}, "TRUSTED_PROXIES entry '10.0.0.300' is not an IP address"),
        ({"TRUSTED_PROXIES": "proxy.example"}, "is not an IP address or CIDR network"),
        ({"DB_USER": "postgres"}, "must not be the superuser"),
        ({"DB_NAME": "site; DROP"}, "must be lower-case letters"),
        ({"IMAGE_PREFIX": "Bad Prefix"}, "not a Docker repository path"),
        ({"DJANGO_DEBUG": "yes"}, "must be 0 or 1"),
        ({"HTTP_PORT": "8\uff10"}, "is not a port number"),  # a full-width digit
        ({"WRITE_RATE_LIMIT": "0"}, "must be a positive whole number"),
        ({"SETTINGS_MODULE": "site.settings; rm -rf /"}, "is not a Python module path"),
        ({"SETTINGS_MODULE": "site.settings_integration"}, None),
        ({"SMOKE_PATHS": "/,/catalog/,/api/health?full=1"}, None),
        ({"MEDIA_URL": "/uploads/"}, None),
        ({"MEDIA_URL": "/media"}, "must be a path like /media/"),
        ({"MEDIA_URL": "/static/"}, "must be a path like /media/"),
        ({"MEDIA_URL": "/../"}, "must be a path like /media/"),
        ({"MEDIA_URL": "/a/./"}, "must be a path like /media/"),
        ({"SMOKE_PATHS": "catalog"}, "SMOKE_PATHS entry 'catalog' is not a path"),
        ({"SMOKE_PATHS": "//evil.example/"}, "is not a path"),
        ({"SMOKE_PATHS": "/a b"}, "is not a path"),
        ({"SMOKE_PATHS": ","}, "SMOKE_PATHS is empty"),
    ],
)
def test_validate_refuses_bad_settings(paths, values, message):
    if message is None:
        validate("x", values, "f", paths.root)
        return
    with pytest.raises(ConfigError, match=message):
        validate("x", values, "f", paths.root)


def test_host_names_and_networks_are_normalised(paths):
    env = validate(
        "x",
        {"SITE_HOSTS": " www.example.org, *.example.org ,10.0.0.5,::1", "TRUSTED_PROXIES": "10.0.0.7, 10.1.0.0/16"},
        "f",
        paths.root,
    )
    assert env.site_hosts == ["www.example.org", "*.example.org", "10.0.0.5", "::1"]
    assert env.trusted_proxies == ["10.0.0.7/32", "10.1.0.0/16"]


@pytest.mark.parametrize("bad", ["", " ", "everyone", "10.0.0.0/33", "10.0.0.1/8/8", "1.2.3.4 5.6.7.8"])
def test_allowed_networks_refuse_anything_but_addresses(bad):
    with pytest.raises(ConfigError, match="is not an IP address or CIDR network"):
        parse_networks([bad], "--allow")
    assert parse_networks(["203.0.113.7", "203.0.113.0/24", "2001:db8::1/64"], "--allow") == [
        "203.0.113.7/32",
        "203.0.113.0/24",
        "2001:db8::/64",
    ]


def test_certificate_files_are_checked_when_read_not_when_configured(paths):
    env = validate("x", {"TLS_CERT": "/nonexistent/c.pem", "TLS_KEY": "/nonexistent/k.pem"}, "f", paths.root)
    assert env.tls_cert is not None, "other commands work from a checkout without the files (see test_secrets_and_tls)"


def test_user_certificate_paths_resolve_against_the_project(paths, tmp_path):
    (tmp_path / "c.pem").write_text("c")
    (tmp_path / "k.pem").write_text("k")
    env = validate("x", {"TLS_CERT": str(tmp_path / "c.pem"), "TLS_KEY": str(tmp_path / "k.pem")}, "f", paths.root)
    assert env.tls_cert == tmp_path / "c.pem"


def test_addresses_and_urls_derive_from_settings(paths):
    env = validate("x", {"SUBNET": "172.30.7.0/24", "HTTPS_PORT": "8443", "PREVIEW_PORT": "9443"}, "f", paths.root)
    assert env.color_address("blue") == "172.30.7.11"
    assert env.color_address("green") == "172.30.7.12"
    assert env.dynamic_range == "172.30.7.128/25"
    assert env.live_url == "https://127.0.0.1:8443/"
    assert env.preview_url == "https://127.0.0.1:9443/"
    assert validate("y", {}, "f", paths.root).live_url == "https://127.0.0.1/"


def test_load_environment_names_known_environments(paths, write_env):
    write_env("integration", "HTTP_PORT=8080\nHTTPS_PORT=8444\nPREVIEW_PORT=9443\n")
    assert load_environment("integration", paths).settings["HTTP_PORT"] == "8080"
    with pytest.raises(NotFound, match=r"unknown environment 'prod'.*known: integration"):
        load_environment("prod", paths)
    with pytest.raises(NotFound, match="not a valid environment name"):
        load_environment("../etc/passwd", paths)


def test_malformed_env_file_is_a_config_error(paths, write_env):
    write_env("broken", "HTTP_PORT 8080\n")
    with pytest.raises(ConfigError, match=r"broken.env line 1"):
        load_environment("broken", paths)


def test_release_ids_and_colours_are_checked():
    assert check_release("1.2.3-rc1") == "1.2.3-rc1"
    for bad in ("no/slash", "v1\n", "v1\nv2", "", ".hidden", "-x", "a" * 129):
        with pytest.raises(NotFound, match="not a valid release id"):
            check_release(bad)
    assert other_color("blue") == "green"
    with pytest.raises(NotFound, match="unknown colour 'red'"):
        other_color("red")


def test_default_env_follows_make_up(paths, monkeypatch):
    monkeypatch.delenv("SWITCHER_ENV", raising=False)
    assert default_env_name(paths) == "production"
    paths.state_dir.mkdir()
    (paths.state_dir / "current-env").write_text("integration\n")
    assert default_env_name(paths) == "integration"
    monkeypatch.setenv("SWITCHER_ENV", "other")
    assert default_env_name(paths) == "other"


def test_since_takes_durations_and_dates():
    from datetime import UTC, datetime, timedelta

    from switcher.config import parse_since

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("10m", now) == now - timedelta(minutes=10)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("2026-11-25T10:00", now) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    for bad in ("yesterday", "10 m", "-5m", "10y", ""):
        with pytest.raises(ConfigError, match="--since"):
            parse_since(bad, now)
