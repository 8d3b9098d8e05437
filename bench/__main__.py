"""Benchmarks: proxy overhead, static files, image sizes, build and start times (issue #2),
switching under load (#3), the costs of hardening (#7), database backups, restores and the
migration check (#9), certificates loaded per handshake (#10). The cluster switch primitive of #11
runs on its own (`python -m bench.cluster`, root: it starts a three-engine cluster).

Prints markdown tables (copy them into docs/BENCHMARKS.md). Every load is bounded (a fixed
number of seconds) and stays on the stack's own Docker network; stacks use their own compose
project and are removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from bench.database import bench_database
from bench.hardening import bench_hardening
from bench.load import LoadResult, ensure_wrk_image, run_wrk
from bench.tables import table
from bench.tls import bench_tls
from tests.integration.stackenv import ROOT, StackEnv

RELEASE = os.environ.get("RELEASE", "dev")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def load_rows(results: list[LoadResult], baseline: LoadResult) -> list[list[str]]:
    return [
        [
            r.name,
            f"{r.requests_per_second:,.0f}",
            f"{r.requests_per_second / baseline.requests_per_second:.2f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.errors),
        ]
        for r in results
    ]


def best(results: list[LoadResult]) -> LoadResult:
    """The median round by throughput, so one noisy round does not decide."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def bench_proxy(client: docker.DockerClient) -> str:
    ensure_wrk_image(client)
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-")), RELEASE, client, GUNICORN_WORKERS="2")
    try:
        env.up()
        network = f"{env.project}_default"
        host = {"Host": "localhost"}
        direct_headers = {**host, "X-Forwarded-Proto": "https"}
        blue = env.settings["SUBNET"].rsplit(".", 1)[0] + ".11"
        cases = {
            "gunicorn direct, GET / (PostgreSQL)": (f"http://{blue}:8000/", direct_headers),
            "nginx TLS → gunicorn, GET / (PostgreSQL)": ("https://lb:443/", host),
            "gunicorn direct, GET /press/ (memcached)": (f"http://{blue}:8000/press/", direct_headers),
            "nginx TLS → gunicorn, GET /press/ (memcached)": ("https://lb:443/press/", host),
        }
        rounds: dict[str, list[LoadResult]] = {name: [] for name in cases}
        for _ in range(ROUNDS):  # interleaved, so drift hits every case alike
            for name, (url, headers) in cases.items():
                rounds[name].append(run_wrk(client, network, name, url, headers, seconds=SECONDS))
        results = {name: best(r) for name, r in rounds.items()}
        page = env.session().get(env.live_url + "/", timeout=10).text
        asset = next(part.split('"')[0] for part in page.split('href="')[1:] if part.startswith("/static/"))
        static = best(
            [
                run_wrk(client, network, "nginx TLS, static CSS", f"https://lb:443{asset}", host, seconds=SECONDS)
                for _ in range(ROUNDS)
            ]
        )
    finally:
        env.destroy()
    names = list(cases)
    rows = load_rows([results[names[0]], results[names[1]]], results[names[0]])
    rows += load_rows([results[names[2]], results[names[3]]], results[names[2]])
    rows += load_rows([static], results[names[1]])
    headers = ["case (16 keep-alive clients, wrk)", "req/s", "ratio", "p50 ms", "p99 ms", "errors"]
    return table(headers, rows)


def bench_image_sizes(client: docker.DockerClient) -> str:
    rows = []
    for name in ("base", "site", "lb", "db", "memcached"):
        image = client.images.get(f"switcher/{name}:{RELEASE}")
        rows.append([f"switcher/{name}", f"{image.attrs['Size'] / 1e6:.0f} MB"])
    return table(["image", "size"], rows)


def _make_build(site: Path, release: str, prefix: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["make", "-s", "build", f"SITE={site}", f"RELEASE={release}", f"IMAGE_PREFIX={prefix}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=1200,
    )
    return time.monotonic() - started


def bench_rebuild(client: docker.DockerClient) -> str:
    """`make build` after a one-line change to the site, against the same build unchanged."""
    prefix = "switcher-bench"
    with tempfile.TemporaryDirectory(prefix="bench-site-") as scratch:
        site = Path(scratch) / "site"
        shutil.copytree(ROOT / "images" / "site" / "default-site", site)
        warm = _make_build(site, "bench-a", prefix)
        unchanged = _make_build(site, "bench-a", prefix)
        with open(site / "press" / "views.py", "a") as handle:
            handle.write("\n# a one-line change\n")
        changed = _make_build(site, "bench-b", prefix)
    for image in client.images.list(name=f"{prefix}/*"):
        for tag in image.tags:
            if tag.startswith(prefix + "/"):
                client.images.remove(tag)
    rows = [
        ["first build under a new prefix (layers cached)", f"{warm:.1f}"],
        ["`make build`, nothing changed", f"{unchanged:.1f}"],
        ["`make build` after a one-line change to the site", f"{changed:.1f}"],
    ]
    return table(["build", "seconds"], rows)


def bench_cold_start(client: docker.DockerClient) -> str:
    """`make up` from an engine without our images: bootstrap, no-cache build, start."""
    rows = []
    started = time.monotonic()
    tag = "switcher-bench/debian:bookworm-slim"
    subprocess.run([str(ROOT / "images/base/ensure-debian.sh"), tag], check=True, capture_output=True, timeout=600)
    bootstrap = time.monotonic() - started
    client.images.remove(tag)
    rows.append(["debootstrap + import of the base", f"{bootstrap:.1f}"])
    started = time.monotonic()
    for name, context, extra in (
        ("site", ROOT / "build" / "site-context", []),
        ("lb", ROOT / "nginx", ["-f", str(ROOT / "images/lb/Dockerfile")]),
        ("db", ROOT / "images/db", []),
        ("memcached", ROOT / "images/memcached", []),
    ):
        subprocess.run(
            [
                "docker",
                "build",
                "-q",
                "--no-cache",
                "--build-arg",
                f"BASE=switcher/base:{RELEASE}",
                "-t",
                f"switcher-bench/{name}:cold",
                *extra,
                str(context),
            ],
            check=True,
            capture_output=True,
            timeout=1200,
        )
        client.images.remove(f"switcher-bench/{name}:cold")
    rows.append(["building site, lb, db, memcached without cache", f"{time.monotonic() - started:.1f}"])
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-")), RELEASE, client)
    started = time.monotonic()
    try:
        env.up()
        rows.append(["`switcher up` of a new environment until all healthy", f"{time.monotonic() - started:.1f}"])
    finally:
        env.destroy()
    total = sum(float(row[1]) for row in rows)
    rows.append(["**total: `make up` from an empty engine**", f"**{total:.1f}**"])
    return table(["step", "seconds"], rows)


def bench_switch(client: docker.DockerClient) -> str:
    from bench.switch import report, run_methods, timing

    next_release = f"{RELEASE}-bench-next"
    subprocess.run(
        ["make", "-s", "build", f"RELEASE={next_release}"], cwd=ROOT, check=True, capture_output=True, timeout=900
    )
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-")), RELEASE, client)
    try:
        env.up()
        deployed = env.switcher("deploy", next_release, "--env", env.name)
        assert deployed.returncode == 0, deployed.stderr
        methods = run_methods(env, next_release, ROUNDS)
        status_s, promote_s = timing(env)
    finally:
        env.destroy()
        for name in ("base", "site", "lb", "db", "memcached"):
            client.images.remove(f"switcher/{name}:{next_release}")
    return (
        report(methods)
        + f"\n\n16 keep-alive clients on GET /press/ through the live TLS listener; {ROUNDS} rounds, each: "
        "promote there and back (2 runs), the nginx reload once, compose recreate once. Switch window = from "
        "the start of the switch to 1 s after it ended; p99 ratio = switch window p99 / steady-state p99."
        + f"\n\n`switcher status`: {status_s:.2f} s; `switcher promote` of a healthy colour (no drain wait): "
        f"{promote_s:.2f} s (medians of 5, whole command including Python start-up)."
    )


def main() -> None:
    client = docker.from_env()
    sections = {
        "Image sizes": bench_image_sizes,
        "Proxy overhead and static files": bench_proxy,
        "Rebuild after a one-line change": bench_rebuild,
        "make up from an empty engine": bench_cold_start,
        "Switching releases under load": bench_switch,
        "Hardening (issue #7)": lambda client: bench_hardening(client, RELEASE, ROUNDS, SECONDS),
        "The database (issue #9)": lambda client: bench_database(client, RELEASE, ROUNDS),
        "Certificates loaded per handshake (issue #10)": lambda client: bench_tls(client, RELEASE, ROUNDS, SECONDS),
    }
    only = os.environ.get("BENCH_ONLY")
    print(f"release {RELEASE}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    for title, function in sections.items():
        if only and only.lower() not in title.lower():
            continue
        print(f"## {title}\n\n{function(client)}\n", flush=True)


if __name__ == "__main__":
    main()
