"""The lb's certificate: the user's own (TLS_CERT/TLS_KEY, read at `switcher up`) or a
self-signed one made once, kept in the environment's tls volume (key 0600, directory 0700,
owner root: nginx's master reads it before it starts its workers). See store.py."""

from __future__ import annotations

import ipaddress
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from switcher.config import Environment
from switcher.errors import ConfigError
from switcher.store import EnvironmentStore


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def subject_alt_names(hosts: list[str]) -> str:
    names = dict.fromkeys([*hosts, "localhost", "127.0.0.1"])
    return ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in names)


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
