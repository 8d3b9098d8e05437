"""gunicorn settings chosen for draining behind nginx.

- gthread workers keep idle upstream keep-alive connections in a poller, not a thread, so
  nginx's upstream keepalive pool does not starve slow requests.
- keepalive (65 s) is longer than nginx's upstream keepalive_timeout (55 s): nginx always
  closes an idle connection first, so it never sends a request on a socket gunicorn is closing.
- graceful_timeout (25 s) is below the container's stop grace period (30 s): on SIGTERM the
  in-flight requests finish before Docker would SIGKILL.
- no max_requests: a worker recycled mid-switch is a needless source of resets.
- no control socket (gunicorn 27's `gunicornc` interface): nothing manages gunicorn from
  inside the container, and the root filesystem is read-only anyway.
"""

import os

bind = "0.0.0.0:8000"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
keepalive = 65
graceful_timeout = 25
timeout = 60
max_requests = 0
control_socket_disable = True
worker_tmp_dir = "/dev/shm"
forwarded_allow_ips = "*"
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
proc_name = "site-" + os.environ.get("SWITCHER_COLOR", "app")
