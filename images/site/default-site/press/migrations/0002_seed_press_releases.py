import datetime

from django.db import migrations

SEED = [
    ("heic0001", "Hubble captures a stellar nursery", "A new mosaic shows thousands of young stars.", "2024-03-14"),
    (
        "heic0002",
        "A galaxy cluster bends light",
        "Gravitational lensing magnifies galaxies behind the cluster.",
        "2024-06-02",
    ),
    (
        "heic0003",
        "Ångström-scale optics for the next telescope",
        "UTF-8 survives every layer: café, Größe, 宇宙.",
        "2024-09-21",
    ),
]


def seed(apps, schema_editor):
    PressRelease = apps.get_model("press", "PressRelease")
    for slug, title, summary, published in SEED:
        PressRelease.objects.get_or_create(
            slug=slug,
            defaults={"title": title, "summary": summary, "published": datetime.date.fromisoformat(published)},
        )


def unseed(apps, schema_editor):
    apps.get_model("press", "PressRelease").objects.filter(slug__in=[row[0] for row in SEED]).delete()


class Migration(migrations.Migration):
    dependencies = [("press", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
