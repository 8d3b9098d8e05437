"""Prints what the platform's settings layer changed in the site's settings (`make build`)."""

from switcher_runtime import settings

print(f"settings: {settings.site_module} with the platform's layer over it")
for line in settings.overrides:
    print(f"settings:   {line}")
if not settings.overrides:
    print("settings:   nothing to change")
if settings.kept:
    print(f"settings:   kept as the site sets them (SETTINGS_KEEP): {', '.join(settings.kept)}")
