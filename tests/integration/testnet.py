"""Real clients with their own addresses: a network namespace made by the test, behind a bridge
of its own on the host. A stack bound to the bridge's address (BIND_ADDRESS) is reached from
the namespace through Docker's published port (DNAT keeps the client's address), as a client
on another machine would reach it. Everything is removed afterwards, also on failure."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass

# Run inside the namespace: one HTTPS request from a chosen source address; prints JSON.
CLIENT = r"""
import http.client, json, socket, ssl, sys
host, port, source, cafile, method, path = sys.argv[1:7]
headers = json.loads(sys.argv[7])
context = ssl.create_default_context(cafile=cafile)
connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=10, source_address=(source, 0))
try:
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    print(json.dumps({"status": response.status, "release": response.getheader("X-Release"),
                      "body": response.read(2000).decode("utf-8", "replace")}))
except (OSError, http.client.HTTPException) as error:
    print(json.dumps({"status": 0, "release": None, "body": type(error).__name__ + ": " + str(error)}))
"""


def ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr.strip()}"


def free_network() -> ipaddress.IPv4Network:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    taken = [ipaddress.ip_network(word, strict=False) for word in routes.split() if "/" in word]
    for _ in range(200):
        candidate = ipaddress.IPv4Network(f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 for a test network")


@dataclass
class ClientNet:
    namespace: str
    bridge: str
    network: ipaddress.IPv4Network

    @property
    def host(self) -> str:
        """The host's address on the bridge: what the stack binds to."""
        return str(self.network.network_address + 1)

    def client(self, number: int) -> str:
        """A client address in the namespace (2, 3, 4 … of the network)."""
        return str(self.network.network_address + number)

    def request(
        self, source: str, port: str, cafile: str, path: str = "/", method: str = "GET", headers: dict | None = None
    ) -> dict:
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.namespace,
                sys.executable,
                "-c",
                CLIENT,
                self.host,
                port,
                source,
                cafile,
                method,
                path,
                json.dumps(headers or {}),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@contextlib.contextmanager
def client_network(clients: int = 3):
    assert os.geteuid() == 0, "network namespaces for test clients need root (CI runs as root)"
    suffix = uuid.uuid4().hex[:6]
    net = ClientNet(namespace=f"swtns{suffix}", bridge=f"swtbr{suffix}", network=free_network())
    outside, inside = f"swtvh{suffix}", f"swtvn{suffix}"
    try:
        ip("link", "add", net.bridge, "type", "bridge")
        ip("addr", "add", f"{net.host}/24", "dev", net.bridge)
        ip("link", "set", net.bridge, "up")
        ip("netns", "add", net.namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", outside, "master", net.bridge, "up")
        ip("link", "set", inside, "netns", net.namespace)
        for number in range(2, 2 + clients):
            ip("addr", "add", f"{net.client(number)}/24", "dev", inside, netns=net.namespace)
        ip("link", "set", inside, "up", netns=net.namespace)
        ip("link", "set", "lo", "up", netns=net.namespace)
        ip("route", "add", "default", "via", net.host, netns=net.namespace)
        yield net
    finally:
        subprocess.run(["ip", "netns", "del", net.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", outside], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", net.bridge], capture_output=True, check=False)
