"""The site's WSGI application, wrapped so every response says which release answered.

Done here rather than in the site's middleware so any Django site gets the header unchanged.
"""

import os

from django.core.wsgi import get_wsgi_application

RELEASE = os.environ.get("SWITCHER_RELEASE", "unknown")
_django_app = get_wsgi_application()


def application(environ, start_response):
    def start_with_release(status, headers, exc_info=None):
        headers.append(("X-Release", RELEASE))
        return start_response(status, headers, exc_info)

    return _django_app(environ, start_with_release)
