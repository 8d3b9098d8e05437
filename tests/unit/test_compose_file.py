"""The compose file and nginx template agree with the core that drives them."""

import re

from switcher.compose import Releases, base_command, compose_variables
from switcher.config import COLORS, LIVE_FLAG, validate

from .conftest import ROOT

STACK = "\n".join(
    line for line in (ROOT / "compose" / "stack.yml").read_text().splitlines() if not line.lstrip().startswith("#")
)
TEMPLATE = (ROOT / "nginx" / "templates" / "site.conf.template").read_text()


def test_every_required_compose_variable_is_provided(paths):
    env = validate("x", {}, "f", paths.root)
    variables = compose_variables(
        env, Releases("r1", "r2", "r0"), ROOT / "tls", {"DJANGO_SECRET_KEY": "k", "DB_PASSWORD": "p"}
    )
    used = set(re.findall(r"\$\{([A-Z_]+)(?::\?|\})", STACK))
    assert used, "the compose file should interpolate variables"
    assert sorted(used - set(variables)) == []


def test_variables_carry_releases_addresses_and_no_tls_paths(paths):
    env = validate("x", {"SUBNET": "172.30.7.0/24"}, "f", paths.root)
    variables = compose_variables(env, Releases("r1", "r2", "r0"), ROOT / "tls", {}, task_release="r9")
    assert (variables["BLUE_RELEASE"], variables["GREEN_RELEASE"], variables["STACK_RELEASE"]) == ("r1", "r2", "r0")
    assert variables["TASK_RELEASE"] == "r9"
    assert variables["BLUE_ADDR"] == "172.30.7.11"
    assert "TLS_CERT" not in variables


def test_compose_command_names_project_and_file(paths):
    env = validate("x", {"PROJECT": "swtest-1"}, "f", paths.root)
    command = base_command(paths, env)
    assert command[:2] == ["docker", "compose"]
    assert command[command.index("--project-name") + 1] == "swtest-1"
    assert command[-1].endswith("compose/stack.yml")


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
        assert f"upstream app_{color} " in TEMPLATE
