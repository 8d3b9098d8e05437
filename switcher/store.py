"""What an environment keeps beside its containers, in its own Docker volumes rather than in
the checkout that started it: the credentials, the certificate, the history and each colour's
deploy record. Any checkout of the project on any machine that reaches the same Docker daemon
acts on the environment the same way, and every operator sees one history.

Two volumes per environment, both created by switcher (compose never recreates or deletes
them): `PROJECT_switcher` (switcher's own files, mounted by no service) and `PROJECT_tls` (the
certificate and key, mounted read-only by the lb). Their files are written and read through
the Docker API's archive calls on `PROJECT-switcher-store`, a container that is created with
both volumes and never started. So they are readable by exactly those who may use this Docker
daemon (root and the docker group, who can read every container anyway), the volumes' roots
and the key have mode 0700/0600, and no file of them is ever on the client's disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from switcher.runtime import Docker

STORE_DIR = "/store"
TLS_DIR = "/tls"
PRIVATE = 0o600
PUBLIC = 0o644


def store_volume(project: str) -> str:
    return f"{project}_switcher"


def tls_volume(project: str) -> str:
    return f"{project}_tls"


class EnvironmentStore:
    """Files of one environment, by path relative to the store (`credentials.env`, `history/…`)."""

    def __init__(self, docker: Docker, project: str) -> None:
        self.docker, self.project = docker, project
        self.holder = f"{project}-switcher-store"
        self.volumes = {store_volume(project): STORE_DIR, tls_volume(project): TLS_DIR}
        self._exists = False  # once seen, for the rest of the command (remove() forgets it)
        self._holder_seen = False
        # Every file of the store and of the tls volume, after load_snapshot until a write.
        self._snapshot: dict[str, bytes] | None = None
        self._tls_snapshot: dict[str, bytes] | None = None

    # -- one read for a command that only reads ---------------------------------------------
    def load_snapshot(self) -> None:
        """Read every file of both volumes at once: one archive call of the holder's root (its
        image is empty, so that is the two volumes and a few files Docker adds). Each call
        costs the daemon ~75 ms whatever its size, and calls on one container run one at a
        time. `read`, `read_dir` and `read_tls_files` answer from it until something is written."""
        files = (self.docker.read_files(self._holder(), "/") or {}) if self.exists() else {}
        store, tls = STORE_DIR.strip("/") + "/", TLS_DIR.strip("/") + "/"
        names = {path.lstrip("/"): content for path, content in files.items()}
        self._snapshot = {path.removeprefix(store): data for path, data in names.items() if path.startswith(store)}
        self._tls_snapshot = {path.removeprefix(tls): data for path, data in names.items() if path.startswith(tls)}

    def _labels(self, role: str) -> dict[str, str]:
        return {"io.switcher.project": self.project, "io.switcher.role": role}

    def exists(self) -> bool:
        if not self._exists:
            labelled = self.docker.volumes_labelled(f"io.switcher.project={self.project}")
            self._exists = store_volume(self.project) in labelled
        return self._exists

    def ensure(self) -> None:
        """Create the volumes and the holder (idempotent); the volumes' roots are private."""
        fresh = not self.exists()
        for volume in self.volumes:
            self.docker.ensure_volume(volume, self._labels("store" if volume.endswith("_switcher") else "tls"))
        self._holder()
        if fresh:
            for path in self.volumes.values():
                self.docker.write_files(self.holder, "/", {path.lstrip("/") + "/": (b"", 0o700)})

    def _holder(self) -> str:
        """The holder container, created again when something (a `container prune`) removed it."""
        if not self._holder_seen:
            if self.docker.marker(self.holder) is None:
                self.docker.create_marker(self.holder, self._labels("store"), self.volumes)
            self._holder_seen = True
        return self.holder

    def remove(self) -> None:
        self._exists = self._holder_seen = False
        self._snapshot = self._tls_snapshot = None
        found = self.docker.marker(self.holder)
        if found is not None:
            self.docker.remove_container_id(found[0])
        for volume in self.volumes:
            self.docker.remove_volume(volume)

    # -- files --------------------------------------------------------------------------------
    def _file(self, absolute: str) -> bytes | None:
        """One file of the holder's volumes, or None."""
        if not self.exists():
            return None
        files = self.docker.read_files(self._holder(), absolute)
        return next(iter(files.values())) if files else None

    def read(self, path: str) -> bytes | None:
        if self._snapshot is not None:
            return self._snapshot.get(path)
        return self._file(f"{STORE_DIR}/{path}")

    def read_dir(self, path: str) -> dict[str, bytes]:
        """Every file under the directory `path`, by its path in the store (`history/x.json`)."""
        if self._snapshot is not None:
            return {name: content for name, content in self._snapshot.items() if name.startswith(path + "/")}
        if not self.exists():
            return {}
        return self.docker.read_files(self._holder(), f"{STORE_DIR}/{path}") or {}

    def write(self, files: dict[str, tuple[bytes, int]]) -> None:
        """Write files by path in the store, creating their directories (mode 0700)."""
        self._snapshot = self._tls_snapshot = None
        entries: dict[str, tuple[bytes, int]] = {}
        for path, content in files.items():
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                entries.setdefault("/".join(parts[:depth]) + "/", (b"", 0o700))
            entries[path] = content
        self.docker.write_files(self._holder(), STORE_DIR, entries)

    # -- the certificate, in the volume the lb mounts ------------------------------------------
    def read_certificate(self) -> bytes | None:
        return self._file(f"{TLS_DIR}/cert.pem")

    def read_key(self) -> bytes | None:
        return self._file(f"{TLS_DIR}/key.pem")

    def read_tls_files(self) -> dict[str, bytes]:
        """Every file of the tls volume by name (cert.pem, renewal.json, …), in one read."""
        if self._tls_snapshot is not None:
            return self._tls_snapshot
        if not self.exists():
            return {}
        files = self.docker.read_files(self._holder(), TLS_DIR) or {}
        return {path.split("/", 1)[-1]: content for path, content in files.items()}

    def write_tls_file(self, name: str, content: bytes) -> None:
        """A public file of the tls volume (renewal.json: read by status, written by the acme
        service too)."""
        self._snapshot = self._tls_snapshot = None
        self.docker.write_files(self._holder(), TLS_DIR, {name: (content, PUBLIC)})

    def has_key(self) -> bool:
        return self._file(f"{TLS_DIR}/key.pem") is not None

    def write_certificate(self, cert: bytes, key: bytes) -> None:
        """The key first (0600), then the certificate: nginx reads both as root at (re)start."""
        self._snapshot = self._tls_snapshot = None
        self.docker.write_files(self._holder(), TLS_DIR, {"key.pem": (key, PRIVATE)})
        self.docker.write_files(self._holder(), TLS_DIR, {"cert.pem": (cert, PUBLIC)})


def import_local_state(store: EnvironmentStore, local_dir: Path, report: Callable[[str], None]) -> bool:
    """Move what an older switcher kept in the checkout (.switcher/ENV: credentials, tls/,
    history.jsonl) into the store, once, when the store has no credentials yet. The local
    files are left where they are; the message says they may be deleted."""
    credentials = local_dir / "credentials.env"
    if not credentials.is_file() or store.read("credentials.env") is not None:
        return False
    files: dict[str, tuple[bytes, int]] = {"credentials.env": (credentials.read_bytes(), PRIVATE)}
    history = local_dir / "history.jsonl"
    if history.is_file():
        files["history/00000000T000000.000000Z-imported.jsonl"] = (history.read_bytes(), PRIVATE)
    store.write(files)
    cert, key = local_dir / "tls" / "cert.pem", local_dir / "tls" / "key.pem"
    if cert.is_file() and key.is_file() and not store.has_key():
        store.write_certificate(cert.read_bytes(), key.read_bytes())
    report(
        f"moved the credentials, certificate and history of {local_dir} into the environment's store; "
        f"you may delete {local_dir}"
    )
    return True
