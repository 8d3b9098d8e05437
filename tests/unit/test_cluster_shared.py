"""SHARED_DIR (issue #11): each environment's own directory in it, volumes named by it, and
which nodes the check job did not prove to share it."""

from switcher.cluster_shared import CHECK, PREPARE, TOKEN_FILE, shared_root, unproven_nodes, volume_key
from switcher.config import validate
from switcher.swarm import Node

from .conftest import ROOT

SWARM = {"ENGINE": "swarm", "SWARM_MANAGER": "unix:///m.sock", "REGISTRY": "r:5000", "SHARED_DIR": "/srv/shared"}


def node(name: str, state: str = "ready", availability: str = "active") -> Node:
    return Node(id=f"id-{name}", hostname=name, role="worker", state=state, availability=availability, address="")


def task(name: str, state: str, error: str = "") -> dict:
    return {"NodeID": f"id-{name}", "Status": {"State": state, "Err": error}}


def test_each_environment_has_its_own_directory_and_a_new_directory_means_new_volumes():
    one = validate("one", {**SWARM, "PROJECT": "site-production"}, "f", ROOT)
    two = validate("two", {**SWARM, "PROJECT": "site-integration"}, "f", ROOT)
    moved = validate("one", {**SWARM, "PROJECT": "site-production", "SHARED_DIR": "/mnt/nfs"}, "f", ROOT)
    assert shared_root(one) == "/srv/shared/site-production"
    assert shared_root(moved) == "/mnt/nfs/site-production"
    assert len({volume_key(one), volume_key(two), volume_key(moved)}) == 3
    assert volume_key(one) == volume_key(validate("one", {**SWARM, "PROJECT": "site-production"}, "f", ROOT))


def test_every_node_that_can_run_tasks_must_have_completed_the_check():
    nodes = [node("n1"), node("n2"), node("n3"), node("n4", state="down"), node("n5", availability="drain")]
    assert unproven_nodes(nodes, [task("n1", "complete"), task("n2", "complete"), task("n3", "complete")]) == []
    unproven = unproven_nodes(
        nodes,
        [
            task("n1", "complete"),
            task("n2", "rejected", "bind source path does not exist: /srv/shared"),
        ],
    )
    assert unproven == [
        "n2 (bind source path does not exist: /srv/shared)",
        "n3 (no check ran there)",
    ]
    assert unproven_nodes(nodes, [task("n1", "failed"), task("n2", "complete"), task("n3", "complete")]) == [
        "n1 (failed)"
    ]


def test_the_token_lives_in_state_never_in_the_media_the_lb_serves():
    assert TOKEN_FILE.startswith("state/")
    assert TOKEN_FILE in PREPARE and TOKEN_FILE in CHECK
    assert "setpriv --reuid 10001" in PREPARE, "the token is written as the site's user, who must read it"
