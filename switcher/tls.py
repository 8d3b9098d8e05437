"""The lb's certificate: the user's own (TLS_CERT/TLS_KEY, read at `switcher up`) or a
self-signed one made once, kept in the environment's tls volume (key 0600, directory 0700,
owner root: nginx's master reads it before it starts its workers). See store.py."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from switcher.config import Environment, is_address
from switcher.errors import ConfigError
from switcher.store import EnvironmentStore


def subject_alt_names(hosts: list[str]) -> str:
    names = dict.fromkeys([*hosts, "localhost", "127.0.0.1"])
    return ",".join(f"IP:{h}" if is_address(h) else f"DNS:{h}" for h in names)


def self_signed(env: Environment) -> tuple[bytes, bytes]:
    """A new self-signed certificate and key for the environment's names, made in a private
    temporary directory (mode 0700) that is removed afterwards."""
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is needed to make a self-signed certificate (or set TLS_CERT and TLS_KEY)")
    with tempfile.TemporaryDirectory(prefix="switcher-tls-") as scratch:
        cert, key = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
        result = subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "825",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                f"/CN={env.site_hosts[0].removeprefix('*.')}",
                "-addext",
                f"subjectAltName={subject_alt_names(env.site_hosts)}",
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise ConfigError(f"openssl could not make a certificate: {' '.join(last)}")
        return cert.read_bytes(), key.read_bytes()


def require_user_files(env: Environment) -> None:
    """With TLS_CERT/TLS_KEY set, both files must exist."""
    for setting, path in (("TLS_CERT", env.tls_cert), ("TLS_KEY", env.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{setting} file {path} does not exist")


def acme_ca_root_pem(env: Environment) -> str:
    """TLS_MODE=acme with ACME_CA_ROOT: the root certificate (public) the acme containers trust
    for the directory's HTTPS, as PEM text; empty otherwise."""
    path = env.acme_ca_root
    if env.tls_mode != "acme" or path is None:
        return ""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"ACME_CA_ROOT file {path} cannot be read") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"ACME_CA_ROOT file {path} is not a PEM certificate")
    return text.strip()


def user_files(env: Environment, report: Callable[[str], None]) -> tuple[bytes, bytes]:
    assert env.tls_cert is not None and env.tls_key is not None
    require_user_files(env)
    if env.tls_key.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        report(f"note: {env.tls_key} is readable by other users; `chmod 600` it")
    return env.tls_cert.read_bytes(), env.tls_key.read_bytes()


def ensure_tls(env: Environment, store: EnvironmentStore, report: Callable[[str], None]) -> None:
    """The user's files when set (written again when they changed); else the stored
    certificate; else a new self-signed one."""
    if env.tls_cert is not None:
        cert, key = user_files(env, report)
        if store.read_certificate() != cert or not store.has_key():
            store.write_certificate(cert, key)
            report("stored the certificate from TLS_CERT/TLS_KEY")
        return
    if store.read_certificate() is not None and store.has_key():
        return
    cert, key = self_signed(env)
    store.write_certificate(cert, key)
    report("made a self-signed certificate")


# -- reading certificates and renewing them --------------------------------------------------
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    names: list[str]
    not_after: datetime
    sha256: str

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def to_json(self, now: datetime) -> dict:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "names": list(self.names),
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": round(self.days_left(now), 1),
            "sha256": self.sha256,
        }


def _openssl(arguments: list[str], data: bytes) -> str:
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is needed to read certificates")
    result = subprocess.run(["openssl", *arguments], input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"openssl {arguments[0]}: {result.stderr.decode('utf-8', 'replace').strip()[-200:]}")
    return result.stdout.decode("utf-8", "replace")


def certificate_info(cert: bytes) -> CertificateInfo:
    """The first certificate of a PEM chain: subject, issuer, names, expiry, fingerprint."""
    text = _openssl(
        ["x509", "-noout", "-subject", "-issuer", "-enddate", "-fingerprint", "-sha256", "-ext", "subjectAltName"],
        cert,
    )
    fields: dict[str, str] = {}
    names: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("DNS:", "IP Address:")):
            names += [part.split(":", 1)[1].strip() for part in line.split(",")]
        elif "=" in line:
            key, value = line.split("=", 1)
            fields[key.strip().lower()] = value.strip()
    not_after = datetime.strptime(fields.get("notafter", ""), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    return CertificateInfo(
        subject=fields.get("subject", ""),
        issuer=fields.get("issuer", ""),
        names=names,
        not_after=not_after,
        sha256=fields.get("sha256 fingerprint", "").replace(":", "").lower(),
    )


def check_pair(cert: bytes, key: bytes) -> None:
    """The key belongs to the certificate (their public keys are the same)."""
    if _openssl(["x509", "-noout", "-pubkey"], cert) != _openssl(["pkey", "-pubout"], key):
        raise ConfigError("TLS_KEY is not the private key of TLS_CERT")


def renewal(
    env: Environment,
    current: tuple[bytes | None, bytes | None],
    force: bool,
    now: datetime,
    report: Callable[[str], None],
) -> tuple[bytes, bytes] | None:
    """The new certificate and key for the environment's TLS_MODE, or None when none is due:
    selfsigned: a new one within RENEW_BEFORE_DAYS of expiry (or --force); files: TLS_CERT and
    TLS_KEY again when they changed (or --force), checked to be a pair and not expired."""
    if env.tls_mode == "files":
        cert, key = user_files(env, report)
        if (cert, key) == current and not force:
            return None
        check_pair(cert, key)
        if certificate_info(cert).days_left(now) <= 0:
            raise ConfigError(f"TLS_CERT {env.tls_cert} has expired; the certificate in use is kept")
        return cert, key
    if current[0] is not None and not force:
        left = certificate_info(current[0]).days_left(now)
        if left > RENEW_BEFORE_DAYS:
            return None
    return self_signed(env)


RENEWAL_FILE = "renewal.json"  # in the tls volume, beside the certificate
OLD_RENEWAL_FILE = "tls-renewal.json"  # where an earlier switcher kept it, in its own store


def tls_status(env: Environment, store: EnvironmentStore) -> dict:
    """`switcher tls status`: the stored certificate (what every lb serves) and the last renewal."""
    now = datetime.now(UTC)
    files = store.read_tls_files()
    cert = files.get("cert.pem")
    raw = files.get(RENEWAL_FILE) or store.read(OLD_RENEWAL_FILE)
    try:
        last = json.loads(raw) if raw else None
    except ValueError:
        last = {"outcome": "unreadable"}
    return {
        "mode": env.tls_mode,
        "certificate": certificate_info(cert).to_json(now) if cert else None,
        "renew_before_days": RENEW_BEFORE_DAYS,
        "last_renewal": last,
    }
