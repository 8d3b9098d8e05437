"""The lb's njs (maintenance decisions) run by Debian's njs, the engine of the lb's module."""

import shutil
import subprocess

from .conftest import ROOT


def test_maintenance_njs_matches_networks_and_compares_secrets():
    njs = shutil.which("njs")
    assert njs, "Debian's njs is needed (scripts/host-deps.sh installs it)"
    result = subprocess.run(
        [njs, "-p", str(ROOT / "nginx" / "njs"), str(ROOT / "tests" / "njs" / "maintenance_test.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1:] == ["ok"], result.stdout + result.stderr
