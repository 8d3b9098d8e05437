"""One-off work on a Swarm: a job (a service whose tasks run once and stop), made from one of
the stack's services' task template with another image and command, waited for, its output
read, and removed with its tasks' containers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors
import docker.types

from switcher.errors import SwitcherError
from switcher.runtime import _docker_errors
from switcher.swarm import STACK_LABEL, Node, Swarm, suppress_missing


class Jobs:
    def __init__(self, swarm: Swarm) -> None:
        self.swarm = swarm
        self.tasks: list[dict] = []  # the last job's tasks, as Docker described them

    # -- one-off work --------------------------------------------------------------------
    def run(
        self,
        name: str,
        like: str,
        image: str,
        command: list[str],
        timeout: float,
        user: str | None = None,
        global_job: bool = False,
        extra_mounts: list[str] | None = None,
        constraints: list[str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> tuple[bool, str]:
        """A job (a service whose tasks run once) made from service `like`'s task template,
        with another image and command: replicated (one task) or global (one per node that
        `like` may run on). (ok, its output)."""
        with _docker_errors("running a job"):
            template, networks = self.template_like(like, image, command, user, extra_mounts, environment)
            if constraints is not None:
                template["Placement"] = {"Constraints": constraints}
            elif not global_job:
                template.pop("Placement", None)
            return self.run_template(name, template, timeout, global_job, networks)

    def template_like(
        self,
        like: str,
        image: str,
        command: list[str],
        user: str | None = None,
        extra_mounts: list[str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> tuple[dict, list | None]:
        """Service `like`'s task template (its settings, volumes, network) with another image
        and command, and no health check; and its networks."""
        spec = self.swarm.manager.client.services.get(f"{self.swarm.project}_{like}").attrs["Spec"]
        template = dict(spec["TaskTemplate"])
        container = dict(template["ContainerSpec"])
        container.update(Image=image, Args=command)
        container.pop("Command", None)
        container["Healthcheck"] = {"Test": ["NONE"]}
        if user is not None:
            container["User"] = user
        if environment:  # never secrets: a service's spec is readable by every manager client
            container["Env"] = [*container.get("Env", []), *(f"{k}={v}" for k, v in environment.items())]
        if extra_mounts:
            container["Mounts"] = [*container.get("Mounts", []), *map(_volume_mount(self.swarm.project), extra_mounts)]
        template["ContainerSpec"] = container
        return template, spec["TaskTemplate"].get("Networks")

    def run_template(
        self, name: str, template: dict, timeout: float, global_job: bool = False, networks: list | None = None
    ) -> tuple[bool, str]:
        """A job of the task template `template` (its restart policy set to none): replicated (one
        task) or global (one task per node it may run on). (ok, its output); `tasks` then holds
        its tasks as Docker described them."""
        with _docker_errors("running a job"):
            service_id = self._create(name, template, global_job, networks)
            try:
                return self._await_job(service_id, timeout)
            finally:
                self._remove_job(service_id)

    @contextmanager
    def holding(self, name: str, template: dict, networks: list | None, timeout: float) -> Iterator[tuple[Node, str]]:
        """A job of one task running `template` (a command that waits, such as sleep), for as
        long as the block runs: its node and container id, to `docker exec` in; then removed."""
        with _docker_errors("starting a job"):
            service_id = self._create(name, template, False, networks)
        try:
            deadline = time.monotonic() + timeout
            while True:
                tasks = self.swarm.manager.client.api.tasks(filters={"service": service_id})
                task = tasks[0] if tasks else None
                state = task["Status"]["State"] if task else "pending"
                container = (task or {}).get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
                if state == "running" and container:
                    break
                if state in ("complete", "failed", "rejected", "shutdown") or time.monotonic() > deadline:
                    why = (task or {}).get("Status", {}).get("Err") or state
                    raise SwitcherError(f"the {name} task did not start: {why[:200]}")
                time.sleep(0.5)
            nodes = {node.id: node for node in self.swarm.nodes()}
            yield nodes[task["NodeID"]], container
        finally:
            with _docker_errors("removing a job"):
                self._remove_job(service_id)

    def _create(self, name: str, template: dict, global_job: bool, networks: list | None) -> str:
        template = {**template, "RestartPolicy": {"Condition": "none"}}
        if global_job:
            mode = docker.types.ServiceMode("global-job")
        else:
            mode = docker.types.ServiceMode("replicated-job", replicas=1)
        labels = {STACK_LABEL: self.swarm.project, "io.switcher.job": name}
        service_name = f"{self.swarm.project}_job-{name}"
        with suppress_missing():
            self.swarm.manager.client.api.remove_service(service_name)
        created = self.swarm.manager.client.api.create_service(
            template, name=service_name, labels=labels, mode=mode, networks=networks
        )
        return created["ID"]

    def _await_job(self, service_id: str, timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        while True:
            tasks = self.swarm.manager.client.api.tasks(filters={"service": service_id})
            states = [task["Status"]["State"] for task in tasks]
            done = tasks and all(state in ("complete", "failed", "rejected", "shutdown") for state in states)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.tasks = tasks
        output = self._job_logs(service_id)
        if not done:
            return False, f"{output}\nstill running after {timeout:.0f} s"
        failed = [task for task in tasks if task["Status"]["State"] != "complete"]
        if failed:
            output += "\n" + (failed[0]["Status"].get("Err") or failed[0]["Status"]["State"])
        return not failed, output

    def _remove_job(self, service_id: str) -> None:
        """The job's service, and its tasks' containers, which Swarm keeps after a job ends
        (they hold the volumes: `down --volumes` could not remove them)."""
        tasks = self.swarm.manager.client.api.tasks(filters={"service": service_id})
        with suppress_missing():
            self.swarm.manager.client.api.remove_service(service_id)
        nodes = {node.id: node for node in self.swarm.nodes()}
        for task in tasks:
            container = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            node = nodes.get(task.get("NodeID", ""))
            if container and node is not None:
                with suppress_missing():
                    self.swarm.engine(node).client.api.remove_container(container, force=True)

    def _job_logs(self, service_id: str) -> str:
        try:
            raw = self.swarm.manager.client.api.service_logs(service_id, stdout=True, stderr=True, follow=False)
            # The SDK takes the stream's frames apart already.
            return (raw if isinstance(raw, bytes) else b"".join(raw)).decode("utf-8", "replace")
        except docker.errors.APIError:
            return ""


def _volume_mount(project: str):
    def mount(spec: str) -> dict:
        volume, target = spec.split(":", 1)
        return {
            "Type": "volume",
            "Source": f"{project}_{volume}",
            "Target": target,
            "VolumeOptions": {"Labels": {STACK_LABEL: project}},
        }

    return mount
