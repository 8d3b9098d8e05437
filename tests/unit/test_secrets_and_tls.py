import stat

from switcher.credentials import ensure_credentials, read_credentials
from switcher.tls import subject_alt_names


def test_credentials_are_made_once_and_private(tmp_path):
    path = tmp_path / "env" / "credentials.env"
    first = ensure_credentials(path)
    assert set(first) == {"DJANGO_SECRET_KEY", "DB_PASSWORD"}
    assert len(first["DJANGO_SECRET_KEY"]) >= 50
    assert ensure_credentials(path) == first == read_credentials(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_subject_alt_names_cover_site_hosts_and_loopback():
    assert subject_alt_names(["example.org", "10.1.2.3"]) == ("DNS:example.org,IP:10.1.2.3,DNS:localhost,IP:127.0.0.1")
