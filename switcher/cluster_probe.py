"""Asking every lb node of a cluster over HTTPS which release answers (promote's verify step)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests
import urllib3

from switcher.config import Environment
from switcher.errors import Unhealthy
from switcher.swarm import Node

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # our own lbs, by address


def verify_lbs(nodes: list[Node], env: Environment, release: str, count: int, timeout: float) -> None:
    """Every lb node answers /healthz `count` times in a row with 200 from `release`, within
    `timeout`; else Unhealthy naming the first that did not."""
    port, host = env.settings["HTTPS_PORT"], env.site_hosts[0]

    def one(node: Node) -> str | None:
        session = requests.Session()
        session.trust_env = False
        deadline, good, last = time.monotonic() + timeout, 0, "no answer"
        while good < count:
            try:
                response = session.get(
                    f"https://{node.address}:{port}/healthz", headers={"Host": host}, verify=False, timeout=5
                )
                seen = response.headers.get("X-Release")
                good = good + 1 if response.status_code == 200 and seen == release else 0
                last = f"{response.status_code} from {seen or '-'}"
            except requests.RequestException as error:
                good, last = 0, str(error)[:120]
            if good == 0 and time.monotonic() > deadline:
                return f"the lb on {node.hostname} answered {last} (expected 200 from {release})"
            if good == 0:
                time.sleep(0.1)
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(len(nodes), 16))) as pool:
        problems = [problem for problem in pool.map(one, nodes) if problem]
    if problems:
        raise Unhealthy(problems[0])
