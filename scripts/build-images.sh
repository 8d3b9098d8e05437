#!/usr/bin/env bash
# Build every image of one release: base, site, lb, db, memcached, tagged PREFIX/NAME:RELEASE.
# Called by `make build`; the variables below come from the Makefile.
set -euo pipefail
: "${RELEASE:?}" "${IMAGE_PREFIX:?}" "${SITE:?}" "${SITE_SETTINGS:?}" "${PYTHON:=python3}"
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build_dir=${BUILD_DIR:-build}

if ! [[ "$RELEASE" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "build: '$RELEASE' is not a valid release id (letters, digits, _ . -)" >&2
  exit 2
fi
[ -f "$SITE/manage.py" ] || { echo "build: error: $SITE has no manage.py; SITE must be a Django project" >&2; exit 2; }
settings_path=${SITE_SETTINGS//./\/}
if ! [[ "$SITE_SETTINGS" =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$ ]] \
   || { [ ! -f "$SITE/$settings_path.py" ] && [ ! -f "$SITE/$settings_path/__init__.py" ]; }; then
  echo "build: error: SITE_SETTINGS=$SITE_SETTINGS is not a settings module of $SITE (no $settings_path.py)" >&2
  exit 2
fi
# The site's packages as wheels on this host (the site's pins decide; see the script), before
# any image is built, so a bad pin stops the build with one line and nothing half-built.
wheelhouse=$("$PYTHON" scripts/wheelhouse.py "$SITE" "$build_dir/wheelhouse")

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
meta=(--build-arg "RELEASE=$RELEASE" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")
base="$IMAGE_PREFIX/base:$RELEASE"
quiet=()
[ "${VERBOSE:-0}" = 1 ] || quiet=(-q)

build() {  # build NAME CONTEXT [docker build args...]
  local name=$1 context=$2; shift 2
  local started=$SECONDS
  # (the legacy builder's deprecation notice is dropped; everything else is shown)
  docker build "${quiet[@]}" "${meta[@]}" --build-arg "BASE=$base" \
    -t "$IMAGE_PREFIX/$name:$RELEASE" "$@" "$context" \
    2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'go/buildx' -e '^$' >&2) >/dev/null
  printf 'build: %-24s %3ds\n' "$IMAGE_PREFIX/$name:$RELEASE" $((SECONDS - started))
}

images/base/ensure-debian.sh debian:bookworm-slim
# The base has no per-build metadata (see its Dockerfile), so rebuilding it is a cache hit
# and every later image reuses its layers; it is tagged with the release all the same.
# REFRESH=1: upgrade the base's packages now (security updates); everything above rebuilds.
refresh=()
if [ "${REFRESH:-0}" = 1 ]; then
  refresh=(--build-arg "APT_REFRESH=$(date -u +%Y%m%dT%H%M%SZ)")
  echo "build: REFRESH=1: upgrading the base's packages; every image is rebuilt on it"
fi
started=$SECONDS
docker build -q "${refresh[@]}" -t "$IMAGE_PREFIX/base:bookworm" -t "$base" images/base \
  2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'go/buildx' -e '^$' >&2) >/dev/null
printf 'build: %-24s %3ds\n' "$base" $((SECONDS - started))

# The site's context: platform runtime, the lock of its packages, the wheelhouse and the site.
ctx="$build_dir/site-context"
rm -rf "$ctx"
mkdir -p "$ctx/requirements" "$ctx/site"
cp -a images/site/Dockerfile "$ctx/"
cp -a images/site/runtime "$ctx/runtime"
cp -al "$wheelhouse" "$ctx/wheels" 2>/dev/null || cp -a "$wheelhouse" "$ctx/wheels"
mv "$ctx/wheels/lock.txt" "$ctx/requirements/lock.txt"
rm -f "$ctx/wheels/versions.txt"
tar -C "$SITE" --exclude=__pycache__ --exclude='*.pyc' --exclude=staticfiles --exclude=.git \
  -cf - . | tar -C "$ctx/site" -xf -
build site "$ctx" --build-arg "SETTINGS_MODULE=$SITE_SETTINGS"
# What the platform's settings layer changed in the site's settings (docs/site-contract.md).
docker run --rm --network none --entrypoint cat "$IMAGE_PREFIX/site:$RELEASE" \
  /opt/switcher-runtime/settings-report.txt | sed 's/^settings:/build: settings:/'

build lb nginx -f images/lb/Dockerfile
build db images/db
build memcached images/memcached
