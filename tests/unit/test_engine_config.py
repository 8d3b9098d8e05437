"""ENGINE, SWARM_MANAGER and REGISTRY (issue #11): checked before anything runs; the registry's
names of a release's images."""

import pytest

from switcher.config import validate
from switcher.errors import ConfigError
from switcher.registry import RELEASE_IMAGES, Registry, remote_reference

from .conftest import ROOT

SWARM = {
    "ENGINE": "swarm",
    "SWARM_MANAGER": "unix:///run/switcher-cluster/main/n1.sock",
    "REGISTRY": "10.0.0.1:5000",
    "SHARED_DIR": "/srv/switcher-shared",
}


@pytest.mark.parametrize(
    "manager", ["unix:///run/x.sock", "tcp://10.0.0.1:2376", "ssh://ops@node1.example.org", "ssh://node1", "prod-ctx"]
)
def test_a_swarm_manager_is_an_endpoint_or_a_context(manager):
    assert validate("x", {**SWARM, "SWARM_MANAGER": manager}, "f", ROOT).engine == "swarm"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ENGINE": "kubernetes"}, "ENGINE='kubernetes' must be compose or swarm"),
        ({**SWARM, "SWARM_MANAGER": ""}, "needs SWARM_MANAGER"),
        ({**SWARM, "SWARM_MANAGER": "http://10.0.0.1"}, "needs SWARM_MANAGER"),
        ({**SWARM, "SWARM_MANAGER": "unix:///run/x.sock; rm -rf /"}, "needs SWARM_MANAGER"),
        ({**SWARM, "REGISTRY": ""}, "needs REGISTRY"),
        ({**SWARM, "REGISTRY": "https://registry.example.org"}, "needs REGISTRY"),
        ({**SWARM, "REGISTRY": "registry.example.org/../x"}, "needs REGISTRY"),
        ({**SWARM, "SHARED_DIR": ""}, "needs SHARED_DIR"),
        ({**SWARM, "SHARED_DIR": "srv/shared"}, "needs SHARED_DIR"),
        ({**SWARM, "SHARED_DIR": "/"}, "needs SHARED_DIR"),
        ({**SWARM, "SHARED_DIR": "/srv/../etc"}, "needs SHARED_DIR"),
        ({**SWARM, "SHARED_DIR": "/srv/shared/"}, "needs SHARED_DIR"),
        ({**SWARM, "SHARED_DIR": "/srv/a b"}, "needs SHARED_DIR"),
    ],
)
def test_engine_settings_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        validate("x", values, "f", ROOT)


def test_a_release_is_pushed_under_the_registry_s_name_and_only_for_a_cluster():
    env = validate("x", SWARM, "f", ROOT)
    assert remote_reference(env, "site", "r1") == "10.0.0.1:5000/switcher/site:r1"
    assert RELEASE_IMAGES[0] == "site" and "base" not in RELEASE_IMAGES
    assert validate("x", {}, "f", ROOT).engine == "compose"
    with pytest.raises(ConfigError, match="its images need no registry"):
        Registry(validate("x", {}, "f", ROOT), None, print)  # type: ignore[arg-type]
