"""Closed-loop HTTP load with wrk, run in a container on the stack's own network."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker

IMAGE = "switcher/bench-wrk:latest"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def ensure_wrk_image(client: docker.DockerClient) -> None:
    subprocess.run(
        ["docker", "build", "-q", "-t", IMAGE, str(HERE / "image")], check=True, capture_output=True, timeout=600
    )


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(name: str, output: str) -> LoadResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    return LoadResult(name, rps, p50, p99, errors, total)


def run_wrk(
    client: docker.DockerClient,
    network: str,
    name: str,
    url: str,
    headers: dict[str, str],
    connections: int = 16,
    seconds: int = 10,
) -> LoadResult:
    """One bounded run: `connections` keep-alive clients for `seconds`, then it stops by itself."""
    command = ["-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = client.containers.run(IMAGE, [*command, url], network=network, remove=True, stderr=True)
    return parse_wrk(name, output.decode())
