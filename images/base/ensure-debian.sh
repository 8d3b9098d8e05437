#!/usr/bin/env bash
# Make sure the image debian:bookworm-slim exists locally. Try the registry first, so a user
# with one gets the official image; where nothing can be pulled, bootstrap a faithful
# equivalent with debootstrap (the official image is made the same way) and import it.
set -euo pipefail
image=${1:-debian:bookworm-slim}
suite=${SUITE:-bookworm}

if docker image inspect "$image" >/dev/null 2>&1; then
  # A base bootstrapped here by an older version of this script has no security suite: make it
  # again (once), so the images get security updates.
  # REFRESH=1: a pulled base is pulled again; a bootstrapped one is bootstrapped again, so the
  # base's upgrade layer (images/base/Dockerfile) holds only what changed since then.
  comment=$(docker image inspect -f '{{.Comment}}' "$image" 2>/dev/null || true)
  if [[ "$comment" != debootstrap* ]]; then
    if [ "${REFRESH:-0}" = 1 ] && timeout 120 docker pull -q "$image" >/dev/null 2>&1; then
      echo "base: pulled $image again"
    fi
    exit 0
  fi
  if [ "${REFRESH:-0}" != 1 ] \
     && docker run --rm --network none "$image" grep -rqs -- "-security" /etc/apt/sources.list /etc/apt/sources.list.d; then
    exit 0
  fi
  if [ "${REFRESH:-0}" = 1 ]; then
    echo "base: REFRESH=1: bootstrapping $image again"
  else
    echo "base: $image was bootstrapped without security updates; making it again"
  fi
  docker image rm "$image" >/dev/null
fi
if timeout 120 docker pull -q "$image" >/dev/null 2>&1; then
  echo "base: pulled $image"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  echo "base: cannot pull $image and debootstrap is missing (run scripts/host-deps.sh as root)" >&2
  exit 1
}
# This machine's own Debian mirrors (so no host name is written into the project): the archive
# and the security archive, read from its apt sources (deb822 or one-line format).
host_uri() {  # host_uri security|archive
  local want=$1
  {
    awk '/^URIs:/ {uri=$2} /^Suites:/ {print uri, $0}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    awk '$1 == "deb" {print $2, "Suites:", $3}' /etc/apt/sources.list 2>/dev/null
  } | while read -r uri _ suites; do
    case "$want:$suites" in
      security:*-security*) echo "$uri"; break ;;
      archive:*-security*) ;;
      archive:*) echo "$uri"; break ;;
    esac
  done | head -n 1
}
mirror=$(host_uri archive || true)
security=$(host_uri security || true)
echo "base: no registry; bootstrapping $image with debootstrap (about half a minute)"
rootfs=$(mktemp -d /tmp/switcher-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase "$suite" "$rootfs" ${mirror:+"$mirror"} >"$rootfs.log" 2>&1 || {
  echo "base: debootstrap failed; last lines of $rootfs.log:" >&2
  tail -5 "$rootfs.log" >&2
  exit 1
}
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# Slim it the way the official -slim variant is made (debuerreotype's slimify): keep no docs,
# manuals or translations, now and for every package installed later.
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
SLIM
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian,locale,man}/*
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  > "$rootfs/etc/apt/apt.conf.d/90-no-recommends"
# Like the official image: the release, its updates and its security updates (debootstrap
# writes only the release). The base's Dockerfile upgrades from them at build time.
mirror=${mirror:-$(awk '$1 == "deb" {print $2; exit}' "$rootfs/etc/apt/sources.list")}
rm -f "$rootfs/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' \
    "$mirror" "$suite" "$suite" /usr/share/keyrings/debian-archive-keyring.gpg
  if [ -n "$security" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' \
      "$security" "$suite" /usr/share/keyrings/debian-archive-keyring.gpg
  else
    echo "base: warning: this machine's apt sources name no security archive; the base gets no security updates" >&2
  fi
} > "$rootfs/etc/apt/sources.list.d/debian.sources"
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' \
  -m "debootstrap --variant=minbase $suite" - "$image" >/dev/null
echo "base: imported $image"
