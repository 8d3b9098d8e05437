#!/usr/bin/env bash
# Make sure the image debian:bookworm-slim exists locally. Try the registry first, so a user
# with one gets the official image; where nothing can be pulled, bootstrap a faithful
# equivalent with debootstrap (the official image is made the same way) and import it.
set -euo pipefail
image=${1:-debian:bookworm-slim}
suite=${SUITE:-bookworm}

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 120 docker pull -q "$image" >/dev/null 2>&1; then
  echo "base: pulled $image"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  echo "base: cannot pull $image and debootstrap is missing (run scripts/host-deps.sh as root)" >&2
  exit 1
}
echo "base: no registry; bootstrapping $image with debootstrap (about half a minute)"
rootfs=$(mktemp -d /tmp/switcher-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase "$suite" "$rootfs" >"$rootfs.log" 2>&1 || {
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
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' \
  -m "debootstrap --variant=minbase $suite" - "$image" >/dev/null
echo "base: imported $image"
