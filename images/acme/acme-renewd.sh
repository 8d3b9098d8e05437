#!/bin/sh
# acme-renewd: the stack's own renewal check (TLS_MODE=acme, the compose service acme). Runs
# acme-issue renew at start and then every ACME_CHECK_SECONDS (default a day): lego renews the
# certificate 30 days before it expires and acme-issue installs it for the lb. A failed attempt
# is retried after ACME_RETRY_SECONDS, doubling each time up to six hours (never later than the
# next daily check); the checks after a success come up to 1/24 of the interval late, at random,
# so that many sites do not ask the CA in the same second. Every attempt and its outcome go to /etc/nginx/tls/renewal.json, which
# `switcher tls status` and `switcher status` show.
set -eu
check=${ACME_CHECK_SECONDS:-86400} retry=${ACME_RETRY_SECONDS:-300}
cap=21600
[ "$cap" -le "$check" ] || cap=$check
failures=0
trap 'exit 0' TERM INT
note() {  # outcome, error or "", seconds to the next attempt
  now=$(date -u +%s)
  error=$(printf '%s' "$2" | tr -d '"\\' | tr '\n\t' '  ' | cut -c1-300)
  sha=$(sha256sum /etc/nginx/tls/cert.pem 2>/dev/null | cut -c1-64 || true)
  umask 022
  printf '{"by": "acme service", "error": "%s", "failures": %d, "mode": "acme", "next_attempt": "%s", "outcome": "%s", "time": "%s"}\n' \
    "$error" "$failures" "$(date -u -d "@$((now + $3))" +%Y-%m-%dT%H:%M:%SZ)" "$1" \
    "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)" > /etc/nginx/tls/.renewal.json.tmp
  mv /etc/nginx/tls/.renewal.json.tmp /etc/nginx/tls/renewal.json
  echo "acme-renewd: $1${2:+: $error}; next attempt in $3 s${sha:+ (serving $sha)}"
}
while :; do
  output=$(acme-issue renew 2>&1) && issued=1 || issued=0
  printf '%s\n' "$output"
  if [ "$issued" = 1 ]; then
    failures=0 delay=$((check + $(od -An -N2 -tu2 /dev/urandom) % (check / 24 + 1)))
    case "$output" in
      *"acme: installed"*) outcome=ok ;;
      *) outcome="not due" ;;
    esac
    note "$outcome" "" "$delay"
  else
    failures=$((failures + 1)) delay=$retry step=1
    while [ "$step" -lt "$failures" ] && [ "$delay" -lt "$cap" ]; do delay=$((delay * 2)) step=$((step + 1)); done
    [ "$delay" -le "$cap" ] || delay=$cap
    note failed "$(printf '%s\n' "$output" | grep -v '^\s*$' | tail -n 2)" "$delay"
  fi
  sleep "$delay" &
  wait $!
done
