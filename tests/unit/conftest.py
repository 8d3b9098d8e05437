from pathlib import Path

import pytest

from switcher.config import Paths

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    return Paths(root=ROOT, env_dir=env_dir, state_dir=tmp_path / "state")


@pytest.fixture
def write_env(paths: Paths):
    def write(name: str, text: str) -> Path:
        path = paths.env_dir / f"{name}.env"
        path.write_text(text)
        return path

    return write
