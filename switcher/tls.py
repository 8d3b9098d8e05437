"""The lb's certificate: the user's own (copied in), or a self-signed one made once."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from switcher.config import Environment
from switcher.errors import ConfigError


def _is_ip(host: str) -> bool:
    return all(part.isdigit() for part in host.split(".")) and host.count(".") == 3


def subject_alt_names(hosts: list[str]) -> str:
    names = dict.fromkeys([*hosts, "localhost", "127.0.0.1"])
    return ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in names)


def ensure_tls(env: Environment, tls_dir: Path) -> Path:
    """Fill tls_dir with cert.pem and key.pem, the directory nginx mounts read-only."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if env.tls_cert and env.tls_key:
        for source, target in ((env.tls_cert, cert), (env.tls_key, key)):
            if not source.is_file():
                raise ConfigError(f"certificate file {source} does not exist")
            shutil.copyfile(source, target)
        key.chmod(0o644)  # nginx reads it as root before dropping privileges; the dir is private
        return tls_dir
    if cert.is_file() and key.is_file():
        return tls_dir
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is needed to make a self-signed certificate (or set TLS_CERT and TLS_KEY)")
    with tempfile.TemporaryDirectory(dir=tls_dir) as scratch:
        new_cert, new_key = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
        subprocess.run(
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
                str(new_key),
                "-out",
                str(new_cert),
                "-subj",
                f"/CN={env.site_hosts[0]}",
                "-addext",
                f"subjectAltName={subject_alt_names(env.site_hosts)}",
            ],
            check=True,
            capture_output=True,
        )
        new_key.chmod(0o644)
        new_key.replace(key)
        new_cert.replace(cert)
    tls_dir.chmod(0o700)
    return tls_dir
