from switcher.drift import differences

SERVICE = {
    "image": "switcher/db:r1",
    "environment": {"POSTGRES_DB": "site", "POSTGRES_PASSWORD": "secret-2"},
    "volumes": [{"type": "volume", "source": "db-data", "target": "/var/lib/postgresql/data"}],
    "cap_drop": ["ALL"],
    "network_mode": "none",
}
CONTAINER = {
    "Config": {"Image": "switcher/db:r1", "Env": ["POSTGRES_DB=site", "POSTGRES_PASSWORD=secret-1", "PATH=/bin"]},
    "Mounts": [{"Destination": "/var/lib/postgresql/data"}],
    "HostConfig": {"CapDrop": ["ALL"], "NetworkMode": "none", "PortBindings": {}},
}


def test_names_what_differs_without_values():
    found = differences(SERVICE, CONTAINER)
    assert found == ["environment POSTGRES_PASSWORD"]
    assert "secret" not in " ".join(found)


def test_image_ports_volumes_capabilities_network():
    service = {
        **SERVICE,
        "image": "switcher/db:r2",
        "ports": [{"host_ip": "127.0.0.1", "published": "5432", "target": 5432, "protocol": "tcp"}],
        "volumes": [],
        "cap_add": ["CHOWN"],
        "network_mode": "bridge",
        "environment": {"POSTGRES_DB": "site"},
    }
    assert differences(service, CONTAINER) == [
        "image switcher/db:r1 -> switcher/db:r2",
        "published ports",
        "volumes",
        "capabilities",
        "network",
    ]
