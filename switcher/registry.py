"""A release's images in the registry of a Swarm environment (ENGINE=swarm, REGISTRY): every
node pulls the stack's images from there by one name, REGISTRY/IMAGE_PREFIX/NAME:RELEASE.
`switcher push RELEASE` puts them there from this machine's engine and checks that the registry
holds what was pushed."""

from __future__ import annotations

from collections.abc import Callable

from switcher.config import Environment
from switcher.errors import ConfigError, SwitcherError
from switcher.runtime import Docker, require_images

# The images a release runs on a cluster (base is only what the others are built on).
RELEASE_IMAGES = ("site", "lb", "db", "memcached", "broker", "acme")


def local_reference(env: Environment, name: str, release: str) -> str:
    return f"{env.image_prefix}/{name}:{release}"


def remote_reference(env: Environment, name: str, release: str) -> str:
    return f"{env.registry}/{env.image_prefix}/{name}:{release}"


class Registry:
    def __init__(self, env: Environment, docker: Docker, report: Callable[[str], None]) -> None:
        if env.engine != "swarm":
            raise ConfigError(
                f"{env.name} runs on one engine (ENGINE={env.engine}): its images need no registry; "
                "a cluster's environment sets ENGINE=swarm and REGISTRY"
            )
        self.env, self.docker, self.report = env, docker, report

    def push(self, release: str) -> list[tuple[str, str]]:
        """Push every image of `release`, each checked to be in the registry with the digest the
        push reported; (reference, digest) for each."""
        local = {name: local_reference(self.env, name, release) for name in RELEASE_IMAGES}
        require_images(self.docker, list(local.values()), release)
        pushed = []
        for name in RELEASE_IMAGES:
            remote = remote_reference(self.env, name, release)
            self.report(f"pushing {remote}")
            digest = self.docker.push_image(local[name], remote)
            held = self.docker.registry_digest(remote)
            if held is None or (digest and held != digest):
                raise SwitcherError(f"the registry does not hold {remote} as pushed ({held or 'absent'})")
            pushed.append((remote, held))
        return pushed
