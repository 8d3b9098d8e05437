"""Bounded closed-loop HTTP load against a stack's live listener, recording every answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass(frozen=True)
class Answer:
    started: float
    finished: float
    status: int  # 0: a connection error, no HTTP answer
    release: str | None
    error: str = ""
    body: str = ""


@dataclass
class Load:
    """`clients` threads, each sending one request after the other until stopped or bounded.

    keepalive=False sends `Connection: close`, so every request opens a new connection.
    No client retries anything: requests' adapters default to no retries.
    """

    url: str
    cert: str | bool  # the CA file to verify the lb against; False: not verified (the test checks it apart)
    clients: int = 16
    keepalive: bool = True
    max_seconds: float = 180
    max_requests_per_client: int = 20000
    method: str = "GET"
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]

    def _client(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        session = requests.Session()
        session.trust_env = False
        session.verify = self.cert
        headers = {} if self.keepalive else {"Connection": "close"}
        for _ in range(self.max_requests_per_client):
            if self._stop.is_set() or time.monotonic() > deadline:
                break
            started = time.monotonic()
            try:
                response = session.request(self.method, self.url, headers=headers, timeout=15)
                body = response.text[:200] if self.method != "GET" else ""
                answer = Answer(
                    started, time.monotonic(), response.status_code, response.headers.get("X-Release"), body=body
                )
            except requests.RequestException as error:
                answer = Answer(started, time.monotonic(), 0, None, f"{type(error).__name__}: {error}"[:200])
            with self._lock:
                self.answers.append(answer)
        session.close()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        time.sleep(0.5)  # every client is in its loop before the measured action starts
        return self

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(0.3)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def releases_started_after(self, moment: float) -> set[str | None]:
        return {a.release for a in self.answers if a.started > moment}
