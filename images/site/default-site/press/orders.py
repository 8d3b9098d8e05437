"""Order ids from a counter file in the shared state volume: the old guide's orderid.txt.

Every colour mounts the same volume, so an exclusive flock on a lock file beside the counter
serialises all containers; the new value is written to a temporary file, fsynced and renamed
over the counter, so a crash never leaves a torn or reused number.
"""

import fcntl
import os
from pathlib import Path


def next_order_id(state_dir: Path) -> int:
    counter = state_dir / "orderid.txt"
    with open(state_dir / "orderid.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = int(counter.read_text().strip() or "0")
        except FileNotFoundError:
            current = 0
        new = current + 1
        temporary = state_dir / f".orderid.{os.getpid()}.tmp"
        with open(temporary, "w") as handle:
            handle.write(f"{new}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, counter)
        directory = os.open(state_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return new
