"""The idle colour's preview on a cluster, for deploy's warm and smoke steps.

Every lb task serves the preview (the idle colour, port 8443) as on one host, but a cluster
publishes only the live ports, so switcher cannot reach it from outside. The requests are made
from inside instead: a Swarm job of the site's image, from the colours' task template (the
stack's network), sends them to the lbs' preview listener (`lb:8443`) with the site's Host
header, so they take the same nginx route, headers and ALLOWED_HOSTS check as a visitor's.
TLS is not verified there: it is the stack's own lb on the stack's own network.
"""

from __future__ import annotations

import json

from switcher.errors import SwitcherError, last_lines
from switcher.probe import Answer

PREVIEW = ("lb", 8443)  # the lb service's preview listener on the stack's network
MARK = "switcher-preview "  # each answer's line in the job's output
PREVIEW_TIMEOUT = 180  # seconds for the job: pulling the image on a node, 10 s per request

# Run by python3 in the job: argv = host, paths; one line per path, MARK + JSON.
SCRIPT = f"""
import http.client, json, ssl, sys
host, paths = sys.argv[1], sys.argv[2:]
context = ssl._create_unverified_context()
for path in paths:
    try:
        connection = http.client.HTTPSConnection({PREVIEW[0]!r}, {PREVIEW[1]}, timeout=10, context=context)
        connection.request("GET", path, headers={{"Host": host, "User-Agent": "switcher-probe"}})
        response = connection.getresponse()
        body = response.read(300).decode("utf-8", "replace")
        answer = [response.status, response.getheader("X-Release"), body, response.getheader("Location")]
        connection.close()
    except Exception as error:
        answer = [0, None, str(error)[:200], None]
    print({MARK!r} + json.dumps(answer), flush=True)
"""


def command(host: str, paths: list[str]) -> list[str]:
    return ["python3", "-c", SCRIPT, host, *paths]


def parse_answers(output: str, paths: list[str]) -> list[Answer]:
    """One Answer per path from the job's output; SwitcherError when a line is missing or bad."""
    answers = []
    for line in output.splitlines():
        _, found, raw = line.partition(MARK)
        if not found:
            continue
        try:
            status, release, body, location = json.loads(raw)
            answers.append(Answer(status=int(status), release=release, body=str(body), location=location))
        except (ValueError, TypeError):
            raise SwitcherError(f"the preview job printed {raw[:120]!r}, not an answer") from None
    if len(answers) != len(paths):
        raise SwitcherError(f"the preview job answered {len(answers)} of {len(paths)} path(s): {last_lines(output, 2)}")
    return answers
