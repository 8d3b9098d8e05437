"""nginx/lb-follow.sh, a cluster's lb catching up with the committed live colour: a newer commit
is taken once the node has that release's static files, an older one (read late from the shared
storage, or before a newer flip) is not."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "nginx" / "lb-follow.sh"


def look(
    tmp_path: Path,
    committed: str | None,
    published: tuple[str, ...] = ("r1", "r2"),
    tasks: tuple[str, ...] | None = None,
) -> tuple[bool, str]:
    """One look of lb-follow with `committed` as the committed file and the static files of
    `published` on this node: (green flag set, the generation it followed). `tasks`: the
    colours whose service Docker's DNS lists (a `getent` in PATH that knows only those; None:
    the colours' names are unknown, as on one engine)."""
    live, releases = tmp_path / "live", tmp_path / "releases"
    live.mkdir(exist_ok=True)
    releases.mkdir(exist_ok=True)
    for release in published:
        (releases / f"{release}.json").write_text("{}")
    if committed is not None:
        (tmp_path / "committed").write_text(committed)
    env = {
        "LB_COMMITTED": str(tmp_path / "committed"), "LB_LIVE_DIR": str(live), "LB_PUBLISHED": str(releases),
        "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    if tasks is not None:
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        known = " ".join(f"app-{color}" for color in tasks)
        (fake / "getent").write_text(
            f'#!/bin/sh\ncase " {known} " in *" $2 "*) echo "10.0.0.9 STREAM $2" ;; *) exit 2 ;; esac\n'
        )
        (fake / "getent").chmod(0o755)
        env |= {"PATH": f"{fake}:/usr/bin:/bin", "BLUE_ADDR": "app-blue", "GREEN_ADDR": "app-green"}
    subprocess.run(["sh", str(SCRIPT), "--once"], env=env, capture_output=True, text=True, check=True)
    followed = live / "followed"
    return (live / "green").exists(), followed.read_text().strip() if followed.exists() else ""


def test_a_newer_commit_is_taken_and_an_older_one_is_not(tmp_path):
    assert look(tmp_path, None) == (False, "")  # nothing committed yet: blue, as the lb starts
    assert look(tmp_path, "green 1765000000000000005 r2\n") == (True, "1765000000000000005")
    assert look(tmp_path, "blue 1765000000000000004 r1\n") == (True, "1765000000000000005"), "older: left alone"
    assert look(tmp_path, "blue 1765000000000000006 r1\n") == (False, "1765000000000000006")


def test_a_flip_newer_than_the_commit_stays(tmp_path):
    """switcher's flip (a promote not committed yet, or a switch back) writes its generation."""
    look(tmp_path, "green 1765000000000000005 r2\n")
    (tmp_path / "live" / "green").unlink()  # switcher flipped this lb to blue later
    (tmp_path / "live" / "followed").write_text("1765000000000000009\n")
    assert look(tmp_path, None) == (False, "1765000000000000009")


def test_a_release_whose_static_files_this_node_lacks_waits(tmp_path):
    """A node that was away when the release was deployed keeps the colour it had (its pages and
    files match) until `switcher up` publishes the release there."""
    assert look(tmp_path, "green 1765000000000000005 r3\n") == (False, "")
    assert look(tmp_path, None, published=("r1", "r2", "r3")) == (True, "1765000000000000005")


def test_a_release_whose_static_files_this_node_lacks_is_taken_when_its_own_colour_has_no_task(tmp_path):
    """promote --stop-old while the node was away: its own colour has no task to serve, so the
    live release without this node's static files beats a 502; while it still has one, it waits."""
    assert look(tmp_path, "green 1765000000000000005 r3\n", tasks=("blue", "green")) == (False, "")
    assert look(tmp_path, None, tasks=("green",)) == (True, "1765000000000000005")
    assert look(tmp_path, "blue 1765000000000000006 r4\n", tasks=("blue",)) == (False, "1765000000000000006")


def test_a_damaged_commit_changes_nothing(tmp_path):
    generation = "1765000000000000010"
    lines = (
        "", f"purple {generation} r2\n", "green r2\n", "green 12x r2\n", "green -5 r2\n",
        f"green {generation}\n", f"green {generation} ../r2\n", f"green {generation} r;2\n",
    )  # fmt: skip
    for text in lines:
        assert look(tmp_path, text) == (False, ""), text


def look_maintenance(tmp_path: Path, committed: str | None) -> tuple[str | None, str | None, str]:
    """One look of lb-follow with `committed` as the committed maintenance: (the lb's state
    file, its page, the generation it followed); nginx reads the first two, so they are 0644."""
    live = tmp_path / "live"
    live.mkdir(exist_ok=True)
    if committed is not None:
        (tmp_path / "maintenance").write_text(committed)
    env = {
        "LB_COMMITTED": str(tmp_path / "none"), "LB_MAINTENANCE": str(tmp_path / "maintenance"),
        "LB_LIVE_DIR": str(live), "LB_PUBLISHED": str(tmp_path), "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    subprocess.run(["sh", str(SCRIPT), "--once"], env=env, capture_output=True, text=True, check=True)
    left = {path.name for path in live.iterdir()}  # no copy of the commit (the token), no temporary file
    assert left <= {"maintenance.followed", "maintenance.html", "maintenance.json"}, left

    def read(name: str) -> str | None:
        path = live / name
        if not path.exists():
            return None
        if name != "maintenance.followed":
            assert path.stat().st_mode & 0o777 == 0o644, name
        return path.read_text()

    return read("maintenance.json"), read("maintenance.html"), (read("maintenance.followed") or "").strip()


STATE = '{"on": true, "token": "sekrit", "message": "back at noon"}'
PAGE = "<html><body>\nback at noon\n</body></html>\n"


def test_a_newer_maintenance_commit_is_taken_and_an_older_one_is_not(tmp_path):
    assert look_maintenance(tmp_path, None) == (None, None, "")
    on = look_maintenance(tmp_path, f"on 1765000000000000005\n{STATE}\n{PAGE}")
    assert on == (STATE + "\n", PAGE, "1765000000000000005")
    older = look_maintenance(tmp_path, "off 1765000000000000004\n")
    assert older == on, "older: left alone"
    off = look_maintenance(tmp_path, "off 1765000000000000006\n")
    assert off == (None, PAGE, "1765000000000000006"), "off removes the state and keeps the page"


def test_a_maintenance_switch_newer_than_the_commit_stays(tmp_path):
    """switcher's own maintenance on/off writes its generation beside the state."""
    look_maintenance(tmp_path, f"on 1765000000000000005\n{STATE}\n{PAGE}")
    (tmp_path / "live" / "maintenance.json").unlink()  # switcher turned it off on this lb later
    (tmp_path / "live" / "maintenance.followed").write_text("1765000000000000009\n")
    assert look_maintenance(tmp_path, None) == (None, PAGE, "1765000000000000009")


def test_a_damaged_maintenance_commit_changes_nothing(tmp_path):
    generation = "1765000000000000010"
    texts = (
        "", f"maybe {generation}\n", "on\n", f"on 12x\n{STATE}\n", f"on -5\n{STATE}\n", f"on {generation}\n",
        f"on {generation}\nnot json\n{PAGE}", f"{generation} on\n",
    )  # fmt: skip
    for text in texts:
        assert look_maintenance(tmp_path, text) == (None, None, ""), text
