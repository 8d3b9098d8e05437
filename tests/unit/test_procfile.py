"""scripts/procfile.py: which Procfile processes the platform runs beside gunicorn."""

import importlib.util
import sys

import pytest

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("procfile", ROOT / "scripts" / "procfile.py")
procfile = importlib.util.module_from_spec(spec)
sys.modules["procfile"] = procfile
spec.loader.exec_module(procfile)


def test_worker_and_beat_run_web_and_release_are_the_platforms():
    names, notes = procfile.declared(
        "# processes\n"
        "web: gunicorn mysite.wsgi --log-file -\n"
        "release: python manage.py migrate\n"
        "beat: celery -A mysite beat\n"
        "worker:   celery -A mysite worker -l info\n"
        "clock: python clock.py\n"
    )
    assert names == ["worker", "beat"]
    assert notes == [
        "Procfile: web: is not run (the platform runs gunicorn itself)",
        "Procfile: release: is not run (the platform runs migrate at deploy)",
        "Procfile: clock: is not run (only worker: and beat: are)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("worker celery -A x worker\n", "line 1 is not `name: command`"), ("worker: a\nworker: b\n", "declared twice")],
)
def test_a_malformed_procfile_is_one_line(text, message):
    with pytest.raises(ValueError, match=message):
        procfile.declared(text)
