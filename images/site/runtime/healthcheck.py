"""Docker HEALTHCHECK: GET /healthz on the local gunicorn with the site's real Host header.

Healthy means HTTP 200 (the database answers); a memcached outage is "degraded" and still 200.
"""

import os
import sys
import urllib.error
import urllib.request

host = os.environ.get("SITE_HOSTS", "localhost").split(",")[0].strip() or "localhost"
request = urllib.request.Request(
    "http://127.0.0.1:8000/healthz",
    headers={"Host": host, "X-Forwarded-Proto": "https"},
)
try:
    with urllib.request.urlopen(request, timeout=3) as response:
        print(response.read(300).decode("utf-8", "replace"))
        sys.exit(0 if response.status == 200 else 1)
except urllib.error.HTTPError as error:
    print(f"HTTP {error.code}: {error.read(300).decode('utf-8', 'replace')}")
except OSError as error:
    print(f"unreachable: {error}")
sys.exit(1)
