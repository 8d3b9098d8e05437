"""Pure: what differs between a running container and the service compose would now make of
it, said in a few words (never a value: environment variables hold secrets)."""

from __future__ import annotations


def _env(container: dict) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in container.get("Config", {}).get("Env") or [])
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}


def _ports_wanted(service: dict) -> set[tuple[str, str, str]]:
    return {
        (
            str(port.get("host_ip") or ""),
            str(port.get("published") or ""),
            f"{port.get('target')}/{port.get('protocol') or 'tcp'}",
        )
        for port in service.get("ports") or []
    }


def _ports_running(container: dict) -> set[tuple[str, str, str]]:
    bindings = container.get("HostConfig", {}).get("PortBindings") or {}
    return {
        (str(binding.get("HostIp") or ""), str(binding.get("HostPort") or ""), port)
        for port, found in bindings.items()
        for binding in found or []
    }


def differences(service: dict, container: dict) -> list[str]:
    """The kinds of settings that differ, e.g. ["image switcher/db:r1 -> switcher/db:r2",
    "environment POSTGRES_PASSWORD"]; empty when none of those a person would look for does."""
    found = []
    running_image = container.get("Config", {}).get("Image")
    if service.get("image") and service["image"] != running_image:
        found.append(f"image {running_image} -> {service['image']}")
    running_env = _env(container)
    changed = sorted(
        key for key, value in (service.get("environment") or {}).items() if running_env.get(key) != (value or "")
    )
    if changed:
        found.append("environment " + ", ".join(changed))
    if _ports_wanted(service) != _ports_running(container):
        found.append("published ports")
    wanted_mounts = {volume.get("target") for volume in service.get("volumes") or []}
    running_mounts = {mount.get("Destination") for mount in container.get("Mounts") or []}
    if wanted_mounts != running_mounts:
        found.append("volumes")
    host = container.get("HostConfig", {})
    if sorted(service.get("cap_add") or []) != sorted(
        cap.removeprefix("CAP_") for cap in host.get("CapAdd") or []
    ) or sorted(service.get("cap_drop") or []) != sorted(cap.removeprefix("CAP_") for cap in host.get("CapDrop") or []):
        found.append("capabilities")
    if str(service.get("network_mode") or "") not in ("", str(host.get("NetworkMode") or "")):
        found.append("network")
    return found
