#!/bin/sh
# acme-issue renew|force: a certificate for ACME_NAMES from ACME_DIRECTORY with lego, answering
# HTTP-01 through the webroot /srv/acme (the lb serves /.well-known/acme-challenge/ from it on
# port 80). renew asks only when the certificate is missing or expires within 30 days; force
# asks anyway. The account and certificates stay in /var/lib/acme (the acme volume, 0700); one
# lego at a time (the one-off task of `switcher tls renew` and the acme service share the
# volume's lock). A certificate the lb does not serve yet is copied into the tls volume
# (/etc/nginx/tls) and installed there (tls-install: checked to be a pair; nginx loads it per
# handshake). Prints "acme: issued|renewed|not due NAME" and, when it installed one,
# "acme: installed SHA256" last.
set -eu
action=${1:-renew}
: "${ACME_EMAIL:?}" "${ACME_DIRECTORY:?}" "${ACME_NAMES:?}"
umask 077
state=/var/lib/acme tls=/etc/nginx/tls
chmod 0700 "$state"
exec 8>>"$state/.lock"
flock 8
# The root the directory's HTTPS certificate chains to (ACME_CA_ROOT, its PEM from switcher).
if [ -n "${ACME_CA_ROOT_PEM:-}" ]; then
  printf '%s\n' "$ACME_CA_ROOT_PEM" > "$state/ca-root.pem"
  export LEGO_CA_CERTIFICATES="$state/ca-root.pem"
else
  rm -f "$state/ca-root.pem"
fi
first=${ACME_NAMES%%,*}
domains=""
for name in $(echo "$ACME_NAMES" | tr ',' ' '); do domains="$domains --domains $name"; done
base="$state/certificates/$(echo "$first" | sed 's/\*/_/')"
crt="$base.crt" key="$base.key"
before=$(sha256sum "$crt" 2>/dev/null | cut -c1-64 || true)
# shellcheck disable=SC2086
set -- --accept-tos --email "$ACME_EMAIL" --server "$ACME_DIRECTORY" --path "$state" \
  --http --http.webroot /srv/acme --key-type rsa2048 $domains
umask 022  # challenge files must be readable by the lb's workers
case "$action" in
  force) lego "$@" run ;;
  # No random sleep in lego: an operator waits for `tls renew`; acme-renewd spreads its own
  # daily checks over an hour.
  renew) if [ -f "$crt" ]; then lego "$@" renew --days 30 --no-random-sleep; else lego "$@" run; fi ;;
  *) echo "acme-issue: renew or force, not $action" >&2; exit 2 ;;
esac
after=$(sha256sum "$crt" | cut -c1-64)
if [ -z "$before" ]; then echo "acme: issued $first"
elif [ "$before" != "$after" ]; then echo "acme: renewed $first"
else echo "acme: not due $first"; fi
# Into the tls volume when the lb does not have it (new, or an earlier install did not finish).
if ! cmp -s "$crt" "$tls/cert.pem"; then
  umask 077
  cp "$key" "$tls/.key.pem.tmp"
  cp "$crt" "$tls/.cert.pem.tmp"
  chmod 0644 "$tls/.cert.pem.tmp"
  mv "$tls/.key.pem.tmp" "$tls/key.pem"
  mv "$tls/.cert.pem.tmp" "$tls/cert.pem"
  tls-install
  echo "acme: installed $after"
fi
