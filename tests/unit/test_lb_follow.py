"""nginx/lb-follow.sh, a cluster's lb catching up with the committed live colour: a newer commit
is taken, an older one (read late from the shared storage, or before a newer flip) is not."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "nginx" / "lb-follow.sh"


def look(tmp_path: Path, committed: str | None) -> tuple[bool, str]:
    """One look of lb-follow with `committed` as the committed file: (green flag set, followed)."""
    live = tmp_path / "live"
    live.mkdir(exist_ok=True)
    if committed is not None:
        (tmp_path / "committed").write_text(committed)
    env = {"LB_COMMITTED": str(tmp_path / "committed"), "LB_LIVE_DIR": str(live), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["sh", str(SCRIPT), "--once"], env=env, capture_output=True, text=True, check=True)
    assert "Traceback" not in result.stderr
    followed = live / "followed"
    return (live / "green").exists(), followed.read_text().strip() if followed.exists() else ""


def test_a_newer_commit_is_taken_and_an_older_one_is_not(tmp_path):
    assert look(tmp_path, None) == (False, "")  # nothing committed yet: blue, as the lb starts
    assert look(tmp_path, "green 1765000000000000005\n") == (True, "1765000000000000005")
    assert look(tmp_path, "blue 1765000000000000004\n") == (True, "1765000000000000005"), "older: left alone"
    assert look(tmp_path, "blue 1765000000000000006\n") == (False, "1765000000000000006")


def test_a_flip_newer_than_the_commit_stays(tmp_path):
    """switcher's flip (a promote not committed yet, or a switch back) writes its generation."""
    look(tmp_path, "green 1765000000000000005\n")
    (tmp_path / "live" / "green").unlink()  # switcher flipped this lb to blue later
    (tmp_path / "live" / "followed").write_text("1765000000000000009\n")
    assert look(tmp_path, None) == (False, "1765000000000000009")


def test_a_damaged_commit_changes_nothing(tmp_path):
    for text in ("", "purple 17650000000000000010\n", "green\n", "green 12x\n", "green -5\n"):
        assert look(tmp_path, text) == (False, ""), text
