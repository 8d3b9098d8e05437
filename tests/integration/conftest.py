import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .stackenv import StackEnv, running_stack

IMAGES = ("base", "site", "lb", "db", "memcached", "broker", "acme")


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture(scope="session")
def release(client) -> str:
    """The release `make test` built (RELEASE), whose images every stack here runs."""
    value = os.environ.get("SWITCHER_TEST_RELEASE")
    assert value, "run the integration tests through `make test` (it builds and sets SWITCHER_TEST_RELEASE)"
    missing = [f"switcher/{name}:{value}" for name in IMAGES if not client.images.list(name=f"switcher/{name}:{value}")]
    assert not missing, f"images not built: {missing}; run `make build RELEASE={value}`"
    return value


@pytest.fixture(scope="session")
def stack(tmp_path_factory, release, client) -> Iterator[StackEnv]:
    """A whole stack on random loopback ports, shared by the tests of a session."""
    # Its tests place hundreds of orders from one address: no write limit to speak of.
    with running_stack(Path(tmp_path_factory.mktemp("stack")), release, client, WRITE_RATE_LIMIT="100000") as env:
        yield env
    assert env.leftovers() == {"containers": [], "volumes": [], "networks": []}


@pytest.fixture
def fresh_env(tmp_path, release, client) -> Iterator[StackEnv]:
    """An environment that has not been started; whatever a test starts in it is removed."""
    env = StackEnv.create(tmp_path, release, client)
    try:
        yield env
    finally:
        env.destroy()
