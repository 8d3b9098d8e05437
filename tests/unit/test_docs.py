"""The documentation keeps up with the code: every command and make target is in the README."""

import re

from switcher.cli import cli

from .conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_switcher_command_is_in_the_readme():
    for name, command in cli.commands.items():
        assert f"switcher {name}" in README, f"README does not mention `switcher {name}`"
        assert command.help, f"`switcher {name}` has no help text"


def test_every_documented_make_target_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):.*##", makefile, flags=re.M))
    for target in re.findall(r"`make ([a-z-]+)", README):
        assert target in targets, f"README names `make {target}`, which the Makefile lacks"


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make up", "make test"]
