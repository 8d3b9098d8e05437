"""Environments: their settings (from compose/env/NAME.env over DEFAULTS) and derived values.

Pure: reads files, touches nothing else. Everything an environment can set is in DEFAULTS,
so a typo in an env file is an error rather than a silently ignored line.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from switcher.errors import ConfigError, NotFound

COLORS = ("blue", "green")
LIVE_FLAG_DIR = "/var/lib/switcher/live"
# The live colour is green exactly when this file exists in the lb-live volume (see nginx/).
LIVE_FLAG_NAME = "green"
LIVE_FLAG = f"{LIVE_FLAG_DIR}/{LIVE_FLAG_NAME}"
# The generation (ns) of the last switch an lb took; a cluster's lb follows newer commits only
# (nginx/lb-follow.sh).
FOLLOWED = f"{LIVE_FLAG_DIR}/followed"
# The same for maintenance on or off (nginx/lb-follow.sh, maintenance_mode.py).
MAINTENANCE_FOLLOWED = f"{LIVE_FLAG_DIR}/maintenance.followed"
# Present while an operator has stopped cron (`switcher cron stop`): promotes keep it stopped.
CRON_STOPPED_FLAG = f"{LIVE_FLAG_DIR}/cron-stopped"
RELEASE_LABEL = "org.opencontainers.image.version"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
COLOR_HOST_INDEX = {"blue": 11, "green": 12}

DEFAULTS: dict[str, str] = {
    "PROJECT": "",  # filled with switcher-ENV
    "IMAGE_PREFIX": "switcher",
    "SITE_HOSTS": "localhost,127.0.0.1",
    "BIND_ADDRESS": "127.0.0.1",
    "HTTP_PORT": "80",
    "HTTPS_PORT": "443",
    "PREVIEW_PORT": "8443",
    "SUBNET": "172.28.10.0/24",
    # How the lb gets its certificate: selfsigned (made here, renewed 30 days before it
    # expires), files (TLS_CERT/TLS_KEY, taken again by `switcher tls renew`), acme (issued and
    # renewed by an ACME CA, HTTP-01 on port 80); empty: files when TLS_CERT is set, else
    # selfsigned.
    "TLS_MODE": "",
    "ACME_EMAIL": "",  # the ACME account's contact (TLS_MODE=acme)
    "ACME_DIRECTORY": "https://acme-v02.api.letsencrypt.org/directory",  # a staging or private CA's URL
    "ACME_CA_ROOT": "",  # a PEM file: the root that the directory's own HTTPS certificate chains to
    # Names the certificate is for (comma-separated, each in SITE_HOSTS); empty: every name of
    # SITE_HOSTS that is not an IP address or localhost.
    "ACME_NAMES": "",
    # The acme service checks the certificate at start and then every ACME_CHECK_SECONDS (it
    # renews 30 days before expiry); a failed attempt is retried after ACME_RETRY_SECONDS,
    # doubling each time up to six hours.
    "ACME_CHECK_SECONDS": "86400",
    "ACME_RETRY_SECONDS": "300",
    "TLS_CERT": "",
    "TLS_KEY": "",
    "GUNICORN_WORKERS": "2",
    "GUNICORN_THREADS": "8",
    "DB_NAME": "site",
    "DB_USER": "site",
    "MEMCACHED_MEMORY_MB": "64",
    "DJANGO_DEBUG": "0",
    # Another settings module of the site for this environment (the old guide's
    # settings-production / settings-integration); empty: the one the image was built with.
    "SETTINGS_MODULE": "",
    # Settings the site keeps exactly as its own module sets them, over the platform's settings
    # layer (comma-separated names from SETTINGS_LAYER below; docs/site-contract.md).
    "SETTINGS_KEEP": "",
    "HEALTH_TIMEOUT": "120",
    "RETAIN_RELEASES": "3",  # releases whose static files are kept (the live and idle ones always)
    "CRON_STOP_TIMEOUT": "60",  # seconds a running cron job may take to finish at a handover
    # Seconds a worker (Procfile worker:, beat:) may take to finish its running tasks at a handover.
    "WORKER_STOP_TIMEOUT": "60",
    "BROKER_MEMORY_MB": "256",  # memory limit of the task broker (Redis), for sites with workers
    "BACKUP_RETAIN": "10",  # database backups kept (`switcher db backup`, deploy); the newest always
    # Seconds a deploy's migration may wait for a table lock (PostgreSQL lock_timeout) before it
    # fails the deploy: waiting longer would stall every live request queued behind it.
    "MIGRATE_LOCK_TIMEOUT": "5",
    # A manage.py command (with its arguments) run after `switcher db replace`, to anonymise
    # personal data; empty: none.
    "DB_REPLACE_HOOK": "",
    # Proxies in front of the lb whose X-Forwarded-For is believed (comma-separated addresses or
    # CIDR networks). Empty: the connection's own address is the client, whatever it sends.
    "TRUSTED_PROXIES": "",
    # Where the stack runs: compose (one Docker engine, the default) or swarm (a Docker Swarm
    # cluster: SWARM_MANAGER, a Docker endpoint or context name of a manager, and REGISTRY,
    # host[:port] of the registry its nodes pull releases from; `switcher push` fills it).
    # ENGINE=swarm: push, up, status, deploy, promote, rollback and down are built (docs/cluster.md).
    "ENGINE": "compose",
    "SWARM_MANAGER": "",
    "REGISTRY": "",
    "APP_REPLICAS": "2",  # ENGINE=swarm: tasks of each colour, spread over the nodes
    # ENGINE=swarm: tasks of the Procfile's worker (when it declares one), spread over the nodes.
    # One host runs one worker container (the Procfile's own concurrency sets its processes).
    "WORKER_REPLICAS": "1",
    # ENGINE=swarm: a directory that every node mounts from the same shared storage (NFS,
    # CephFS, …) at this path; the site's uploads, state files (orderid.txt) and configuration
    # files live in SHARED_DIR/PROJECT/media, /state and /config, so every task on every node
    # sees the same files.
    "SHARED_DIR": "",
    # Requests that change state (POST, PUT, PATCH, DELETE) per second per client address; a
    # burst of twice as many is allowed, beyond that the lb answers 429.
    "WRITE_RATE_LIMIT": "10",
    # Where the site's uploads (MEDIA_ROOT, the media volume) are served by the lb.
    "MEDIA_URL": "/media/",
    # Pages `deploy` checks through preview before a release may go live (comma-separated):
    # each must answer 2xx, or redirect within the site, from the new release.
    "SMOKE_PATHS": "/",
    "APP_MEMORY_MB": "1024",  # memory limit of each app colour, cron and one-off task container
    "DB_MEMORY_MB": "2048",
}
_ENV_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,50}")
_RELEASE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# RFC 1123 host names (a leading "*." for a wildcard certificate name), or IP addresses.
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MEDIA_URL = re.compile(r"/(?:(?!\.+/)[A-Za-z0-9_.-]+/)+")  # segments, none of dots only
_SMOKE_PATH = re.compile(r"/(?!/)[\x21-\x7e]{0,500}")  # one leading slash, printable ASCII, no spaces
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DIRECTORY = re.compile(r"https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]*)?")
_ENDPOINT = re.compile(
    r"unix:///[A-Za-z0-9._/-]{1,200}|tcp://[A-Za-z0-9.-]{1,253}:\d{1,5}|ssh://(?:[a-z_][a-z0-9_-]{0,31}@)?"
    r"[A-Za-z0-9.-]{1,253}(?::\d{1,5})?|[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
)
# An absolute path of plain segments (none starts with a dot, so no "..").
_SHARED_DIR = re.compile(r"(?:/[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}){1,20}")
_REGISTRY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::\d{1,5})?")
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}")
_HOOK_COMMAND = re.compile(r"[a-z_][a-z0-9_]{0,100}")
_HOOK_WORD = re.compile(r"[A-Za-z0-9_.,=:/@+-]{1,200}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# A Docker repository path, optionally behind a registry host[:port] (`registry:5000/team/app`).
_IMAGE_PREFIX = re.compile(
    r"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
)
_LINE = re.compile(r"([A-Z][A-Z0-9_]*)=(.*)")
# What the platform's settings layer sets over the site's settings (the same list as
# images/site/runtime/switcher_runtime/layer.py's OWNED; a unit test keeps them equal).
SETTINGS_LAYER = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "DATABASES",
    "STATIC_ROOT",
    "STATIC_URL",
    "MEDIA_ROOT",
    "MEDIA_URL",
    "STORAGES",
    "CACHES",
    "LOGGING",
    "CELERY_BROKER_URL",
    "CELERY_BEAT_SCHEDULE_FILENAME",
)


@dataclass(frozen=True)
class Paths:
    """Where the project's files are: the compose file, env files and local state."""

    root: Path
    env_dir: Path
    state_dir: Path

    @classmethod
    def discover(cls) -> Paths:
        root = Path(os.environ.get("SWITCHER_ROOT", Path(__file__).resolve().parent.parent))
        env_dir = Path(os.environ.get("SWITCHER_ENV_DIR", root / "compose" / "env"))
        state_dir = Path(os.environ.get("SWITCHER_STATE_DIR", root / ".switcher"))
        return cls(root=root, env_dir=env_dir, state_dir=state_dir)

    @property
    def compose_file(self) -> Path:
        return self.root / "compose" / "stack.yml"

    def env_state_dir(self, env: str) -> Path:
        return self.state_dir / env

    def available_envs(self) -> list[str]:
        return sorted(p.stem for p in self.env_dir.glob("*.env"))


@dataclass(frozen=True)
class Environment:
    """One environment's validated settings."""

    name: str
    settings: dict[str, str]
    tls_cert: Path | None
    tls_key: Path | None
    acme_ca_root: Path | None = None

    @property
    def project(self) -> str:
        return self.settings["PROJECT"]

    @property
    def image_prefix(self) -> str:
        return self.settings["IMAGE_PREFIX"]

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.settings["SUBNET"])

    def color_address(self, color: str) -> str:
        return str(self.subnet.network_address + COLOR_HOST_INDEX[color])

    @property
    def dynamic_range(self) -> str:
        """The upper half of the subnet, for containers without a fixed address."""
        return str(list(self.subnet.subnets(prefixlen_diff=1))[1])

    @property
    def site_hosts(self) -> list[str]:
        return split_list(self.settings["SITE_HOSTS"])

    @property
    def engine(self) -> str:
        return self.settings["ENGINE"]

    @property
    def registry(self) -> str:
        return self.settings["REGISTRY"]

    @property
    def tls_mode(self) -> str:
        return self.settings["TLS_MODE"]

    @property
    def acme_names(self) -> list[str]:
        return split_list(self.settings["ACME_NAMES"])

    @property
    def db_replace_hook(self) -> list[str]:
        return self.settings["DB_REPLACE_HOOK"].split()

    @property
    def smoke_paths(self) -> list[str]:
        return split_list(self.settings["SMOKE_PATHS"])

    @property
    def trusted_proxies(self) -> list[str]:
        return split_list(self.settings["TRUSTED_PROXIES"])

    @property
    def public_host(self) -> str:
        bind = self.settings["BIND_ADDRESS"]
        return "127.0.0.1" if bind in ("0.0.0.0", "") else bind

    @property
    def live_url(self) -> str:
        port = int(self.settings["HTTPS_PORT"])
        suffix = "" if port == 443 else f":{port}"
        return f"https://{self.public_host}{suffix}/"

    @property
    def preview_url(self) -> str:
        return f"https://127.0.0.1:{self.settings['PREVIEW_PORT']}/"


def parse_env_text(text: str, source: str) -> dict[str, str]:
    """KEY=VALUE lines, # comments and blank lines; optional matching quotes around a value."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if not match:
            raise ConfigError(f"{source} line {number}: expected KEY=VALUE, got {raw.strip()!r}")
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key in values:
            raise ConfigError(f"{source} line {number}: {key} is set twice")
        values[key] = value
    return values


def _check_port(settings: dict[str, str], key: str, source: str) -> None:
    value = settings[key]
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{source}: {key}={value!r} is not a port number (1-65535)")


def is_host_name(host: str) -> bool:
    """An IP address, or a DNS name of RFC 1123 labels (optionally `*.` first), at most 253 long."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[2:] if host.startswith("*.") else host
    labels = name.split(".")
    return 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels) and not name.isdigit()


def parse_networks(values: list[str], what: str) -> list[str]:
    """Addresses or CIDR networks (IPv4 or IPv6), normalised (`10.0.0.7` -> `10.0.0.7/32`).

    Anything else, an empty entry included, is a ConfigError naming it: an empty string must
    never turn into "everyone".
    """
    networks = []
    for raw in values:
        value = raw.strip()
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{what} {raw!r} is not an IP address or CIDR network (like 203.0.113.7 or 10.0.0.0/8)"
            ) from None
    return list(dict.fromkeys(networks))


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def validate(name: str, values: dict[str, str], source: str, root: Path) -> Environment:
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]} (known: {', '.join(sorted(DEFAULTS))})")
    settings = {**DEFAULTS, **values}
    if not settings["PROJECT"]:
        settings["PROJECT"] = f"switcher-{name}"
    if not _PROJECT_NAME.fullmatch(settings["PROJECT"]):
        raise ConfigError(f"{source}: PROJECT={settings['PROJECT']!r} is not a valid compose project name")
    if not _IMAGE_PREFIX.fullmatch(settings["IMAGE_PREFIX"]):
        raise ConfigError(f"{source}: IMAGE_PREFIX={settings['IMAGE_PREFIX']!r} is not a Docker repository path")
    if settings["SETTINGS_MODULE"] and not _MODULE.fullmatch(settings["SETTINGS_MODULE"]):
        raise ConfigError(f"{source}: SETTINGS_MODULE={settings['SETTINGS_MODULE']!r} is not a Python module path")
    if settings["DJANGO_DEBUG"] not in ("0", "1"):
        raise ConfigError(f"{source}: DJANGO_DEBUG={settings['DJANGO_DEBUG']!r} must be 0 or 1")
    if settings["DJANGO_DEBUG"] == "1" and name == "production":
        raise ConfigError(
            f"{source}: DJANGO_DEBUG=1 is refused in production (it shows settings and code to strangers)"
        )
    keep = split_list(settings["SETTINGS_KEEP"])
    for setting in keep:
        if setting not in SETTINGS_LAYER:
            raise ConfigError(
                f"{source}: SETTINGS_KEEP names {setting!r}, which the platform does not set "
                f"(it sets {', '.join(SETTINGS_LAYER)})"
            )
    settings["SETTINGS_KEEP"] = ",".join(dict.fromkeys(keep))
    for key in ("HTTP_PORT", "HTTPS_PORT", "PREVIEW_PORT"):
        _check_port(settings, key, source)
    ports = [settings[k] for k in ("HTTP_PORT", "HTTPS_PORT", "PREVIEW_PORT")]
    if len(set(ports)) != 3:
        raise ConfigError(f"{source}: HTTP_PORT, HTTPS_PORT and PREVIEW_PORT must differ")
    for key in (
        "GUNICORN_WORKERS",
        "GUNICORN_THREADS",
        "MEMCACHED_MEMORY_MB",
        "HEALTH_TIMEOUT",
        "RETAIN_RELEASES",
        "CRON_STOP_TIMEOUT",
        "WORKER_STOP_TIMEOUT",
        "BROKER_MEMORY_MB",
        "BACKUP_RETAIN",
        "MIGRATE_LOCK_TIMEOUT",
        "ACME_CHECK_SECONDS",
        "ACME_RETRY_SECONDS",
        "WRITE_RATE_LIMIT",
        "APP_MEMORY_MB",
        "DB_MEMORY_MB",
        "APP_REPLICAS",
        "WORKER_REPLICAS",
    ):
        if not (settings[key].isascii() and settings[key].isdigit()) or int(settings[key]) < 1:
            raise ConfigError(f"{source}: {key}={settings[key]!r} must be a positive whole number")
        settings[key] = str(int(settings[key]))  # "010" is 10 here, and no octal 8 in YAML
    try:
        ipaddress.IPv4Address(settings["BIND_ADDRESS"])
    except ValueError:
        raise ConfigError(f"{source}: BIND_ADDRESS={settings['BIND_ADDRESS']!r} is not an IPv4 address") from None
    try:
        subnet = ipaddress.IPv4Network(settings["SUBNET"])
    except ValueError:
        raise ConfigError(
            f"{source}: SUBNET={settings['SUBNET']!r} is not an IPv4 network like 172.28.10.0/24"
        ) from None
    if subnet.prefixlen > 27:
        raise ConfigError(f"{source}: SUBNET={settings['SUBNET']} is too small; use /27 or larger")
    hosts = split_list(settings["SITE_HOSTS"])
    if not hosts:
        raise ConfigError(f"{source}: SITE_HOSTS is empty")
    for host in hosts:
        if not is_host_name(host):
            raise ConfigError(f"{source}: SITE_HOSTS entry {host!r} is not a host name or IP address")
    settings["SITE_HOSTS"] = ",".join(hosts)
    trusted = parse_networks(split_list(settings["TRUSTED_PROXIES"]), f"{source}: TRUSTED_PROXIES entry")
    settings["TRUSTED_PROXIES"] = ",".join(trusted)
    if not _MEDIA_URL.fullmatch(settings["MEDIA_URL"]) or settings["MEDIA_URL"] in ("/", "/static/"):
        raise ConfigError(
            f"{source}: MEDIA_URL={settings['MEDIA_URL']!r} must be a path like /media/, not / or /static/"
        )
    smoke = split_list(settings["SMOKE_PATHS"])
    for path in smoke:
        if not _SMOKE_PATH.fullmatch(path):
            raise ConfigError(f"{source}: SMOKE_PATHS entry {path!r} is not a path on the site (like /catalog/)")
    if not smoke:
        raise ConfigError(f"{source}: SMOKE_PATHS is empty; the default is /")
    settings["SMOKE_PATHS"] = ",".join(smoke)
    hook = settings["DB_REPLACE_HOOK"].split()
    if hook and (not _HOOK_COMMAND.fullmatch(hook[0]) or not all(_HOOK_WORD.fullmatch(word) for word in hook)):
        raise ConfigError(
            f"{source}: DB_REPLACE_HOOK={settings['DB_REPLACE_HOOK']!r} must be a manage.py command and plain "
            "arguments (letters, digits and _ . , = : / @ + -), like `anonymise --keep-staff`"
        )
    for key in ("DB_NAME", "DB_USER"):
        if not _SQL_NAME.fullmatch(settings[key]):
            raise ConfigError(f"{source}: {key}={settings[key]!r} must be lower-case letters, digits and _")
    if settings["DB_USER"] == "postgres":
        raise ConfigError(f"{source}: DB_USER must not be the superuser postgres; the site gets its own role")
    cert, key = settings["TLS_CERT"], settings["TLS_KEY"]
    if bool(cert) != bool(key):
        raise ConfigError(f"{source}: set both TLS_CERT and TLS_KEY, or neither for a self-signed certificate")
    mode = settings["TLS_MODE"] or ("files" if cert else "selfsigned")
    if mode not in ("selfsigned", "files", "acme"):
        raise ConfigError(f"{source}: TLS_MODE={settings['TLS_MODE']!r} must be selfsigned, files or acme")
    if mode == "acme":
        _check_acme(settings, hosts, source)
    if (mode == "files") != bool(cert):
        raise ConfigError(
            f"{source}: TLS_MODE={mode} "
            + ("needs TLS_CERT and TLS_KEY" if cert == "" else "ignores TLS_CERT; unset it")
        )
    settings["TLS_MODE"] = mode
    _check_engine(settings, source)
    acme_root = (root / settings["ACME_CA_ROOT"]).resolve() if settings["ACME_CA_ROOT"] else None
    tls_cert = tls_key = None
    if cert:
        # Their existence is checked where they are read (`switcher up`), so that other commands
        # work from any checkout, with or without the certificate files.
        tls_cert, tls_key = (root / cert).resolve(), (root / key).resolve()
    return Environment(name=name, settings=settings, tls_cert=tls_cert, tls_key=tls_key, acme_ca_root=acme_root)


def _check_engine(settings: dict[str, str], source: str) -> None:
    engine = settings["ENGINE"]
    if engine not in ("compose", "swarm"):
        raise ConfigError(f"{source}: ENGINE={engine[:40]!r} must be compose or swarm")
    if engine == "compose":
        return
    for key, pattern, shape in (
        ("SWARM_MANAGER", _ENDPOINT, "a Docker endpoint (unix:///…, tcp://host:port, ssh://user@host) or context name"),
        ("REGISTRY", _REGISTRY, "host[:port] of a registry"),
        ("SHARED_DIR", _SHARED_DIR, "an absolute path that every node mounts from shared storage"),
    ):
        if not pattern.fullmatch(settings[key]):
            raise ConfigError(f"{source}: ENGINE=swarm needs {key}: {settings[key][:100]!r} is not {shape}")
    if settings["TLS_MODE"] == "acme":
        raise ConfigError(f"{source}: TLS_MODE=acme is not built for ENGINE=swarm yet (selfsigned or files)")
    for key in ("APP_REPLICAS", "WORKER_REPLICAS"):
        if int(settings[key]) > 50:  # a whole number by now
            raise ConfigError(f"{source}: {key}={settings[key]} is more than 50")


def _check_acme(settings: dict[str, str], hosts: list[str], source: str) -> None:
    """TLS_MODE=acme: a contact, an https directory, names that are the site's (ACME_NAMES is
    filled in from SITE_HOSTS when empty)."""
    if settings["TLS_CERT"]:
        raise ConfigError(f"{source}: TLS_MODE=acme ignores TLS_CERT; unset it")
    if not _EMAIL.fullmatch(settings["ACME_EMAIL"]):
        raise ConfigError(f"{source}: ACME_EMAIL={settings['ACME_EMAIL'][:80]!r} is not an email address")
    if not _DIRECTORY.fullmatch(settings["ACME_DIRECTORY"]):
        raise ConfigError(f"{source}: ACME_DIRECTORY={settings['ACME_DIRECTORY'][:100]!r} must be an https:// URL")
    names = split_list(settings["ACME_NAMES"]) or [
        host for host in hosts if host != "localhost" and not is_address(host) and not host.startswith("*.")
    ]
    outside = [name for name in names if name not in hosts]
    if outside:
        raise ConfigError(f"{source}: ACME_NAMES entry {outside[0]!r} is not in SITE_HOSTS")
    if not names:
        raise ConfigError(f"{source}: TLS_MODE=acme needs a DNS name in SITE_HOSTS (or ACME_NAMES)")
    bad = [name for name in names if name == "localhost" or is_address(name) or name.startswith("*.")]
    if bad:
        raise ConfigError(
            f"{source}: ACME_NAMES entry {bad[0]!r}: HTTP-01 certifies DNS names only (no address, no wildcard)"
        )
    settings["ACME_NAMES"] = ",".join(names)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def load_environment(name: str, paths: Paths) -> Environment:
    if not _ENV_NAME.fullmatch(name):
        raise NotFound(f"'{name}' is not a valid environment name")
    path = paths.env_dir / f"{name}.env"
    if not path.is_file():
        known = ", ".join(paths.available_envs()) or "none"
        raise NotFound(f"unknown environment '{name}' (no {path}; known: {known})")
    return validate(name, parse_env_text(path.read_text(), str(path)), str(path), paths.root)


def check_config_name(name: str) -> str:
    """A file name for the site's configuration directory (`switcher config put`): no path."""
    if not _CONFIG_NAME.fullmatch(name):
        raise ConfigError(f"'{name[:60]}' is not a plain file name (letters, digits, _ . -)")
    return name


def check_release(release: str) -> str:
    if not _RELEASE.fullmatch(release):
        raise NotFound(f"'{release}' is not a valid release id (letters, digits, _ . -)")
    return release


def other_color(color: str) -> str:
    if color not in COLORS:
        raise NotFound(f"unknown colour '{color}' (use blue or green)")
    return COLORS[1 - COLORS.index(color)]


def default_env_name(paths: Paths) -> str:
    """The environment `make up` last started here, else production."""
    if os.environ.get("SWITCHER_ENV"):
        return os.environ["SWITCHER_ENV"]
    marker = paths.state_dir / "current-env"
    if marker.is_file() and marker.read_text().strip():
        return marker.read_text().strip()
    return "production"


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`10m`, `2h`, `1d`, `30s`, or an ISO date and time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"(\d{1,6})([smhd])", value.strip())
    if match:
        seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"--since {value!r} is neither a duration like 10m, 2h, 1d nor a date like 2026-11-25T10:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
