"""The only module that speaks the Docker SDK: containers, images and execs of a project."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import docker
import docker.errors
import requests

from switcher.config import PROJECT_LABEL, RELEASE_LABEL, SERVICE_LABEL
from switcher.errors import DockerUnavailable, NotFound, SwitcherError

# Created, never started containers (the lock, the store) are made from this empty image.
MARKER_IMAGE = "switcher-marker:empty"


@dataclass(frozen=True)
class ContainerInfo:
    """What switcher needs to know of one container, read from Docker."""

    name: str
    service: str
    state: str  # Docker's: created, running, restarting, exited, ...
    health: str  # healthy, unhealthy, starting, or none (no health check)
    release: str | None
    health_log: tuple[str, ...] = ()
    config_hash: str = ""  # compose's hash of the service definition it was made from


@contextmanager
def _docker_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as error:
        if isinstance(error, docker.errors.APIError):
            raise
        raise DockerUnavailable(f"cannot reach the Docker daemon while {action}: {_short(error)}") from None


def _demultiplex(stream: bytes) -> str:
    """The text of Docker's multiplexed stdout/stderr stream (8-byte frame headers)."""
    out, at = [], 0
    while at + 8 <= len(stream):
        size = int.from_bytes(stream[at + 4 : at + 8], "big")
        out.append(stream[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(out).decode("utf-8", "replace")


def _exit_code(api, exec_id: str) -> int:
    """An exec's exit code, once Docker has it: its output can end before the engine records
    the exit (then it reports none for a moment); -1 when it never says."""
    for _ in range(40):
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.05)
    return -1


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


class UnreachableDocker:
    """A cluster node's engine that could not be reached: every use raises the error connecting
    gave (a SwitcherError), so each caller decides what an unreachable node means for it."""

    def __init__(self, error: DockerUnavailable) -> None:
        self.error = error

    def __getattr__(self, name: str) -> object:
        raise self.error


class Docker:
    """A connected Docker client, checked with a ping so later calls fail only for real."""

    def __init__(self, timeout: int = 30, base_url: str | None = None) -> None:
        """This machine's engine (DOCKER_HOST), or the one at `base_url` (a cluster's node)."""
        with _docker_errors("connecting" + (f" to {base_url}" if base_url else "")):
            if base_url is None:
                self.client = docker.from_env(timeout=timeout)
            else:
                ssh = base_url.startswith("ssh://")
                self.client = docker.DockerClient(base_url=base_url, timeout=timeout, use_ssh_client=ssh)
            self.client.ping()

    def image_exists(self, reference: str) -> bool:
        with _docker_errors("looking up images"):
            try:
                self.client.images.get(reference)
                return True
            except docker.errors.ImageNotFound:
                return False

    def push_image(self, local: str, remote: str) -> str:
        """Tag `local` as `remote`, push it, drop the extra tag; the digest the registry has."""
        repository, tag = remote.rsplit(":", 1)
        with _docker_errors("pushing an image"):
            image = self.client.images.get(local)
            image.tag(repository, tag)
            try:
                digest = ""
                for event in self.client.api.push(repository, tag, stream=True, decode=True):
                    if "error" in event:
                        raise SwitcherError(f"pushing {remote} failed: {str(event['error'])[:200]}")
                    digest = (event.get("aux") or {}).get("Digest", digest)
            except docker.errors.APIError as error:
                raise SwitcherError(f"pushing {remote} failed: {_short(error)}") from None
            finally:
                self.client.images.remove(remote, noprune=True)
        return digest

    def registry_digest(self, remote: str) -> str | None:
        """The digest of `remote` in its registry (asked through the daemon), or None."""
        with _docker_errors("asking a registry"):
            try:
                return self.client.api.inspect_distribution(remote)["Descriptor"]["digest"]
            except docker.errors.APIError:
                return None

    def pulled_labels(self, remote: str) -> dict[str, str]:
        """The labels of `remote`, pulled from its registry by this engine when it lacks it."""
        if not self.image_exists(remote):
            with _docker_errors("pulling an image"):
                try:
                    self.client.images.pull(remote)
                except docker.errors.APIError as error:
                    raise SwitcherError(f"pulling {remote} failed: {_short(error)}") from None
        return self.image_labels(remote)

    def image_labels(self, reference: str) -> dict[str, str]:
        """The labels of a local image (empty when it has none or does not exist)."""
        with _docker_errors("looking up images"):
            try:
                return dict(self.client.images.get(reference).labels or {})
            except docker.errors.ImageNotFound:
                return {}

    def project_containers(self, project: str) -> list[ContainerInfo]:
        with _docker_errors("listing containers"):
            containers = self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
            return [self._info(c) for c in containers]

    @staticmethod
    def _info(container: docker.models.containers.Container) -> ContainerInfo:
        attrs = container.attrs
        labels = attrs.get("Config", {}).get("Labels") or {}
        health = attrs.get("State", {}).get("Health") or {}
        log = tuple((entry.get("Output") or "").strip() for entry in health.get("Log") or [])
        return ContainerInfo(
            name=container.name,
            service=labels.get(SERVICE_LABEL, ""),
            state=attrs.get("State", {}).get("Status", "unknown"),
            health=health.get("Status", "none"),
            release=labels.get(RELEASE_LABEL),
            health_log=log,
            config_hash=labels.get("com.docker.compose.config-hash", ""),
        )

    def exec_status(self, container_name: str, command: list[str]) -> int:
        """Exit code of a command run in a running container."""
        return self.exec_output(container_name, command)[0]

    def exec_output(self, container_name: str, command: list[str], user: str = "") -> tuple[int, str]:
        """Exit code and output of a command run in a running container."""
        with _docker_errors("running a command in a container"):
            api = self.client.api  # three calls: exec_run would inspect the container first
            exec_id = api.exec_create(container_name, command, stdout=True, stderr=True, user=user)["Id"]
            output = api.exec_start(exec_id)
            return _exit_code(api, exec_id), output.decode("utf-8", "replace")

    def exec_printing(self, container_name: str, command: list[str], tries: int = 3) -> tuple[int, str]:
        """exec_output of a command that always prints when it succeeds, run again when Docker
        returns its success with no output at all (an exec's output can be lost: docker-py
        #2042, seen here on Docker 20.10)."""
        for _ in range(tries):
            code, output = self.exec_output(container_name, command)
            if code != 0 or output.strip():
                break
        return code, output

    def exec_with_input(self, container_name: str, command: list[str], data: bytes) -> tuple[int, str]:
        """Run a command in a running container with `data` on its stdin (for secrets: never
        on a command line, so never in a process list). Exit code and output."""
        with _docker_errors("running a command in a container"):
            api = self.client.api
            container = self.client.containers.get(container_name)
            exec_id = api.exec_create(container.id, command, stdin=True, stdout=True, stderr=True)["Id"]
            sock = api.exec_start(exec_id, socket=True)
            raw = getattr(sock, "_sock", sock)
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            raw.close()
            return _exit_code(api, exec_id), _demultiplex(b"".join(chunks))

    def write_file(self, container_name: str, path: str, content: str, private: bool = False) -> tuple[int, str]:
        """`content` into `path` in a running container (umask 022; `private`: 077, for its
        user alone), whole or not at all (a temporary name, then a rename), through stdin:
        never on a command line."""
        umask = "077" if private else "022"
        command = ["sh", "-c", f'umask {umask}; cat > "$1.tmp" && mv -f "$1.tmp" "$1"', "sh", path]
        return self.exec_with_input(container_name, command, content.encode())

    def inspect(self, name: str) -> dict:
        """Docker's whole description of a container (empty when there is none)."""
        with _docker_errors("inspecting a container"):
            try:
                return dict(self.client.containers.get(name).attrs)
            except docker.errors.NotFound:
                return {}

    def container(self, name: str) -> ContainerInfo | None:
        with _docker_errors("inspecting a container"):
            try:
                return self._info(self.client.containers.get(name))
            except docker.errors.NotFound:
                return None

    def stop(self, name: str, timeout: int = 30) -> None:
        with _docker_errors("stopping a container"), suppress(docker.errors.NotFound):
            self.client.containers.get(name).stop(timeout=timeout)

    def start(self, name: str) -> None:
        with _docker_errors("starting a container"):
            self.client.containers.get(name).start()

    def log_stream(
        self, container_name: str, follow: bool, since: datetime | None, tail: int | None
    ) -> Iterator[bytes]:
        """A container's log, with timestamps; until it stops (or forever) with `follow`."""
        with _docker_errors("reading container logs"):
            container = self.client.containers.get(container_name)
            yield from container.logs(
                stream=True, follow=follow, since=since, tail="all" if tail is None else tail, timestamps=True
            )

    def logs_tail(self, container_name: str, lines: int = 20) -> str:
        with _docker_errors("reading container logs"):
            try:
                raw = self.client.containers.get(container_name).logs(tail=lines)
            except docker.errors.NotFound:
                return ""
            return raw.decode("utf-8", "replace")

    # -- markers: created, never started containers whose name, labels and volumes carry state -
    def marker_image(self) -> str:
        """An image with no files at all, for containers that are created and never started.

        Made locally from an empty archive, so the lock and the store depend on no release.
        """
        with _docker_errors("making the marker image"):
            try:
                self.client.images.get(MARKER_IMAGE)
            except docker.errors.ImageNotFound:
                repository, tag = MARKER_IMAGE.split(":")
                empty = io.BytesIO()
                tarfile.open(fileobj=empty, mode="w").close()
                self.client.api.import_image_from_data(
                    empty.getvalue(), repository=repository, tag=tag, changes=['LABEL io.switcher.role="marker"']
                )
            return MARKER_IMAGE

    def create_marker(self, name: str, labels: dict[str, str], volumes: dict[str, str] | None = None) -> str | None:
        """Create the marker and return its id; None when one of that name exists (atomic in Docker)."""
        image = self.marker_image()
        mounts = {volume: {"bind": path, "mode": "rw"} for volume, path in (volumes or {}).items()}
        with _docker_errors("creating a marker container"):
            try:
                return self.client.containers.create(
                    image, ["none"], name=name, labels=labels, volumes=mounts, network_disabled=True
                ).id
            except docker.errors.APIError as error:
                if error.status_code == 409:
                    return None
                raise

    def marker(self, name: str) -> tuple[str, dict[str, str]] | None:
        """The id and labels of the container of that name, or None."""
        with _docker_errors("reading a marker container"):
            try:
                container = self.client.containers.get(name)
            except docker.errors.NotFound:
                return None
            return container.id, dict(container.labels)

    def remove_container_id(self, container_id: str) -> bool:
        """Remove exactly that container (not whatever now has its name); False when it is gone."""
        with _docker_errors("removing a container"):
            try:
                self.client.api.remove_container(container_id, force=True)
                return True
            except docker.errors.NotFound:
                return False

    # -- volumes and their files, read and written through a (never started) holder ---------
    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        with _docker_errors("creating a volume"):
            try:
                self.client.volumes.get(name)
            except docker.errors.NotFound:
                self.client.volumes.create(name, labels=labels)

    def volumes_labelled(self, label: str) -> list[str]:
        with _docker_errors("listing volumes"):
            return [volume.name for volume in self.client.volumes.list(filters={"label": label})]

    def remove_volume(self, name: str) -> None:
        with _docker_errors("removing a volume"), suppress(docker.errors.NotFound):
            self.client.volumes.get(name).remove()

    def volume_has_file(self, volume: str, path: str) -> bool | None:
        """Whether `path` (relative) exists in the volume; None when there is no such volume.
        Read through a short-lived, never started container, so nothing runs."""
        with _docker_errors("reading a volume"):
            try:
                self.client.volumes.get(volume)
            except docker.errors.NotFound:
                return None
        name = f"switcher-peek-{os.getpid()}-{time.monotonic_ns()}"
        container_id = self.create_marker(name, {"io.switcher.role": "peek"}, {volume: "/volume"})
        try:
            return self.read_files(name, f"/volume/{path}") is not None
        finally:
            if container_id is not None:
                self.remove_container_id(container_id)

    def read_files(self, container: str, path: str) -> dict[str, bytes] | None:
        """The regular files under `path` in the container (a file or a directory), by their path
        relative to `path`'s parent; None when `path` does not exist. Works on stopped containers."""
        with _docker_errors("reading files"):
            try:
                chunks, _ = self.client.containers.get(container).get_archive(path)
                data = b"".join(chunks)
            except docker.errors.NotFound:
                return None
        files = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    handle = archive.extractfile(member)
                    files[member.name] = handle.read() if handle else b""
        return files

    def write_files(self, container: str, directory: str, files: dict[str, tuple[bytes, int]]) -> None:
        """Write files (relative name -> (content, mode)) under `directory`, which must exist.

        A name ending in "/" is a directory of that mode. Owner root: whoever reads them is root
        in its container (nginx's master, switcher) or gets them through switcher.
        """
        archive = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name, (content, mode) in files.items():
                info = tarfile.TarInfo(name.rstrip("/") or ".")
                info.mode, info.mtime = mode, now
                if name.endswith("/"):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
        with _docker_errors("writing files"):
            if not self.client.containers.get(container).put_archive(directory, archive.getvalue()):
                raise DockerUnavailable(f"Docker refused to write files into {container}:{directory}")

    # -- files in and out of volumes, streamed (backups of any size) --------------------------
    @contextmanager
    def volume_holder(self, volumes: dict[str, str]) -> Iterator[str]:
        """A never started container with `volumes` (name -> mount path), removed afterwards."""
        for volume in volumes:
            with _docker_errors("reading a volume"):
                self.client.volumes.get(volume)  # NotFound becomes one line below
        name = f"switcher-holder-{os.getpid()}-{time.monotonic_ns()}"
        container_id = self.create_marker(name, {"io.switcher.role": "holder"}, volumes)
        try:
            yield name
        finally:
            if container_id is not None:
                self.remove_container_id(container_id)

    def archive_out(self, container: str, path: str) -> Iterator[bytes]:
        """A tar stream of `path` in the container (its last name as the member)."""
        with _docker_errors("reading files"):
            chunks, _ = self.client.containers.get(container).get_archive(path, chunk_size=1 << 20)
        return iter(chunks)

    def archive_in(self, container: str, directory: str, data: bytes | BinaryIO | Iterable[bytes]) -> None:
        """Unpack a tar stream under `directory` (owners and modes as the archive says)."""
        with _docker_errors("writing files"):
            if not self.client.containers.get(container).put_archive(directory, data):
                raise DockerUnavailable(f"Docker refused to write files into {container}:{directory}")

    def export_files(self, container: str, paths: list[str], destination: Path) -> None:
        """The files at `paths` in the container as one tar archive at `destination` (mode 0600),
        streamed: no file is held in memory."""
        descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle, tarfile.open(fileobj=handle, mode="w|") as out:
            for path in paths:
                reader = io.BufferedReader(_ChunkReader(self.archive_out(container, path)), 1 << 20)
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        if member.isfile():
                            out.addfile(member, tar.extractfile(member))


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (Docker's archive stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buffer = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self.buffer))
        target[:size], self.buffer = self.buffer[:size], self.buffer[size:]
        return size


def require_images(docker: Docker, references: list[str], release: str = "…") -> None:
    """NotFound naming the images that are not on this engine (up, deploy and push start nothing
    without them)."""
    missing = [reference for reference in dict.fromkeys(references) if not docker.image_exists(reference)]
    if missing:
        raise NotFound(f"release not built: missing image {', '.join(missing)} (run `make build RELEASE={release}`)")
