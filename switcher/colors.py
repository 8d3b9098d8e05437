"""Each colour's deploy record: which release switcher last put on it and whether that deploy
finished ok, kept in the environment's store (`colors/COLOR.json`).

A colour may go live (promote, rollback) only when its record says its deploy of the release
it runs finished ok. A deploy that failed, or never finished (the switcher was killed), leaves
a record that refuses it; rollback then goes back to the colour's last release that was ok.
Colours that `switcher up` creates are ok: up migrated and health-checked them. A colour with
no record (an environment from before records) is taken as it is.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

DEPLOYING, OK, FAILED = "deploying", "ok", "failed"


class Store(Protocol):
    def read(self, path: str) -> bytes | None: ...
    def write(self, files: dict[str, tuple[bytes, int]]) -> None: ...


@dataclass(frozen=True)
class ColorRecord:
    release: str
    state: str  # deploying, ok or failed
    last_ok: str | None  # the newest release that finished ok on this colour
    time: str
    error: str = ""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def starting(previous: ColorRecord | None, running: str | None, release: str) -> ColorRecord:
    """Pure: the record while `release` is being deployed over what the colour had."""
    if previous is None:
        return ColorRecord(release=release, state=DEPLOYING, last_ok=running, time=now())  # put there by `up`
    last_ok = previous.release if previous.state == OK else previous.last_ok
    return ColorRecord(release=release, state=DEPLOYING, last_ok=last_ok, time=now())


def finished(record: ColorRecord, error: str | None = None) -> ColorRecord:
    if error is None:
        return ColorRecord(record.release, OK, record.release, now())
    return ColorRecord(record.release, FAILED, record.last_ok, now(), error[:300])


def ready(release: str) -> ColorRecord:
    """A colour started by `up` (or brought back by rollback) with `release`, found healthy."""
    return ColorRecord(release, OK, release, now())


def refusal(color: str, record: ColorRecord | None, running: str | None) -> str | None:
    """Pure: why the colour must not go live, or None when it may."""
    if record is None:
        return None
    if record.state == DEPLOYING:
        return f"the deploy of {record.release} to {color} did not finish (started {record.time})"
    if record.state == FAILED:
        reason = f": {record.error}" if record.error else ""
        return f"the deploy of {record.release} to {color} failed at {record.time}{reason}"
    if running != record.release:
        return f"app-{color} runs {running or 'nothing'}, but the release deployed to it was {record.release}"
    return None


def path(color: str) -> str:
    return f"colors/{color}.json"


def read_record(store: Store, color: str) -> ColorRecord | None:
    raw = store.read(path(color))
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        return ColorRecord(**{key: data.get(key) for key in ColorRecord.__dataclass_fields__})
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError):
        # A torn record proves nothing good about the colour: treat it as unfinished.
        return ColorRecord(release="?", state=DEPLOYING, last_ok=None, time="?", error="unreadable record")


def write_record(store: Store, color: str, record: ColorRecord) -> None:
    store.write({path(color): (json.dumps(asdict(record), sort_keys=True).encode(), 0o600)})
