#!/bin/sh
# acme-issue renew|force: a certificate for ACME_NAMES from ACME_DIRECTORY with lego, answering
# HTTP-01 through the webroot /srv/acme (the lb serves /.well-known/acme-challenge/ from it on
# port 80). renew asks only when the certificate is missing or expires within 30 days; force
# asks anyway. The account and certificates stay in /var/lib/acme (the acme volume, 0700).
# Prints "acme: issued", "acme: renewed" or "acme: not due" last.
set -eu
action=${1:-renew}
: "${ACME_EMAIL:?}" "${ACME_DIRECTORY:?}" "${ACME_NAMES:?}"
umask 077
state=/var/lib/acme
chmod 0700 "$state"
# The root the directory's HTTPS certificate chains to (ACME_CA_ROOT), from switcher on stdin.
if [ "${ACME_CA_ROOT_FROM_STDIN:-0}" = 1 ]; then
  cat > "$state/ca-root.pem"
  export LEGO_CA_CERTIFICATES="$state/ca-root.pem"
else
  rm -f "$state/ca-root.pem"
fi
first=${ACME_NAMES%%,*}
domains=""
for name in $(echo "$ACME_NAMES" | tr ',' ' '); do domains="$domains --domains $name"; done
crt="$state/certificates/$(echo "$first" | sed 's/\*/_/').crt"
before=$(sha256sum "$crt" 2>/dev/null | cut -c1-64 || true)
# shellcheck disable=SC2086
set -- --accept-tos --email "$ACME_EMAIL" --server "$ACME_DIRECTORY" --path "$state" \
  --http --http.webroot /srv/acme --key-type rsa2048 $domains
umask 022  # challenge files must be readable by the lb's workers
case "$action" in
  force) lego "$@" run ;;
  renew) if [ -f "$crt" ]; then lego "$@" renew --days 30; else lego "$@" run; fi ;;
  *) echo "acme-issue: renew or force, not $action" >&2; exit 2 ;;
esac
after=$(sha256sum "$crt" | cut -c1-64)
if [ -z "$before" ]; then echo "acme: issued $crt"
elif [ "$before" != "$after" ]; then echo "acme: renewed $crt"
else echo "acme: not due $crt"; fi
