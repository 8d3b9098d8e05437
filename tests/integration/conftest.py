import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .stackenv import ROOT, StackEnv, derived_release, make_build, remove_release, running_stack

IMAGES = ("base", "site", "lb", "db", "memcached", "broker", "acme")

# `make test` runs these tests on two pytest-xdist workers (`-n 2 --dist loadgroup`): one takes
# the cluster's module, the startproject site's (they share that site's build) and the builds of
# other sites, the other every other one-host module. Each module stays whole on one worker, so
# its stack starts once. test_sites.py is on the cluster's side to even the halves: without it
# the whole run took 35.8 min on a 2-CPU machine, with it 31.6 (the cluster's side about 26).
# Every test has its own project, ports, subnet and build directory, so the halves run side by
# side as they run beside a live stack.
CLUSTER_HALF = frozenset({"test_cluster.py", "test_startproject.py", "test_sites.py"})


def pytest_itemcollected(item: pytest.Item) -> None:  # before pytest-xdist reads the groups
    item.add_marker(pytest.mark.xdist_group("cluster" if item.path.name in CLUSTER_HALF else "host"))


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


STARTPROJECT = ROOT / "tests/sites/startproject"


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def startproject(release, client) -> Iterator[tuple[str, str, str]]:
    """Two releases of tests/sites/startproject (a site nobody wrote for this platform, with a
    Procfile's Celery worker and beat): one built with `make build`, one relabelled from it, and
    the build's report. One build for the session: one host's tests and the cluster's use it."""
    before = tree_digest(STARTPROJECT)
    tag = f"{release}-sp"
    result = make_build(f"RELEASE={tag}", f"SITE={STARTPROJECT}", "SITE_SETTINGS=mysite.settings")
    try:
        assert result.returncode == 0, result.stderr
        assert tree_digest(STARTPROJECT) == before, "the build changed the site's files"
        yield tag, derived_release(client, tag, f"{tag}2"), result.stdout + result.stderr
    finally:
        remove_release(client, tag)
        remove_release(client, f"{tag}2")
