"""The production settings plus test aids, for the project's own tests only
(SETTINGS_MODULE=pressroom.settings_test in a test environment's env file)."""

from pressroom.settings import *  # noqa: F403

ROOT_URLCONF = "pressroom.urls_test"
