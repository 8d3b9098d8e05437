"""Test helpers for Docker-backed tests: an isolated environment (own compose project,
random 127.0.0.1 ports, a free subnet, its own state dir) and ways to drive and inspect it."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parents[2]
SWITCHER = Path(sys.executable).parent / "switcher"
LABEL = "com.docker.compose.project"


def wait_until(condition, seconds: float, message: str) -> None:
    """Poll `condition` once a second until it holds; fail with `message` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(1)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The command succeeded; else fail showing its output."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@contextlib.contextmanager
def running_stack(directory: Path, release: str, client: docker.DockerClient, **settings: str):
    """A started stack, destroyed afterwards, also when the test or `up` fails."""
    env = StackEnv.create(directory, release, client, **settings)
    try:
        env.up()
        yield env
    finally:
        env.destroy()


def make_build(*variables: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`make build` with these variables, as a user runs it. Each pytest-xdist worker builds in a
    directory of its own (BUILD_DIR): two builds at once never share a context or a wheelhouse."""
    build_dir = ROOT / "build" / f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    return subprocess.run(
        ["make", "-s", "build", f"BUILD_DIR={build_dir}", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_site_release(tag: str, work_dir: Path, edit) -> str:
    """Build release `tag` from a copy of the default site changed by `edit(site_dir)`."""
    import shutil

    site_dir = work_dir / tag
    shutil.copytree(ROOT / "images/site/default-site", site_dir)
    edit(site_dir)
    result = make_build(f"RELEASE={tag}", f"SITE={site_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return tag


def derived_release(client: docker.DockerClient, release: str, tag: str, *lines: str) -> str:
    """Site image `tag`: release `release` relabelled (seconds to build), plus Dockerfile `lines`."""
    dockerfile = "\n".join(
        [
            f"FROM switcher/site:{release}",
            *lines,
            f"ENV SWITCHER_RELEASE={tag}",
            f'LABEL org.opencontainers.image.version="{tag}"',
        ]
    )
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"switcher/site:{tag}", rm=True)
    return tag


def release_with_files(client: docker.DockerClient, release: str, tag: str, files: dict[str, str]) -> str:
    """Site image `tag`: release `release` with `files` (path under /app -> text) added or
    replaced, relabelled (seconds to build: new migrations and models without a full build)."""
    context = io.BytesIO()
    lines = [f"FROM switcher/site:{release}", "COPY app/ /app/"]
    lines += [f"ENV SWITCHER_RELEASE={tag}", f'LABEL org.opencontainers.image.version="{tag}"']
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in {"Dockerfile": "\n".join(lines) + "\n", **{f"app/{k}": v for k, v in files.items()}}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=f"switcher/site:{tag}", rm=True)
    return tag


def remove_release(client: docker.DockerClient, tag: str) -> None:
    for name in ("base", "site", "lb", "db", "memcached", "broker", "acme"):
        with contextlib.suppress(docker.errors.ImageNotFound):
            # force: untag it even while a test stack's container still uses it (torn down later)
            client.images.remove(f"switcher/{name}:{tag}", force=True)


def free_ports(count: int) -> list[int]:
    """`count` different ports nothing listens on now: each socket is held until all are bound
    (one after another, the kernel can hand out a port it just gave: an env file with
    HTTP_PORT == HTTPS_PORT was refused in a `make test` run)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_subnet(client: docker.DockerClient) -> str:
    taken = []
    for network in client.networks.list():
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet") and ":" not in config["Subnet"]:
                taken.append(ipaddress.IPv4Network(config["Subnet"]))
    candidates = [ipaddress.IPv4Network(f"172.{b}.{c}.0/24") for b in (29, 30, 31) for c in range(256)]
    random.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(other) for other in taken):
            return str(candidate)
    raise RuntimeError("no free /24 left in 172.29-31.x")


@dataclass
class StackEnv:
    """One isolated environment: its env file, state dir and handles to drive it."""

    name: str
    directory: Path
    release: str
    settings: dict[str, str]
    client: docker.DockerClient
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, release: str, client: docker.DockerClient, **overrides: str) -> StackEnv:
        name = f"swt{uuid.uuid4().hex[:8]}"
        http, https, preview = free_ports(3)
        settings = {
            "PROJECT": name,
            "HTTP_PORT": str(http),
            "HTTPS_PORT": str(https),
            "PREVIEW_PORT": str(preview),
            "SUBNET": free_subnet(client),
            "GUNICORN_WORKERS": "2",
            "HEALTH_TIMEOUT": "150",
            **overrides,
        }
        (directory / "env").mkdir(parents=True, exist_ok=True)
        env = cls(name=name, directory=directory, release=release, settings=settings, client=client)
        env.write_env_file()
        return env

    def write_env_file(self, text: str | None = None) -> None:
        body = text if text is not None else "".join(f"{k}={v}\n" for k, v in self.settings.items())
        (self.directory / "env" / f"{self.name}.env").write_text(body)

    @property
    def project(self) -> str:
        return self.settings["PROJECT"]

    @property
    def cert(self) -> Path:
        """The environment's certificate, read from its store (the lb's tls volume)."""
        path = self.directory / "cert.pem"
        if path.is_file():  # made once per environment; load threads read it meanwhile
            return path
        temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_bytes(self.store_file("/tls/cert.pem"))
        temporary.replace(path)
        return path

    def store_file(self, path: str) -> bytes:
        """A file of the environment's store (/store/…) or tls volume (/tls/…), as switcher reads it."""
        chunks, _ = self.client.containers.get(f"{self.project}-switcher-store").get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            handle = archive.extractfile(archive.getmembers()[0])
            assert handle is not None, path
            return handle.read()

    def credentials(self) -> dict[str, str]:
        text = self.store_file("/store/credentials.env").decode()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    @property
    def bind_address(self) -> str:
        return self.settings.get("BIND_ADDRESS", "127.0.0.1")

    @property
    def live_url(self) -> str:
        return f"https://{self.bind_address}:{self.settings['HTTPS_PORT']}"

    @property
    def preview_url(self) -> str:
        return f"https://127.0.0.1:{self.settings['PREVIEW_PORT']}"

    @property
    def http_url(self) -> str:
        return f"http://{self.bind_address}:{self.settings['HTTP_PORT']}"

    # -- driving it ---------------------------------------------------------------------------
    def process_env(self, **env: str) -> dict[str, str]:
        """The environment a switcher command of this stack runs with."""
        return {
            **os.environ,
            "SWITCHER_ENV_DIR": str(self.directory / "env"),
            "SWITCHER_STATE_DIR": str(self.directory / "state"),
            **self.extra_env,
            **env,
        }

    def switcher(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SWITCHER), *args],
            env=self.process_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def up(self) -> subprocess.CompletedProcess:
        result = self.switcher("up", "--env", self.name, "--release", self.release)
        assert result.returncode == 0, f"switcher up failed:\n{result.stdout}\n{result.stderr}"
        return result

    def status(self) -> dict:
        result = self.switcher("status", "--env", self.name, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def session(self) -> requests.Session:
        session = requests.Session()
        # Not the machine's CA bundle or proxies from the environment: this stack's own certificate.
        session.trust_env = False
        session.verify = str(self.cert)
        return session

    def container(self, service: str):
        found = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL}={self.project}", f"com.docker.compose.service={service}"]}
        )
        assert found, f"no {service} container in {self.project}"
        return found[0]

    def exec(self, service: str, command: list[str] | str, user: str = "") -> str:
        result = self.container(service).exec_run(command, user=user)
        output = result.output.decode("utf-8", "replace")
        assert result.exit_code == 0, f"{command} in {service} failed: {output}"
        return output

    def psql(self, statement: str) -> str:
        """One SQL statement as the superuser in the site's database; its rows, unaligned."""
        return self.exec("db", ["psql", "-X", "-At", "-U", "postgres", "-d", "site", "-c", statement]).strip()

    def wait_healthy(self, service: str, deadline: float = 120) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            container = self.container(service)
            container.reload()
            if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(1)
        raise AssertionError(f"{service} not healthy after {deadline} s")

    def memcached_stats(self) -> dict[str, int]:
        script = "printf 'stats\\r\\nquit\\r\\n' | nc -N -U /run/memcached/memcached.sock"
        output = self.exec("memcached", ["sh", "-c", script])
        stats = {}
        for line in output.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
                stats[parts[1]] = int(parts[2])
        return stats

    def set_live_flag(self, green: bool) -> None:
        """Flip the lb's live colour by hand, as the switch will: one file in the lb-live volume."""
        command = "touch /live/green" if green else "rm -f /live/green"
        self.client.containers.run(
            f"switcher/base:{self.release}",
            ["sh", "-c", command],
            volumes={f"{self.project}_lb-live": {"bind": "/live", "mode": "rw"}},
            remove=True,
        )

    @contextlib.contextmanager
    def lock_held_elsewhere(self, command: str):
        """The environment's lock as a switcher on another host leaves it (alice@elsewhere)."""
        marker = self.client.containers.create(
            f"switcher/site:{self.release}",
            ["true"],
            name=f"{self.project}-switcher-lock",
            labels={
                "io.switcher.lock": self.project,
                "io.switcher.project": self.project,
                "io.switcher.lock.host": "elsewhere",
                "io.switcher.lock.pid": "1",
                "io.switcher.lock.user": "alice",
                "io.switcher.lock.command": command,
                "io.switcher.lock.since": "2026-01-01T00:00:00Z",
            },
        )
        try:
            yield marker
        finally:
            with contextlib.suppress(docker.errors.APIError):  # `switcher unlock` removed it already
                marker.remove(force=True)

    # -- cleaning up --------------------------------------------------------------------------
    def leftovers(self) -> dict[str, list[str]]:
        flt = {"label": f"{LABEL}={self.project}"}
        ours = {"label": f"io.switcher.project={self.project}"}
        containers = self.client.containers.list(all=True, filters=flt)
        containers += self.client.containers.list(all=True, filters=ours)
        volumes = self.client.volumes.list(filters=flt) + self.client.volumes.list(filters=ours)
        return {
            "containers": sorted({c.name for c in containers}),
            "volumes": sorted({v.name for v in volumes}),
            "networks": [n.name for n in self.client.networks.list(filters=flt)],
        }

    def destroy(self) -> None:
        """Remove everything of this project, also when switcher down itself fails."""
        self.switcher("down", "--env", self.name, "--volumes", "--yes", timeout=300)
        flt = {"label": f"{LABEL}={self.project}"}
        ours = {"label": f"io.switcher.project={self.project}"}
        for labels in (flt, ours):  # also a lock, a store or a test's own container left behind
            for container in self.client.containers.list(all=True, filters=labels):
                container.remove(force=True, v=True)
        for labels in (flt, ours):
            for volume in self.client.volumes.list(filters=labels):
                volume.remove(force=True)
        for network in self.client.networks.list(filters=flt):
            network.remove()
