"""A cron job that shows the scheduler works: it records its start and end in the state volume."""

import os
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Append 'start'/'end' lines (time, cron slot, release) to STATE_DIR/cron/heartbeat.log."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=0.0, help="How long the job takes.")

    def handle(self, *args, seconds: float, **options):
        path = settings.STATE_DIR / "cron" / "heartbeat.log"
        path.parent.mkdir(parents=True, exist_ok=True)

        def record(event: str) -> None:
            with open(path, "a") as log:
                slot = os.environ.get("CRON_SLOT", "-")
                log.write(f"{event} {time.time():.3f} {slot} {settings.RELEASE} {datetime.now(UTC).isoformat()}\n")

        record("start")
        time.sleep(seconds)
        record("end")
