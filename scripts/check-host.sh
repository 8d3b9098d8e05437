#!/usr/bin/env bash
# For a non-root user: say what is missing instead of installing it.
set -u
missing=()
timeout 10 docker info >/dev/null 2>&1 || missing+=("a reachable Docker daemon")
docker compose version >/dev/null 2>&1 || missing+=("Compose v2 (docker compose)")
docker image inspect debian:bookworm-slim >/dev/null 2>&1 || command -v debootstrap >/dev/null 2>&1 \
  || missing+=("debootstrap (or a registry to pull debian:bookworm-slim from)")
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3-venv")
command -v njs >/dev/null 2>&1 || missing+=("njs (for the tests)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${missing[@]}" >&2
  echo "run 'sudo scripts/host-deps.sh' once to install them" >&2
  exit 1
fi
