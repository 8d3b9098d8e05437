"""`switcher config put/list` on a Swarm (ENGINE=swarm): the site's configuration files (the old
guide's coposweb.ini) in SHARED_DIR/PROJECT/config, which both colours and cron mount
read-only on every node, as one host's config volume.

A file's content may be secret, so it never travels in a service's spec (readable by every
client of the manager): it goes in as a Swarm secret, which Swarm keeps encrypted and gives only
to the one task of a job that copies it into place as the site's user (a temporary name, then a
rename, so a reader never sees half a file); the secret is removed after.
"""

from __future__ import annotations

import hashlib
import time

from switcher import history
from switcher.cluster_shared import SITE_UID, shared_root, shared_task
from switcher.cluster_stack import ClusterStack
from switcher.config import check_config_name
from switcher.errors import ConfigError, SwitcherError, last_lines
from switcher.registry import remote_reference
from switcher.swarm import suppress_missing
from switcher.swarm_engine import SwarmEngine
from switcher.swarm_jobs import Jobs

MAX_BYTES = 500 * 1024  # a Swarm secret's limit
TARGET = "/config"
PUT = f'umask 027 && cat /run/secrets/config-file > "{TARGET}/.$1.tmp" && mv -f "{TARGET}/.$1.tmp" "{TARGET}/$1"'
LIST = f'cd {TARGET} && for f in *; do [ -f "$f" ] && echo "== $f"; done; true'


class ClusterConfig:
    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm, self.env, self.report = stack, stack.swarm, stack.env, stack.report
        self.engine = SwarmEngine(stack)

    def put(self, name: str, content: bytes) -> None:
        check_config_name(name)
        if len(content) > MAX_BYTES:
            raise ConfigError(f"{name} has {len(content)} bytes: a cluster takes configuration files of up to 500 KiB")
        started = time.monotonic()
        with self.engine.locked(f"config put {name}"):
            secret_name = f"{self.env.project}_config-{hashlib.sha256(content).hexdigest()[:16]}"
            secret_id = self.swarm.ensure_secret(secret_name, content)
            try:
                template = self._template(["sh", "-c", PUT, "sh", name])
                template["ContainerSpec"]["Secrets"] = [
                    {
                        "File": {"Name": "config-file", "UID": SITE_UID, "GID": SITE_UID, "Mode": 0o400},
                        "SecretID": secret_id,
                        "SecretName": secret_name,
                    }
                ]
                self._run("config-put", template)
            finally:
                with suppress_missing():
                    self.swarm.manager.client.api.remove_secret(secret_id)
            history.record(self.stack.store, self.env.name, "config", started, "ok", file=name, bytes=len(content))

    def list(self) -> list[str]:
        output = self._run("config-list", self._template(["sh", "-c", LIST]))
        return [line[3:] for line in output.splitlines() if line.startswith("== ")]

    def _template(self, command: list[str]) -> dict:
        image = remote_reference(self.env, "site", self.engine.live_release())
        return shared_task(image, command, f"{shared_root(self.env)}/config", TARGET)

    def _run(self, name: str, template: dict) -> str:
        ok, output = Jobs(self.swarm).run_template(name, template, timeout=300)
        if not ok:
            raise SwitcherError(f"{name} failed: {last_lines(output, 2)[:300]}")
        return output
