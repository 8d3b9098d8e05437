"""Per-environment secrets (Django's key, the database password), generated once and kept
in the environment's state directory, never in the repository."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from switcher.config import parse_env_text

GENERATED = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "DB_PASSWORD": lambda: secrets.token_urlsafe(24),
    # The maintenance bypass: a cookie `switcher_bypass` or header `X-Maintenance-Bypass`.
    "MAINTENANCE_TOKEN": lambda: secrets.token_urlsafe(24),
}


def ensure_credentials(path: Path) -> dict[str, str]:
    existing = parse_env_text(path.read_text(), str(path)) if path.is_file() else {}
    values = {key: existing.get(key) or make() for key, make in GENERATED.items()}
    if values != existing:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{key}={value}\n" for key, value in values.items()))
        temporary.replace(path)
    return values


def read_credentials(path: Path) -> dict[str, str] | None:
    if not path.is_file():
        return None
    return parse_env_text(path.read_text(), str(path))
