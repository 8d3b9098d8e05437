import stat

from switcher.credentials import ensure_credentials, read_credentials
from switcher.tls import ensure_tls, subject_alt_names


def test_credentials_are_made_once_and_private(tmp_path):
    path = tmp_path / "env" / "credentials.env"
    first = ensure_credentials(path)
    assert set(first) == {"DJANGO_SECRET_KEY", "DB_PASSWORD", "MAINTENANCE_TOKEN"}
    assert len(first["DJANGO_SECRET_KEY"]) >= 50
    assert ensure_credentials(path) == first == read_credentials(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_subject_alt_names_cover_site_hosts_and_loopback():
    assert subject_alt_names(["example.org", "10.1.2.3"]) == ("DNS:example.org,IP:10.1.2.3,DNS:localhost,IP:127.0.0.1")


def test_self_signed_certificate_is_made_once_and_user_certificates_are_copied(tmp_path):
    import subprocess

    from switcher.config import validate

    from .conftest import ROOT

    env = validate("x", {"SITE_HOSTS": "example.org"}, "f", ROOT)
    tls_dir = tmp_path / "tls"
    ensure_tls(env, tls_dir)
    first = (tls_dir / "cert.pem").read_bytes()
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"],
        input=first,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "DNS:example.org" in text and "IP Address:127.0.0.1" in text
    ensure_tls(env, tls_dir)
    assert (tls_dir / "cert.pem").read_bytes() == first, "an existing certificate must be kept"

    (tmp_path / "mine.pem").write_text("CERT")
    (tmp_path / "mine.key").write_text("KEY")
    own = validate("y", {"TLS_CERT": str(tmp_path / "mine.pem"), "TLS_KEY": str(tmp_path / "mine.key")}, "f", ROOT)
    ensure_tls(own, tls_dir)
    assert (tls_dir / "cert.pem").read_text() == "CERT"
    assert (tls_dir / "key.pem").read_text() == "KEY"


def test_maintenance_page_carries_the_escaped_message():
    from switcher.maintenance import MESSAGE_MARK, render_page, state_json

    page = "<html><body><h1>Down</h1></body></html>"
    assert render_page(page, None) == page
    assert '<p class="maintenance-message">DB &lt;upgrade&gt;</p>\n</body>' in render_page(page, "DB <upgrade>")
    assert render_page(f"<p>{MESSAGE_MARK}</p>", "x") == '<p><p class="maintenance-message">x</p></p>'
    import json

    state = json.loads(state_json("t", "m", 60, ["10.0.0.1"], "r1"))
    assert state["on"] is True and state["retry_after"] == 60 and state["token"] == "t"
