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

    def exec_with_input(self, name: str, command: list[str], data: bytes) -> tuple[int, str]:
        self.commands.append(command)
        self.written[command[-1]] = data
        return 0, ""


def test_the_token_reaches_the_lb_on_stdin_only():
    docker = RecordingDocker()
    MaintenanceSwitch(docker, "lb").turn_on("r1", "sekrit-token-123", "back at noon", 300, [])  # type: ignore[arg-type]
    assert b"sekrit-token-123" in docker.written[STATE_FILE]
    assert b"back at noon" in docker.written[PAGE_FILE]
    assert not [command for command in docker.commands if any("sekrit" in part for part in command)]
