#!/bin/sh
# run-pebble LB_ADDRESS: DNS that answers every name with LB_ADDRESS, then pebble validating
# HTTP-01 on port 80 of that address, its directory on :14000 (HTTPS, /etc/pebble/*.pem).
# PEBBLE_VALIDITY: the certificates' lifetime in seconds (pebble's default: five years).
set -eu
pebble-challtestsrv -defaultIPv4 "$1" -defaultIPv6 "" -dns01 :8053 -http01 "" -https01 "" -tlsalpn01 "" \
  -management :8055 &
cat > /tmp/pebble.json <<JSON
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
 "certificate": "/etc/pebble/cert.pem", "privateKey": "/etc/pebble/key.pem",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false,
 "certificateValidityPeriod": ${PEBBLE_VALIDITY:-157766400}}}
JSON
exec pebble -config /tmp/pebble.json -dnsserver 127.0.0.1:8053
