#!/usr/bin/env bash
# Install and start what building and testing need on a Debian 12 host, when it is missing:
# Docker engine, Compose v2 and buildx (from Debian 13's packages), debootstrap, python3-venv, njs.
# Idempotent: every step checks first. Run as root (CI does); prints what it does.
set -euo pipefail

log() { printf 'host-deps: %s\n' "$*"; }
need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v docker >/dev/null 2>&1; then
  log "installing the Docker engine (docker.io)"
  apt_install docker.io
fi

if ! timeout 10 docker info >/dev/null 2>&1; then
  if command -v dockerd >/dev/null 2>&1; then
    log "starting dockerd"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  timeout 10 docker info >/dev/null 2>&1 || { echo "host-deps: the Docker daemon does not answer" >&2; exit 1; }
fi

# Debian 12 has no Compose v2 and no buildx; Debian 13's packages hold both as Go binaries that
# run here and against engine 20.10. Fetch the .deb with a one-off sources list for trixie that
# reuses this machine's own mirror (so no host name is written here) and install the plugin.
install_trixie_plugin() {  # install_trixie_plugin PACKAGE PLUGIN
  local package=$1 plugin=$2 mirror work
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { echo "host-deps: cannot find this machine's Debian mirror" >&2; exit 1; }
  work=$(mktemp -d); chmod 755 "$work"
  mkdir -p "$work/lists/partial"
  echo "deb $mirror trixie main" > "$work/trixie.list"
  local opts=(-o "Dir::Etc::sourcelist=$work/trixie.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" download "$package" >/dev/null)
  dpkg -x "$work"/"${package}"_*.deb "$work/x"
  install -D -m 0755 "$work/x/usr/libexec/docker/cli-plugins/$plugin" "/usr/local/lib/docker/cli-plugins/$plugin"
  rm -rf "$work"
}

if ! docker compose version >/dev/null 2>&1; then
  log "installing Compose v2 from Debian 13's docker-compose package"
  install_trixie_plugin docker-compose docker-compose
fi
if ! docker buildx version >/dev/null 2>&1; then
  log "installing buildx (BuildKit builds) from Debian 13's docker-buildx package"
  install_trixie_plugin docker-buildx docker-buildx
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt_install debootstrap
fi

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  log "installing python3-venv"
  apt_install python3-venv
fi

if ! command -v njs >/dev/null 2>&1; then
  log "installing njs (the lb's JavaScript engine, for its unit tests)"
  apt_install njs
fi

if ! command -v openssl >/dev/null 2>&1; then
  log "installing openssl"
  apt_install openssl
fi
# The three-engine cluster on this machine (cluster/cluster.sh): namespaces, bridge, firewall.
for tool in ip:iproute2 nsenter:util-linux iptables:iptables curl:curl findmnt:util-linux; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    log "installing ${tool#*:} (for the test cluster)"
    apt_install "${tool#*:}"
  fi
done
log "ready: $(docker compose version), buildx $(docker buildx version | cut -d" " -f2)"
