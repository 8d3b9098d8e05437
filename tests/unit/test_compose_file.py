"""The compose file and nginx template agree with the core that drives them."""

import re

from switcher.cluster_plan import process_replicas
from switcher.compose import Releases, base_command, compose_variables
from switcher.config import COLORS, LIVE_FLAG, validate
from switcher.credentials import GENERATED

from .conftest import ROOT

STACK = "\n".join(
    line for line in (ROOT / "compose" / "stack.yml").read_text().splitlines() if not line.lstrip().startswith("#")
)
TEMPLATE = (ROOT / "nginx" / "templates" / "site.conf.template").read_text()
LB_ENTRYPOINT = (ROOT / "nginx" / "docker-entrypoint.sh").read_text()
SWARM = "\n".join(
    line for line in (ROOT / "compose" / "swarm.yml").read_text().splitlines() if not line.lstrip().startswith("#")
)


def test_every_required_compose_variable_is_provided(paths):
    env = validate("x", {}, "f", paths.root)
    variables = compose_variables(env, Releases("r1", "r2", "r0"), {key: "s" for key in GENERATED})
    used = set(re.findall(r"\$\{([A-Z_]+)(?::\?|\})", STACK))
    assert used, "the compose file should interpolate variables"
    assert sorted(used - set(variables)) == []


def test_variables_carry_releases_addresses_and_no_tls_paths(paths):
    env = validate("x", {"SUBNET": "172.30.7.0/24"}, "f", paths.root)
    variables = compose_variables(env, Releases("r1", "r2", "r0"), {}, task_release="r9")
    assert (variables["BLUE_RELEASE"], variables["GREEN_RELEASE"], variables["STACK_RELEASE"]) == ("r1", "r2", "r0")
    assert variables["TASK_RELEASE"] == "r9"
    assert variables["BLUE_ADDR"] == "172.30.7.11"
    assert "TLS_CERT" not in variables and "TLS_DIR" not in variables
    assert variables["MEMCACHED_LIMIT_MB"] == str(int(env.settings["MEMCACHED_MEMORY_MB"]) + 64)


def test_compose_command_names_project_and_file(paths):
    env = validate("x", {"PROJECT": "swtest-1"}, "f", paths.root)
    command = base_command(paths, env)
    assert command[:2] == ["docker", "compose"]
    assert command[command.index("--project-name") + 1] == "swtest-1"
    assert command[command.index("--file") + 1].endswith("compose/stack.yml")


def test_published_ports_are_on_the_bind_address_or_loopback():
    ports = re.findall(r'^\s*-\s*"([^"]+)"\s*$', STACK, flags=re.M)
    published = [p for p in ports if re.search(r"_PORT:\?\}:\d+$", p)]
    assert len(published) == 3
    assert published
    for mapping in published:
        assert mapping.startswith(("${BIND_ADDRESS:?}:", "127.0.0.1:")), mapping


def test_nginx_reads_the_flag_switcher_reads():
    assert f"if (-f {LIVE_FLAG})" in TEMPLATE
    for color in COLORS:
        assert f"upstream app_{color} " in LB_ENTRYPOINT  # one engine: the colours' fixed addresses
        assert f"    {color if color == 'green' else 'default'} " in LB_ENTRYPOINT
    assert "resolver 127.0.0.11" in LB_ENTRYPOINT  # a cluster: the colours' tasks through Docker's DNS


def test_every_variable_of_the_swarm_stack_is_provided(paths):
    swarm = {"ENGINE": "swarm", "SWARM_MANAGER": "unix:///m.sock", "REGISTRY": "r:5000", "SHARED_DIR": "/srv/shared"}
    env = validate("x", swarm, "f", paths.root)
    variables = compose_variables(env, Releases("r1", "r2", "r0"), {key: "s" for key in GENERATED})
    variables.update(TLS_CERT_SECRET="c", TLS_KEY_SECRET="k", CRON_REPLICAS="1")  # ClusterStack.variables
    variables.update(process_replicas(["worker", "beat"], cron_stopped=False))
    variables.update(BLUE_REPLICAS="2", GREEN_REPLICAS="0", SHARED_ROOT="/srv/shared/x", SHARED_KEY="k")
    used = set(re.findall(r"\$\{([A-Z_]+)(?::\?|\}|:-)", SWARM))
    assert {"REGISTRY", "BLUE_REPLICAS", "GREEN_REPLICAS", "SUBNET"} <= used
    assert sorted(used - set(variables)) == []


def test_the_swarm_stack_publishes_only_the_lb_and_drops_capabilities():
    import yaml

    stack = yaml.safe_load((ROOT / "compose" / "swarm.yml").read_text())
    for name, service in stack["services"].items():
        assert service.get("cap_drop") == ["ALL"] and service.get("read_only") is True, name
        assert service["deploy"]["endpoint_mode"] == "dnsrr", f"{name}: no virtual IP (no IPVS needed)"
        assert service["image"].startswith("${REGISTRY:?}/"), name
        assert ("ports" in service) == (name == "lb"), name
    assert {port["mode"] for port in stack["services"]["lb"]["ports"]} == {"host"}
    assert stack["services"]["lb"]["deploy"]["mode"] == "global"
    assert stack["services"]["db"]["deploy"]["placement"]["constraints"] == ["node.labels.switcher.db == true"]
    assert stack["services"]["db"]["environment"]["DB_NETWORK"] == "${SUBNET:?}"
    # The broker: on the stack's network by password (never on its command line), with the db.
    broker = stack["services"]["broker"]
    assert broker["environment"] == {"BROKER_PASSWORD": "${BROKER_PASSWORD:?}"}
    assert "BROKER_PASSWORD" not in " ".join(broker["command"][:2]) and "unset BROKER_PASSWORD" in broker["command"][2]
    assert broker["deploy"]["placement"]["constraints"] == ["node.labels.switcher.db == true"]
    for name in ("cron", "beat"):  # the old one stops before the new one starts
        assert stack["services"][name]["deploy"]["update_config"] == {"order": "stop-first"}, name
    # every old worker stops before the new ones start (parallelism 0: all at once), spread out
    assert stack["services"]["worker"]["deploy"]["update_config"] == {"order": "stop-first", "parallelism": 0}
    assert stack["services"]["worker"]["deploy"]["placement"] == {"preferences": [{"spread": "node.id"}]}


def services() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "compose" / "stack.yml").read_text())["services"]


def test_every_container_drops_its_capabilities_and_cannot_gain_any():
    for name, service in services().items():
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("read_only") is True, name
        assert service.get("pids_limit") and service.get("mem_limit"), f"{name} has no pids or memory limit"
        assert not service.get("privileged"), name
    assert services()["lb"]["cap_add"] == ["NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"]
    for name in ("app-blue", "app-green", "app-task", "cron", "db", "memcached"):
        assert "cap_add" not in services()[name], f"{name} needs no capability"


def test_database_and_memcached_have_no_network_and_publish_nothing():
    for name in ("db", "memcached"):
        assert services()[name]["network_mode"] == "none", name
        assert "ports" not in services()[name], name
    site_mounts = services()["app-blue"]["volumes"]
    assert "db-socket:/run/postgresql:ro" in site_mounts and "memcached-socket:/run/memcached:ro" in site_mounts
    lb_mounts = " ".join(services()["lb"]["volumes"])
    assert "socket" not in lb_mounts, "the lb must not reach the database or memcached"


def test_no_container_gets_the_superuser_password_and_the_db_no_password_at_all():
    for name, service in services().items():
        environment = " ".join(str(value) for value in (service.get("environment") or {}).values())
        assert "DB_SUPERUSER_PASSWORD" not in environment, name
        if name in ("db", "lb", "memcached"):
            assert "PASSWORD" not in environment and "SECRET" not in environment, name
