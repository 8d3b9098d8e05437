#!/usr/bin/env bash
# Build every image of one release: base, site, lb, db, memcached, broker, acme, tagged PREFIX/NAME:RELEASE.
# Called by `make build`; the variables below come from the Makefile.
set -euo pipefail
: "${RELEASE:?}" "${IMAGE_PREFIX:?}" "${SITE:?}" "${SITE_SETTINGS:?}" "${HOST_PYTHON:=python3}"
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
# Its Python: PYTHON=3.13 (`make build PYTHON=…`), else what the site asks for in
# .python-version or runtime.txt when this platform has it, else Debian 12's 3.11.
available="3.11 (Debian 12), 3.13 (Debian 13)"
asked="" asked_by=""
if [ -f "$SITE/.python-version" ]; then
  asked=$(head -n 1 "$SITE/.python-version" | tr -d ' \r') asked_by=.python-version
elif [ -f "$SITE/runtime.txt" ]; then
  asked=$(head -n 1 "$SITE/runtime.txt" | tr -d ' \r' | sed 's/^python-//') asked_by=runtime.txt
fi
asked_minor=$(grep -oE '^[0-9]+\.[0-9]+' <<<"$asked" || true)
site_python=${PYTHON:-}
if [ -z "$site_python" ] && [ -n "$asked" ]; then
  case "$asked_minor" in
    3.11|3.13) site_python=$asked_minor; echo "build: Python $site_python, as the site's $asked_by asks" ;;
    3.[0-9]|3.10)  # older than any we have: the oldest we have is the nearest
      site_python=3.11; echo "build: the site's $asked_by asks for Python ${asked:0:40}; building on 3.11, the oldest available" ;;
    *) echo "build: error: the site asks for Python ${asked:0:40} ($asked_by); available: $available (PYTHON=3.13 builds on another)" >&2
       exit 2 ;;
  esac
fi
site_python=${site_python:-3.11}
case "$site_python" in
  3.11) suite=bookworm ;;
  3.13) suite=trixie ;;
  *) echo "build: error: PYTHON=${site_python:0:40} is not available; available: $available" >&2; exit 2 ;;
esac
export SITE_PYTHON=$site_python
# The processes it declares (Procfile: worker:, beat:), checked before anything is built.
processes=$("$HOST_PYTHON" scripts/procfile.py "$SITE")
# Its Debian packages (Aptfile): -dev ones for compiling only, the others in the image.
"$HOST_PYTHON" scripts/aptfile.py "$SITE" "$build_dir/apt"
# The site's packages as wheels on this host (the site's pins decide; see the script), before
# any image is built, so a bad pin stops the build with one line and nothing half-built.
wheelhouse=$("$HOST_PYTHON" scripts/wheelhouse.py "$SITE" "$build_dir/wheelhouse")

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
meta=(--build-arg "RELEASE=$RELEASE" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")
base="$IMAGE_PREFIX/base:$RELEASE"

build() {  # build NAME CONTEXT [docker build args...]
  local name=$1 context=$2; shift 2
  local started=$SECONDS log="$build_dir/build-$name.log"
  mkdir -p "$build_dir"
  # The whole output goes to the log (shown with VERBOSE=1), so a failing step can be named.
  if ! docker build --progress=plain "${meta[@]}" --build-arg "BASE=${BUILD_BASE:-$base}" \
      -t "$IMAGE_PREFIX/$name:$RELEASE" "$@" "$context" >/dev/null 2>"$log"; then
    [ "${VERBOSE:-0}" != 1 ] || cat "$log" >&2
    # One line: the step's own complaint when there is one (pip check, a compiler), the
    # builder's last line otherwise; the whole output stays in the log.
    local why
    local pattern
    for pattern in 'fatal error|which is not installed|has requirement|E: ' 'error: '; do
      why=$(grep -E "$pattern" "$log" | grep -v -e 'failed to solve' -e 'subprocess-exited-with-error' \
              | head -n 1 | sed -E 's/^#[0-9]+ [0-9.]+ +//; s/^ *[0-9.]+ +//')
      [ -z "$why" ] || break
    done
    [ -n "$why" ] || why=$(grep -v -e '^$' -e 'legacy builder' "$log" | tail -n 1)
    echo "build: error: the $name image did not build: ${why:0:300} (whole output: $log)" >&2
    docker image rm "$base" >/dev/null 2>&1 || true  # untag: nothing of this release is left
    exit 1
  fi
  [ "${VERBOSE:-0}" != 1 ] || cat "$log" >&2
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
build_base() {  # build_base SUITE TAG... : the project's base on that Debian release
  local suite=$1 started=$SECONDS; shift
  local tags=()
  for tag in "$@"; do tags+=(-t "$tag"); done
  docker build -q "${refresh[@]}" --build-arg "DEBIAN=debian:$suite-slim" "${tags[@]}" images/base \
    2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'go/buildx' -e '^$' >&2) >/dev/null
  printf 'build: %-24s %3ds\n' "$1 ($suite)" $((SECONDS - started))
}
build_base bookworm "$base" "$IMAGE_PREFIX/base:bookworm"
# The site's own base when its Python is not Debian 12's: the same base on that Debian release.
site_base=$base
if [ "$suite" != bookworm ]; then
  SUITE=$suite images/base/ensure-debian.sh "debian:$suite-slim"
  site_base="$IMAGE_PREFIX/base:$suite"
  build_base "$suite" "$site_base"
fi

# The site's context: platform runtime, the lock of its packages, the wheelhouse and the site.
ctx="$build_dir/site-context"
rm -rf "$ctx"
mkdir -p "$ctx/requirements" "$ctx/site"
cp -a images/site/Dockerfile "$ctx/"
cp -a images/site/runtime "$ctx/runtime"
cp -al "$wheelhouse" "$ctx/wheels" 2>/dev/null || cp -a "$wheelhouse" "$ctx/wheels"
mv "$ctx/wheels/lock.txt" "$ctx/requirements/lock.txt"
rm -f "$ctx/wheels/versions.txt"
# Packages without wheels: their sources and the wheels that build them (the compile stage).
mkdir -p "$ctx/wheels/sdists" "$ctx/wheels/build-wheels"
mv "$ctx/wheels/sdists" "$ctx/sdists"
mv "$ctx/wheels/build-wheels" "$ctx/build-wheels"
cp "$build_dir/apt/apt-build.txt" "$build_dir/apt/apt-runtime.txt" "$ctx/requirements/"
tar -C "$SITE" --exclude=__pycache__ --exclude='*.pyc' --exclude=staticfiles --exclude=.git \
  -cf - . | tar -C "$ctx/site" -xf -
BUILD_BASE=$site_base build site "$ctx" --build-arg "SETTINGS_MODULE=$SITE_SETTINGS" --label "io.switcher.processes=$processes"
[ -z "$processes" ] || echo "build: processes from the Procfile: $processes (and the broker they need)"
# What the platform's settings layer changed in the site's settings (docs/site-contract.md).
docker run --rm --network none --entrypoint cat "$IMAGE_PREFIX/site:$RELEASE" \
  /opt/switcher-runtime/settings-report.txt | sed 's/^settings:/build: settings:/'

build lb nginx -f images/lb/Dockerfile
build db images/db
build memcached images/memcached
build broker images/broker
# The acme image installs certificates with the lb's own tls-install.
acme_ctx="$build_dir/acme-context"
rm -rf "$acme_ctx"
mkdir -p "$acme_ctx"
cp -a images/acme/. nginx/tls-install.sh "$acme_ctx/"
build acme "$acme_ctx"
