"""Every change made to an environment, kept in the environment's store (see store.py) so that
every operator, from any checkout, reads one record.

One file per record (`history/TIME-ACTION-RANDOM.json`): appending never rewrites what is
there, so a switcher killed mid-write can tear at most its own record. Reading skips what it
cannot decode (a torn record, a cut multibyte character) and counts it, so one bad record
never stops `status`, `history` or `rollback`.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from switcher.lock import current_user

DIRECTORY = "history"


class Store(Protocol):
    def read_dir(self, path: str) -> dict[str, bytes]: ...
    def write(self, files: dict[str, tuple[bytes, int]]) -> None: ...


@dataclass(frozen=True)
class History:
    records: list[dict] = field(default_factory=list)
    skipped: int = 0  # records that could not be read

    def last(self, count: int | None) -> list[dict]:
        return self.records[-count:] if count else list(self.records)

    @property
    def note(self) -> str | None:
        if not self.skipped:
            return None
        return f"skipped {self.skipped} unreadable history record{'s' if self.skipped > 1 else ''} (torn by a crash?)"


def record_name(record: dict, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    action = "".join(c for c in str(record.get("action", "x")) if c.isalnum())[:20] or "x"
    return f"{DIRECTORY}/{moment}-{action}-{secrets.token_hex(4)}.json"


def record(store: Store, env: str, action: str, started: float, outcome: str, **fields: object) -> None:
    """Append who did what to the environment, when, how it ended and how long it took
    (`started`: a time.monotonic() reading). Never a secret in `fields`."""
    append(
        store,
        {
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user": current_user(),
            "host": socket.gethostname(),
            "env": env,
            "action": action,
            "outcome": outcome,
            "duration": round(time.monotonic() - started, 3),
            **fields,
        },
    )


def append(store: Store, record: dict) -> None:
    line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    store.write({record_name(record): (line.encode("utf-8"), 0o600)})


def parse(files: dict[str, bytes]) -> History:
    """Pure: the records of the history files, oldest first (the names sort by time)."""
    records, skipped = [], 0
    for _, content in sorted(files.items()):
        for raw in content.split(b"\n"):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                skipped += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                skipped += 1
    return History(records=records, skipped=skipped)


def read(store: Store) -> History:
    return parse(store.read_dir(DIRECTORY))
