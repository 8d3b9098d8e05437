"""Benchmark of issue #10's certificate loading: nginx names its certificate by a variable so a
renewed one needs no reload (and drops no connection), at the price of loading site.pem on
every full TLS handshake. Measured against the same lb with the certificate named by a fixed
path (loaded once, at start), switched back and forth inside the running lb, interleaved.
New connections (Connection: close, a full handshake per request) show the cost; keep-alive
requests pay nothing."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import docker

from bench.load import ensure_wrk_image, run_wrk
from bench.tables import table
from tests.integration.stackenv import StackEnv

TO_FIXED = (
    r"sed -i -e 's|ssl_certificate \$switcher_tls;|ssl_certificate /etc/nginx/tls/site.pem;|' "
    r"-e 's|ssl_certificate_key \$switcher_tls;|ssl_certificate_key /etc/nginx/tls/site.pem;|' "
    "/etc/nginx/switcher/site.conf && nginx -s reload"
)
TO_VARIABLE = (
    r"sed -i -e 's|ssl_certificate /etc/nginx/tls/site.pem;|ssl_certificate $switcher_tls;|' "
    r"-e 's|ssl_certificate_key /etc/nginx/tls/site.pem;|ssl_certificate_key $switcher_tls;|' "
    "/etc/nginx/switcher/site.conf && nginx -s reload"
)


def bench_tls(client: docker.DockerClient, release: str, rounds: int, seconds: int) -> str:
    ensure_wrk_image(client)
    env = StackEnv.create(Path(tempfile.mkdtemp(prefix="bench-tls-")), release, client)
    cases = {
        "fixed path (loaded at start), new connection per request": (TO_FIXED, {"Connection": "close"}),
        "variable (loaded per handshake), new connection per request": (TO_VARIABLE, {"Connection": "close"}),
        "fixed path, keep-alive": (TO_FIXED, {}),
        "variable, keep-alive": (TO_VARIABLE, {}),
    }
    results: dict[str, list] = {name: [] for name in cases}
    try:
        env.up()
        lb = env.container("lb")
        network = f"{env.project}_default"
        for _ in range(rounds):  # interleaved, so drift hits every case alike
            for name, (switch, headers) in cases.items():
                code, output = lb.exec_run(["sh", "-c", switch])
                assert code == 0, output
                time.sleep(1)  # the old workers finish
                url = "https://lb:443/static/press/css/site.css"  # nginx alone: the handshake is the work
                results[name].append(
                    run_wrk(client, network, name, url, {"Host": "localhost", **headers}, seconds=seconds)
                )
    finally:
        env.destroy()
    rows = []
    baselines = {"new": statistics.median(r.requests_per_second for r in results[next(iter(cases))])}
    baselines["keep"] = statistics.median(r.requests_per_second for r in results["fixed path, keep-alive"])
    for name, runs in results.items():
        rps = statistics.median(r.requests_per_second for r in runs)
        base = baselines["keep" if "keep-alive" in name else "new"]
        p99 = statistics.median(r.p99_ms for r in runs)
        rows.append([name, f"{rps:,.0f}", f"{rps / base:.2f}", f"{p99:.1f}", str(sum(r.errors for r in runs))])
    return table(["GET a static file from the lb, 16 clients (wrk)", "req/s", "ratio", "p99 ms", "errors"], rows) + (
        f"\n\nMedians of {rounds} interleaved rounds of {seconds} s; ratio against the fixed path with the same "
        "kind of connection."
    )


if __name__ == "__main__":
    import os

    print(bench_tls(docker.from_env(), os.environ.get("RELEASE", "dev"), int(os.environ.get("BENCH_ROUNDS", "3")), 10))
