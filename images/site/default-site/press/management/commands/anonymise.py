"""What `DB_REPLACE_HOOK=anonymise` runs after production's data is copied onto integration
(`switcher db replace --from production`): personal data out, the archive itself kept."""

from django.core.management.base import BaseCommand

from press.models import PressRelease


class Command(BaseCommand):
    help = "Replace what may be personal in copied data (here: the summaries) with a placeholder."

    def add_arguments(self, parser):
        parser.add_argument("--placeholder", default="(anonymised)", help="The text put in its place.")

    def handle(self, *args, placeholder: str, **options):
        changed = PressRelease.objects.update(summary=placeholder)
        self.stdout.write(f"anonymised {changed} press releases")
