import json
import os
import stat
import subprocess

import pytest

from switcher.config import validate
from switcher.credentials import FILE, ensure_credentials
from switcher.errors import ConfigError, NotFound
from switcher.tls import acme_ca_root_pem, ensure_tls, subject_alt_names

from .conftest import ROOT
from .fakes import MemoryStore


def test_credentials_are_made_once_private_and_the_superuser_has_its_own():
    store = MemoryStore()
    with pytest.raises(NotFound, match="no credentials yet"):
        ensure_credentials(store, "x", create=False)
    first = ensure_credentials(store, "x")
    assert set(first) == {
        "DJANGO_SECRET_KEY", "DB_PASSWORD", "DB_SUPERUSER_PASSWORD", "MAINTENANCE_TOKEN", "BROKER_PASSWORD",
    }  # fmt: skip
    assert len(set(first.values())) == len(first), "each its own"
    assert len(first["DJANGO_SECRET_KEY"]) >= 50
    assert first["DB_SUPERUSER_PASSWORD"] != first["DB_PASSWORD"]
    assert store.files[FILE][1] == 0o600
    assert ensure_credentials(store, "x") == first == ensure_credentials(store, "x", create=False)


def test_a_secret_added_later_is_generated_and_the_others_kept():
    store = MemoryStore()
    store.write({FILE: (b"DJANGO_SECRET_KEY=k\nDB_PASSWORD=p\nMAINTENANCE_TOKEN=t\n", 0o600)})
    values = ensure_credentials(store, "x", create=False)
    assert (values["DJANGO_SECRET_KEY"], values["DB_PASSWORD"]) == ("k", "p")
    assert values["DB_SUPERUSER_PASSWORD"] and values["DB_SUPERUSER_PASSWORD"] != "p"
    assert b"DB_SUPERUSER_PASSWORD=" in store.read(FILE)


def test_subject_alt_names_cover_site_hosts_and_loopback():
    assert subject_alt_names(["example.org", "10.1.2.3"]) == ("DNS:example.org,IP:10.1.2.3,DNS:localhost,IP:127.0.0.1")
    assert "IP:2001:db8::1" in subject_alt_names(["2001:db8::1"])


def test_self_signed_certificate_is_made_once_with_a_private_key(tmp_path):
    env = validate("x", {"SITE_HOSTS": "example.org"}, "f", ROOT)
    store, said = MemoryStore(), []
    ensure_tls(env, store, said.append)
    cert, key_mode = store.tls["cert.pem"][0], store.tls["key.pem"][1]
    assert key_mode == 0o600
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=cert, capture_output=True, check=True
    ).stdout.decode()
    assert "DNS:example.org" in text and "IP Address:127.0.0.1" in text
    ensure_tls(env, store, said.append)
    assert store.tls["cert.pem"][0] == cert, "an existing certificate must be kept"
    assert not [p for p in os.listdir("/tmp") if p.startswith("switcher-tls-")], "the scratch directory is removed"


def test_user_certificate_is_stored_private_and_refused_when_missing(tmp_path):
    (tmp_path / "mine.pem").write_text("CERT")
    (tmp_path / "mine.key").write_text("KEY")
    (tmp_path / "mine.key").chmod(0o644)
    own = validate("y", {"TLS_CERT": str(tmp_path / "mine.pem"), "TLS_KEY": str(tmp_path / "mine.key")}, "f", ROOT)
    store, said = MemoryStore(), []
    ensure_tls(own, store, said.append)
    assert store.tls == {"cert.pem": (b"CERT", 0o644), "key.pem": (b"KEY", 0o600)}
    assert any("chmod 600" in line for line in said), "a world-readable key of the user's is pointed out"
    gone = validate("z", {"TLS_CERT": str(tmp_path / "no.pem"), "TLS_KEY": str(tmp_path / "no.key")}, "f", ROOT)
    with pytest.raises(ConfigError, match=r"TLS_CERT file .*no\.pem does not exist"):
        ensure_tls(gone, MemoryStore(), said.append)
    assert stat.S_IMODE((tmp_path / "mine.key").stat().st_mode) == 0o644, "the user's own file is left alone"


def test_maintenance_page_carries_the_escaped_message():
    from switcher.maintenance import MESSAGE_MARK, render_page, state_json

    page = "<html><body><h1>Down</h1></body></html>"
    assert render_page(page, None) == page
    assert '<p class="maintenance-message">DB &lt;upgrade&gt;</p>\n</body>' in render_page(page, "DB <upgrade>")
    assert render_page(f"<p>{MESSAGE_MARK}</p>", "x") == '<p><p class="maintenance-message">x</p></p>'
    state = json.loads(state_json("t", "m", 60, ["10.0.0.1/32"], "r1"))
    assert state["on"] is True and state["retry_after"] == 60 and state["token"] == "t"


def test_a_certificate_is_read_and_renewed_only_when_due_or_forced():
    from datetime import UTC, datetime, timedelta

    from switcher.tls import certificate_info, check_pair, renewal, self_signed

    env = validate("x", {"SITE_HOSTS": "example.org"}, "f", ROOT)
    cert, key = self_signed(env)
    info = certificate_info(cert)
    assert info.names == ["example.org", "localhost", "127.0.0.1"] and "example.org" in info.subject
    assert len(info.sha256) == 64
    now = datetime.now(UTC)
    assert 820 < info.days_left(now) <= 825
    assert renewal(env, (cert, key), False, now, print) is None, "not due"
    assert renewal(env, (cert, key), True, now, print) is not None, "forced"
    assert renewal(env, (cert, key), False, info.not_after - timedelta(days=29), print) is not None, "due"
    check_pair(cert, key)
    with pytest.raises(ConfigError, match="not the private key"):
        check_pair(cert, self_signed(env)[1])


ACME = {"TLS_MODE": "acme", "ACME_EMAIL": "ops@example.org", "SITE_HOSTS": "example.org,www.example.org,localhost"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TLS_MODE": "acme"}, "ACME_EMAIL='' is not an email address"),
        ({"TLS_MODE": "acme", "ACME_EMAIL": "ops@example"}, "is not an email address"),
        ({"TLS_MODE": "acme", "ACME_EMAIL": "ops@example.org", "ACME_DIRECTORY": "http://ca/dir"}, "https:// URL"),
        ({**ACME, "ACME_NAMES": "evil.example"}, "ACME_NAMES entry 'evil.example' is not in SITE_HOSTS"),
        ({**ACME, "SITE_HOSTS": "localhost,10.0.0.1"}, "needs a DNS name in SITE_HOSTS"),
        ({**ACME, "ACME_NAMES": "localhost"}, "DNS names only"),
        ({**ACME, "SITE_HOSTS": "*.example.org,x.example.org", "ACME_NAMES": "*.example.org"}, "no wildcard"),
        ({**ACME, "ACME_CHECK_SECONDS": "daily"}, "ACME_CHECK_SECONDS='daily' must be a positive whole number"),
        ({**ACME, "ACME_RETRY_SECONDS": "0"}, "ACME_RETRY_SECONDS='0' must be a positive whole number"),
        ({"TLS_MODE": "letsencrypt"}, "must be selfsigned, files or acme"),
        ({"TLS_MODE": "files"}, "needs TLS_CERT and TLS_KEY"),
        ({"TLS_MODE": "selfsigned", "TLS_CERT": "a.pem", "TLS_KEY": "a.key"}, "ignores TLS_CERT"),
    ],
)
def test_tls_mode_is_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        validate("x", values, "f", ROOT)
    assert validate("x", {}, "f", ROOT).tls_mode == "selfsigned"
    assert validate("x", ACME, "f", ROOT).acme_names == ["example.org", "www.example.org"]
    assert validate("x", {"TLS_CERT": "a.pem", "TLS_KEY": "a.key"}, "f", ROOT).tls_mode == "files"


def test_the_acme_ca_root_is_passed_as_pem_only_in_acme_mode(tmp_path):
    root = tmp_path / "root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    env = validate("x", {**ACME, "ACME_CA_ROOT": str(root)}, "f", ROOT)
    assert acme_ca_root_pem(env).startswith("-----BEGIN CERTIFICATE-----")
    assert acme_ca_root_pem(validate("x", ACME, "f", ROOT)) == ""
    root.write_text("not a certificate")
    with pytest.raises(ConfigError, match="is not a PEM certificate"):
        acme_ca_root_pem(env)
    root.unlink()
    with pytest.raises(ConfigError, match="cannot be read"):
        acme_ca_root_pem(env)
