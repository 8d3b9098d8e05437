"""The platform's settings layer over a site's own settings (images/site/runtime/switcher_runtime/layer.py):
what a `startproject` site's settings become, what a site that already fits keeps, and opt-outs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from switcher.config import SETTINGS_LAYER

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("layer", ROOT / "images/site/runtime/switcher_runtime/layer.py")
layer = importlib.util.module_from_spec(_spec)
sys.modules["layer"] = layer
_spec.loader.exec_module(layer)

ENV = {
    "DJANGO_SECRET_KEY": "s3cret-from-the-store",
    "SITE_HOSTS": "www.example.org,example.org",
    "SITE_HTTPS_PORT": "443",
    "SITE_PREVIEW_PORT": "8443",
    "DB_NAME": "site",
    "DB_USER": "site",
    "DB_PASSWORD": "pw",
    "DB_HOST": "/run/postgresql",
    "MEDIA_ROOT": "/var/lib/site/media",
    "MEDIA_URL": "/media/",
    "STATIC_ROOT": "/app/staticfiles",
    "MEMCACHED_LOCATION": "unix:/run/memcached/memcached.sock",
    "SWITCHER_RELEASE": "r42",
}
# What `django-admin startproject` writes (Django 5.1), less what does not matter here.
STARTPROJECT = {
    "SECRET_KEY": "django-insecure-abc",
    "DEBUG": True,
    "ALLOWED_HOSTS": [],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/app/db.sqlite3"}},
    "STATIC_URL": "static/",
}
MANIFESTS = {
    "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    "whitenoise.storage.CompressedManifestStaticFilesStorage",
}


def run(site, env=None, version=(5, 1)):
    return layer.overlay(site, env or ENV, django_version=version, is_manifest=MANIFESTS.__contains__)


def test_a_startproject_site_gets_what_the_stack_needs():
    out = run(STARTPROJECT)
    values = out.values
    assert values["DEBUG"] is False and values["SECRET_KEY"] == "s3cret-from-the-store"
    assert values["ALLOWED_HOSTS"] == ["www.example.org", "example.org"]
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://www.example.org",
        "https://www.example.org:8443",
        "https://example.org",
        "https://example.org:8443",
    ]
    db = values["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "django.db.backends.postgresql",
        "/run/postgresql",
        "site",
        "site",
        "pw",
    )
    assert values["STORAGES"]["staticfiles"]["BACKEND"].endswith("ManifestStaticFilesStorage")
    assert values["STORAGES"]["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert values["CACHES"]["default"]["VERSION"] == "r42"
    assert values["LOGGING"]["root"]["handlers"] == ["stdout"]
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["STATIC_URL"] == "/static/" and not any(c.startswith("STATIC_URL") for c in out.changes)
    report = "\n".join(out.changes)
    for line in (
        "DATABASES: sqlite3 → postgresql",
        "DEBUG: True → False",
        "ALLOWED_HOSTS: [] → ['www.example.org', 'example.org']",
        "SECRET_KEY: the site's → the environment's",
        "STORAGES: staticfiles StaticFilesStorage → staticfiles ManifestStaticFilesStorage",
        "CACHES: LocMemCache → PyMemcacheCache",
        "LOGGING: Django's default (errors by mail only) → stdout",
    ):
        assert line in report, report
    assert "s3cret" not in report and "pw" not in report.split("PASSWORD")[0], "no secret in the report"


def test_the_public_port_is_in_the_csrf_origins_when_it_is_not_443():
    out = run(STARTPROJECT, {**ENV, "SITE_HOSTS": "localhost,::1", "SITE_HTTPS_PORT": "8444"})
    assert out.values["CSRF_TRUSTED_ORIGINS"][:2] == ["https://localhost:8444", "https://localhost:8443"]
    assert "https://[::1]:8444" in out.values["CSRF_TRUSTED_ORIGINS"]


def test_a_site_that_already_fits_keeps_its_choices_and_nothing_is_reported():
    site = {
        "SECRET_KEY": ENV["DJANGO_SECRET_KEY"],
        "DEBUG": False,
        "ALLOWED_HOSTS": ["www.example.org", "example.org"],
        "CSRF_TRUSTED_ORIGINS": [
            "https://partner.example.net",
            "https://www.example.org",
            "https://www.example.org:8443",
            "https://example.org",
            "https://example.org:8443",
        ],
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "site",
                "HOST": "/run/postgresql",
                "CONN_MAX_AGE": 60,
                "CONN_HEALTH_CHECKS": True,
                "OPTIONS": {"sslmode": "disable"},
            },
            "archive": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/var/lib/site/state/a.db"},
        },
        "STATIC_ROOT": "/app/staticfiles",
        "STATIC_URL": "/static/",
        "MEDIA_ROOT": "/var/lib/site/media",
        "MEDIA_URL": "/media/",
        "STORAGES": {
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"bucket_name": "b"}},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                "LOCATION": ENV["MEMCACHED_LOCATION"],
                "VERSION": "r42",
                "KEY_PREFIX": "mine",
            }
        },
        "LOGGING": {
            "version": 1,
            "handlers": {"f": {"class": "logging.FileHandler", "filename": "/var/lib/site/logs/a.log"}},
        },
    }
    out = run(site)
    assert out.changes == []
    assert out.values["CSRF_TRUSTED_ORIGINS"][0] == "https://partner.example.net"
    assert out.values["DATABASES"]["default"]["CONN_MAX_AGE"] == 60
    assert out.values["DATABASES"]["default"]["OPTIONS"]["sslmode"] == "disable"
    assert out.values["DATABASES"]["archive"] == site["DATABASES"]["archive"], "other aliases are the site's"
    assert out.values["STORAGES"]["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert out.values["CACHES"]["default"]["KEY_PREFIX"] == "mine"
    assert out.values["LOGGING"] is site["LOGGING"]


def test_settings_keep_leaves_a_setting_as_the_site_set_it():
    out = run(STARTPROJECT, {**ENV, "SETTINGS_KEEP": "LOGGING,CACHES"})
    assert "LOGGING" not in out.values and "CACHES" not in out.values
    assert out.kept == ["LOGGING", "CACHES"]
    with pytest.raises(layer.LayerError, match="SETTINGS_KEEP names DEBUGG"):
        run(STARTPROJECT, {**ENV, "SETTINGS_KEEP": "DEBUGG"})


def test_debug_is_on_only_when_the_environment_says_so():
    assert run(STARTPROJECT, {**ENV, "DJANGO_DEBUG": "1"}).values["DEBUG"] is True
    assert run({**STARTPROJECT, "DEBUG": True}, {**ENV, "DJANGO_DEBUG": "true"}).values["DEBUG"] is False


def test_legacy_storage_settings_fold_into_storages_and_are_removed():
    site = {**STARTPROJECT, "STATICFILES_STORAGE": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    out = run(site, version=(4, 2))
    assert out.values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert out.removed == ["STATICFILES_STORAGE"], "Django refuses both"
    old = run(STARTPROJECT, version=(4, 1))
    assert old.values["STATICFILES_STORAGE"] == layer.MANIFEST_STORAGE and "STORAGES" not in old.values


def test_file_handlers_into_the_read_only_image_log_to_stdout_instead():
    site = {
        **STARTPROJECT,
        "LOGGING": {
            "version": 1,
            "handlers": {
                "file": {"class": "logging.FileHandler", "filename": "/app/logs/debug.log", "level": "DEBUG"},
                "kept": {"class": "logging.FileHandler", "filename": "/var/lib/site/logs/site.log"},
            },
        },
    }
    out = run(site)
    handlers = out.values["LOGGING"]["handlers"]
    assert handlers["file"] == {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "level": "DEBUG"}
    assert handlers["kept"] == site["LOGGING"]["handlers"]["kept"]
    assert "LOGGING: file handler file in the image → stdout" in out.changes


def test_sessions_in_the_default_cache_survive_a_promote():
    out = run({**STARTPROJECT, "SESSION_ENGINE": "django.contrib.sessions.backends.cache"})
    assert out.values["SESSION_CACHE_ALIAS"] == "switcher-sessions"
    assert "VERSION" not in out.values["CACHES"]["switcher-sessions"]


def test_the_layer_and_the_env_file_know_the_same_settings():
    assert layer.OWNED == SETTINGS_LAYER


def test_a_celery_site_gets_the_stacks_broker_and_a_writable_beat_schedule():
    env = {**ENV, "CELERY_BROKER_URL": "redis+socket:///run/redis/redis.sock"}
    site = {**STARTPROJECT, "CELERY_BROKER_URL": "redis://localhost:6379/0"}
    values = run(site, env).values
    assert values["CELERY_BROKER_URL"] == "redis+socket:///run/redis/redis.sock"
    assert values["CELERY_BEAT_SCHEDULE_FILENAME"].startswith("/var/lib/site/state/")
    assert "CELERY_BROKER_URL" not in run(STARTPROJECT, env).values, "only for sites that configure Celery"


def test_persistent_connections_are_checked_before_reuse():
    site = {**STARTPROJECT, "DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 60}}}
    out = run(site)
    assert out.values["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True
    assert any("CONN_HEALTH_CHECKS False → True" in change for change in out.changes)
    kept = {"default": {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}}
    assert run({**STARTPROJECT, "DATABASES": kept}).values["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True
    assert "CONN_HEALTH_CHECKS" not in run(STARTPROJECT).values["DATABASES"]["default"], "no persistent connections"
