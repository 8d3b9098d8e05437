"""Per-environment secrets, generated once by `switcher up` and kept in the environment's store
(credentials.env, mode 0600; see store.py), never in the repository, an image or a checkout.

Who gets which: the site (app colours, cron, one-off tasks) gets DJANGO_SECRET_KEY and
DB_PASSWORD, its own role's; only the db container gets DB_SUPERUSER_PASSWORD; only the lb
gets MAINTENANCE_TOKEN (inside the maintenance state, while maintenance is on). On a cluster the
task broker (Redis on the stack's network) asks for BROKER_PASSWORD, which the site gets in
CELERY_BROKER_URL; on one engine the broker has no network, only a unix socket in a volume that
the site's containers alone mount.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from switcher.config import parse_env_text
from switcher.errors import NotFound, Refused

FILE = "credentials.env"
GENERATED: dict[str, Callable[[], str]] = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # The site's own database role (not a superuser).
    "DB_PASSWORD": lambda: secrets.token_urlsafe(24),
    # The postgres superuser: only the db container and switcher's database commands.
    "DB_SUPERUSER_PASSWORD": lambda: secrets.token_urlsafe(24),
    # The maintenance bypass: a cookie `switcher_bypass` or header `X-Maintenance-Bypass`.
    "MAINTENANCE_TOKEN": lambda: secrets.token_urlsafe(24),
    # The task broker's (a cluster's; URL-safe: it is part of CELERY_BROKER_URL).
    "BROKER_PASSWORD": lambda: secrets.token_urlsafe(24),
}
# `switcher secrets rotate NAME`: the names an operator types, and the key each rotates.
ROTATABLE = {
    "maintenance-token": "MAINTENANCE_TOKEN",
    "db-superuser-password": "DB_SUPERUSER_PASSWORD",
    "db-password": "DB_PASSWORD",
    "django-secret-key": "DJANGO_SECRET_KEY",
    "broker-password": "BROKER_PASSWORD",
}


class Store(Protocol):
    def read(self, path: str) -> bytes | None: ...
    def write(self, files: dict[str, tuple[bytes, int]]) -> None: ...


def complete(existing: dict[str, str]) -> dict[str, str]:
    """Pure: the existing values, with every missing one generated."""
    return {key: existing.get(key) or make() for key, make in GENERATED.items()}


def render(values: dict[str, str]) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in values.items()).encode()


def _parse(raw: bytes) -> dict[str, str]:
    return parse_env_text(raw.decode("utf-8", "replace"), f"the store's {FILE}")


def ensure_credentials(store: Store, env_name: str, create: bool = True) -> dict[str, str]:
    """The environment's credentials; missing ones are generated and stored (a new secret added
    by a newer switcher too). Without `create`, an environment with none is an error."""
    raw = store.read(FILE)
    if raw is None and not create:
        raise NotFound(f"{env_name} has no credentials yet: start it with `make up ENV={env_name}`")
    existing = _parse(raw) if raw is not None else {}
    values = complete(existing)
    if values != existing:
        store.write({FILE: (render(values), 0o600)})
    return values


# In the site's environment: rotating them recreates (a cluster: replaces) the colours and cron.
RECREATES = ("DJANGO_SECRET_KEY", "DB_PASSWORD")
# Only a cluster's broker asks for a password: rotating it there replaces the broker and every
# task of the site (its CELERY_BROKER_URL), like RECREATES.
CLUSTER_ONLY = ("BROKER_PASSWORD",)


def refuse_on_one_host(name: str) -> Refused:
    return Refused(
        f"{name} is a cluster's (ENGINE=swarm): one host's broker takes no password (a unix socket "
        f"that only the site's containers mount); nothing was changed"
    )


def refuse_rotating_live(name: str) -> Refused:
    """Why NAME is not rotated while the site serves (no maintenance page): old and new
    processes cannot both work meanwhile."""
    return Refused(
        f"rotating {name} recreates the live colour, which interrupts it: turn maintenance on first "
        f"(`switcher maintenance on`), rotate, check through the bypass, `switcher maintenance off`"
    )


def rotate(store: Store, env_name: str, key: str) -> dict[str, str]:
    """A new value for `key`, stored; every other value kept. Returns them all."""
    values = ensure_credentials(store, env_name, create=False)
    values[key] = GENERATED[key]()
    store.write({FILE: (render(values), 0o600)})
    return values
