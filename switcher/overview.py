"""What `switcher status` shows, read side by side.

The stack's state, the history, the lock, each colour's migrations and the certificate come
from independent Docker calls (container lists, execs, archive reads), each a round trip to the
daemon and together most of the command's time; so they run at once, in threads, and the store
and the certificate are read in one archive call (the daemon serves archive calls of one
container one at a time, ~75 ms each).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from switcher import history
from switcher.config import Environment
from switcher.cutover import Cutover
from switcher.lock import Holder, read_lock
from switcher.runtime import Docker
from switcher.state import StackStatus, by_service, read_status


@dataclass(frozen=True)
class Overview:
    stack: StackStatus
    history: history.History
    lock: Holder | None
    migrations: dict[str, str] | None  # None when no colour is live
    tls: dict


def read_overview(env: Environment, docker: Docker, session: Cutover) -> Overview:
    with ThreadPoolExecutor(max_workers=3) as pool:
        listed = pool.submit(docker.project_containers, env.project)
        lock = pool.submit(read_lock, docker, env.project)
        # The history, each release's migrations and the certificate from one read of the store.
        snapshot = pool.submit(session.store.load_snapshot)
        containers = listed.result()
        stack = pool.submit(read_status, env, docker, containers)
        found = by_service(containers)
        applied = session.applied_migrations(found)  # a psql in the db container
        snapshot.result()
        tls = session.tls_status()
        result = stack.result()
        schema = session.migration_states(found, applied) if result.live else None
        return Overview(result, history.read(session.store), lock.result(), schema, tls)
