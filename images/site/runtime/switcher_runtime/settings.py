"""The settings module every container of a site runs with (DJANGO_SETTINGS_MODULE): the
site's own module (SWITCHER_SITE_SETTINGS, chosen at build or by the environment's
SETTINGS_MODULE), then the platform's layer over it (switcher_runtime.layer).

`overrides` lists what the layer changed; `make build` prints it.
"""

import importlib
import os
import sys

import django

from switcher_runtime import layer

_name = os.environ.get("SWITCHER_SITE_SETTINGS", "")
if not _name:
    sys.exit("settings: SWITCHER_SITE_SETTINGS is not set (the site's settings module)")
_site = importlib.import_module(_name)
for _key in dir(_site):
    if _key.isupper():
        globals()[_key] = getattr(_site, _key)
try:
    _result = layer.overlay(
        {key: value for key, value in globals().items() if key.isupper()},
        os.environ,
        django_version=django.VERSION,
        is_manifest=layer.is_manifest_storage,
    )
except layer.LayerError as error:
    sys.exit(f"settings: {error}")
globals().update(_result.values)
for _key in _result.removed:
    globals().pop(_key, None)
overrides = _result.changes
kept = _result.kept
site_module = _name
