"""SHARED_DIR on a cluster: the directory every node mounts from the same shared storage (NFS,
CephFS, …), where the site's uploads, state files and configuration files live, so that every
task on every node reads and writes the same files. On one host both colours share the
engine's volumes instead; on a cluster a node's own volume would hold only what that node's
tasks wrote (uploads missing on the other nodes, one order-id counter per node, all lost with
the node).

`switcher up` first prepares SHARED_DIR/PROJECT/{media,state,config} for the site's user (and
`lb`, root's, for the live colour the lbs follow: cluster_lbs.py) in a job on one node, writes
a new token into state as that user, then proves that the directory is shared: a global job
reads the token on every node and writes a file in each of the site's directories as the
site's user. A node where that fails is named and nothing is deployed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from switcher.config import Environment
from switcher.errors import Refused, SwitcherError, last_lines
from switcher.swarm import Node, Swarm
from switcher.swarm_jobs import Jobs

SITE_UID = "10001"  # the site image's user and group, app (images/site/Dockerfile)
SITE_USER = f"{SITE_UID}:{SITE_UID}"
# Mounted as the site's MEDIA_ROOT (also read by the lbs' nginx), its state directory and its
# configuration files (read-only there; `switcher config put`, cluster_config.py).
SUBDIRS = {"media": "0755", "state": "0750", "config": "0750"}
TOKEN_FILE = "state/.switcher-shared"  # never in media: the lb serves media to anyone
# root's (0755): the live colour switcher committed last, which every lb follows (lb-follow).
LB_DIR = "lb"
MOUNT = "/shared"  # where the jobs see SHARED_DIR

# As root: the environment's directory and its two subdirectories, owned by the site's user
# when they are made (ones that exist are left as they are: the check below says if the site
# cannot write there); then, as the site's user, the token.
_MAKE = "\n".join(
    f'[ -d "$d/{sub}" ] || install -d -o {SITE_UID} -g {SITE_UID} -m {mode} "$d/{sub}"' for sub, mode in SUBDIRS.items()
)
PREPARE = f"""set -eu
d={MOUNT}/"$PROJECT"
mkdir -p "$d"
{_MAKE}
[ -d "$d/{LB_DIR}" ] || install -d -m 0755 "$d/{LB_DIR}"
setpriv --reuid {SITE_UID} --regid {SITE_UID} --clear-groups \\
  sh -c 'printf "%s\\n" "$TOKEN" > "$1.tmp" && mv -f "$1.tmp" "$1"' token "$d/{TOKEN_FILE}"
"""

# As the site's user, on every node: the token the prepare job wrote, and a file written and
# removed in each subdirectory.
CHECK = f"""set -eu
d={MOUNT}/"$PROJECT"
[ "$(cat "$d/{TOKEN_FILE}" 2>/dev/null)" = "$TOKEN" ] || {{ echo "the token written on one node is not here"; exit 3; }}
for sub in {" ".join(SUBDIRS)}; do
  probe="$d/$sub/.switcher-probe-$(cat /etc/hostname)"
  : > "$probe" && rm -f "$probe" || {{ echo "the site's user cannot write in $sub"; exit 3; }}
done
"""

REMOVE = f'rm -rf -- {MOUNT}/"$PROJECT"'


def shared_root(env: Environment) -> str:
    """The environment's own directory in SHARED_DIR (several environments may share one)."""
    return f"{env.settings['SHARED_DIR'].rstrip('/')}/{env.project}"


def volume_key(env: Environment) -> str:
    """Part of the shared volumes' names: Docker keeps an existing volume's old options, so a
    new SHARED_DIR must be new volumes."""
    return hashlib.sha256(shared_root(env).encode()).hexdigest()[:12]


def unproven_nodes(nodes: list[Node], tasks: list[dict]) -> list[str]:
    """The nodes that can run tasks (ready, active) where the check job's task did not complete,
    with why (the task's error, or that it got no task)."""
    by_node = {task.get("NodeID", ""): task for task in tasks}
    unproven = []
    for node in nodes:
        if node.state != "ready" or node.availability != "active":
            continue
        task = by_node.get(node.id)
        if task is None:
            unproven.append(f"{node.hostname} (no check ran there)")
        elif task["Status"]["State"] != "complete":
            why = task["Status"].get("Err") or task["Status"]["State"]
            unproven.append(f"{node.hostname} ({why[:120]})")
    return unproven


class SharedDir:
    def __init__(self, swarm: Swarm, env: Environment, report: Callable[[str], None]) -> None:
        self.swarm, self.env, self.report = swarm, env, report
        self.root = self.env.settings["SHARED_DIR"].rstrip("/") or "/"

    def ensure(self, image: str, timeout: float) -> None:
        """Prepared and proven shared on every node that can run tasks; Refused naming the nodes
        where it is not (before anything of the stack changes)."""
        self.report(f"checking that SHARED_DIR={self.root} is the same directory on every node")
        token = secrets.token_hex(16)
        jobs = Jobs(self.swarm)
        prepare = self._template(image, PREPARE, token, user="0", add=["CHOWN", "FOWNER", "SETUID", "SETGID"])
        ok, output = jobs.run_template("shared-prepare", prepare, timeout)
        if not ok:
            raise Refused(
                f"SHARED_DIR={self.root}: preparing {shared_root(self.env)} failed ({last_lines(output, 2)[:300]}); "
                "the stack was not changed"
            )
        jobs.run_template("shared-check", self._template(image, CHECK, token), timeout, global_job=True)
        unproven = unproven_nodes(self.swarm.nodes(), jobs.tasks)
        if unproven:
            raise Refused(
                f"SHARED_DIR={self.root} is not the same writable directory on every node: {'; '.join(unproven)}; "
                "mount the same shared storage there on each node (docs/cluster.md); the stack was not changed"
            )

    def remove(self, image: str, timeout: float) -> None:
        """The environment's uploads, state and configuration files (`down --volumes`)."""
        self.report(f"removing {shared_root(self.env)}")
        ok, output = Jobs(self.swarm).run_template(
            "shared-remove", self._template(image, REMOVE, "", user="0", add=["DAC_OVERRIDE"]), timeout
        )
        if not ok:
            raise SwitcherError(f"removing {shared_root(self.env)} failed: {last_lines(output, 2)[:300]}")

    def _template(self, image: str, script: str, token: str, user: str = SITE_USER, add: list[str] | None = None):
        environment = {"PROJECT": self.env.project, "TOKEN": token}
        return shared_task(image, ["sh", "-c", script], self.root, MOUNT, user, add, environment)


def shared_task(
    image: str,
    command: list[str],
    source: str,
    target: str,
    user: str = SITE_USER,
    add: list[str] | None = None,
    environment: dict[str, str] | None = None,
) -> dict:
    """A job's task template: `image` running `command` with the directory `source` of every
    node at `target`, no capability but `add`, a read-only root, no network."""
    return {
        "ContainerSpec": {
            "Image": image,
            "Command": command,
            "User": user,
            "Env": [f"{key}={value}" for key, value in (environment or {}).items()],
            "Mounts": [{"Type": "bind", "Source": source, "Target": target}],
            "ReadOnly": True,
            "CapabilityDrop": ["ALL"],
            "CapabilityAdd": add or [],
            "Healthcheck": {"Test": ["NONE"]},
        },
    }
