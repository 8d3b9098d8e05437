"""MaintenanceSwitch (switcher/maintenance.py) writes the lb's maintenance state, which holds the
bypass token, through docker exec with the content on stdin: never on a command line, which
every process list of the host shows."""

from switcher.maintenance import PAGE_FILE, STATE_FILE, MaintenanceSwitch


class RecordingDocker:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.written: dict[str, bytes] = {}

    def exec_output(self, name: str, command: list[str], user: str = "") -> tuple[int, str]:
        self.commands.append(command)
        return 0, "<html><body>down for a while</body></html>"  # the release's published page

    def write_file(self, name: str, path: str, content: str) -> tuple[int, str]:
        # Docker.write_file: the content goes on stdin; the command names the path only.
        self.commands.append(["write", path])
        self.written[path] = content.encode()
        return 0, ""


def test_the_token_reaches_the_lb_on_stdin_only():
    docker = RecordingDocker()
    MaintenanceSwitch(docker, "lb").turn_on("r1", "sekrit-token-123", "back at noon", 300, [])  # type: ignore[arg-type]
    assert b"sekrit-token-123" in docker.written[STATE_FILE]
    assert b"back at noon" in docker.written[PAGE_FILE]
    assert not [command for command in docker.commands if any("sekrit" in part for part in command)]


def test_docker_writes_a_file_with_its_content_on_stdin():
    from switcher.runtime import Docker

    docker = Docker.__new__(Docker)  # no daemon: only what write_file hands to exec_with_input
    calls: list[tuple[list[str], bytes]] = []
    docker.exec_with_input = lambda name, command, data: calls.append((command, data)) or (0, "")  # type: ignore[method-assign]
    assert docker.write_file("lb", "/var/lib/switcher/live/maintenance.json", '{"token": "sekrit-456"}') == (0, "")
    [(command, data)] = calls
    assert data == b'{"token": "sekrit-456"}' and not [part for part in command if "sekrit" in part]
    assert command[-1] == "/var/lib/switcher/live/maintenance.json" and 'mv -f "$1.tmp" "$1"' in command[2]
