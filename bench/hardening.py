"""Benchmarks of issue #7 (hardening), each against a baseline measured in the same run:

- the lb's cookie rewrite: requests whose Cookie header holds the maintenance bypass cookie go
  through njs (the cookie is removed before the site); others pass through a map untouched;
- memcached on its unix socket (how the site reaches it now) against the same memcached image
  listening on TCP on the stack's network (how it did before);
- `switcher status`, which now also reads the environment's store, against `switcher --help`
  (Python start-up and imports alone).

Every load is bounded; the temporary TCP memcached is the benchmark's own container.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import docker

from bench.load import ensure_wrk_image, run_wrk
from bench.tables import table
from tests.integration.stackenv import SWITCHER, StackEnv

MEMCACHED_LOOP = """
import sys, time
from pymemcache.client.base import Client
server = sys.argv[1] if sys.argv[1].startswith("/") else (sys.argv[1], 11211)
client = Client(server, connect_timeout=1, timeout=1, no_delay=True)
client.set("bench", b"x" * 1000)
count = 20000
started = time.perf_counter()
for _ in range(count):
    assert client.get("bench") is not None
print(count / (time.perf_counter() - started))
"""


def _cookies(env: StackEnv, client: docker.DockerClient, rounds: int, seconds: int) -> list[list[str]]:
    network = f"{env.project}_default"
    cases = {
        "no Cookie header": {"Host": "localhost"},
        "3 cookies (passed through by a map)": {"Host": "localhost", "Cookie": "a=1; csrftoken=abc; sessionid=def"},
        "3 cookies + the bypass cookie (rewritten by njs)": {
            "Host": "localhost",
            "Cookie": "a=1; switcher_bypass=not-the-token; sessionid=def",
        },
    }
    results: dict[str, list] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved, so drift of the machine hits every case alike
        for name, headers in cases.items():
            results[name].append(run_wrk(client, network, name, "https://lb:443/press/", headers, seconds=seconds))
    baseline = statistics.median(r.requests_per_second for r in results["no Cookie header"])
    rows = []
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_second for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        rows.append([name, f"{rps:,.0f}", f"{rps / baseline:.2f}", f"{p99:.1f}", str(errors)])
    return rows


def _memcached(env: StackEnv, client: docker.DockerClient, rounds: int) -> list[list[str]]:
    network = f"{env.project}_default"
    tcp = client.containers.run(
        f"switcher/memcached:{env.release}",
        ["sh", "-c", "exec memcached -l 0.0.0.0 -p 11211 -U 0 -m 64"],
        network=network,
        labels={"io.switcher.project": env.project},
        detach=True,
    )
    try:
        tcp.reload()
        address = tcp.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        time.sleep(1)
        results: dict[str, list[float]] = {"unix socket (now)": [], "TCP on the stack's network (before)": []}
        for _ in range(rounds):
            for name, server in (
                ("unix socket (now)", "/run/memcached/memcached.sock"),
                ("TCP on the stack's network (before)", address),
            ):
                output = env.exec("app-blue", ["python3", "-c", MEMCACHED_LOOP, server])
                results[name].append(float(output.strip().splitlines()[-1]))
    finally:
        tcp.remove(force=True)
    baseline = statistics.median(results["TCP on the stack's network (before)"])
    return [
        [name, f"{statistics.median(values):,.0f}", f"{statistics.median(values) / baseline:.2f}"]
        for name, values in results.items()
    ]


def _status(env: StackEnv, rounds: int = 7) -> list[list[str]]:
    def median_seconds(*args: str) -> float:
        times = []
        for _ in range(rounds):
            started = time.monotonic()
            result = env.switcher(*args)
            assert result.returncode == 0, result.stderr
            times.append(time.monotonic() - started)
        return statistics.median(times)

    startup = median_seconds("--help")
    status = median_seconds("status", "--env", env.name)
    history = median_seconds("history", "--env", env.name)
    return [
        ["`switcher --help` (Python start-up and imports)", f"{startup:.2f}", "1.00"],
        ["`switcher status` (Docker, the lb, the store: history, lock)", f"{status:.2f}", f"{status / startup:.2f}"],
        ["`switcher history` (the store)", f"{history:.2f}", f"{history / startup:.2f}"],
    ]


def bench_hardening(client: docker.DockerClient, release: str, rounds: int, seconds: int) -> str:
    assert SWITCHER.exists()
    ensure_wrk_image(client)
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-")), release, client, GUNICORN_WORKERS="2")
    try:
        env.up()
        cookies = _cookies(env, client, rounds, seconds)
        memcached = _memcached(env, client, rounds)
        status = _status(env)
    finally:
        env.destroy()
    return "\n\n".join(
        [
            table(["GET /press/ through the lb, 16 clients", "req/s", "ratio", "p99 ms", "errors"], cookies),
            f"Median of {rounds} interleaved rounds of {seconds} s (wrk on the stack's network).",
            table(["memcached get of 1 kB from app-blue (pymemcache)", "gets/s", "ratio"], memcached),
            f"20,000 gets per run, median of {rounds} interleaved runs; same image, same container as client.",
            table(["command", "seconds", "ratio"], status),
            "Medians of 7 runs of the whole command.",
        ]
    )
