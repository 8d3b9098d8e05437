#!/bin/sh
# Render nginx/templates/*.template with this environment's values, test, then run nginx.
set -eu
: "${BLUE_ADDR:?}" "${GREEN_ADDR:?}" "${SITE_HOSTS:?}" "${PUBLIC_HTTPS_PORT:=443}"
if [ "$PUBLIC_HTTPS_PORT" = 443 ]; then HTTPS_PORT_SUFFIX=""; else HTTPS_PORT_SUFFIX=":$PUBLIC_HTTPS_PORT"; fi
SERVER_NAMES=$(echo "$SITE_HOSTS" | tr ',' ' ')
export HTTPS_PORT_SUFFIX SERVER_NAMES
for cert in /etc/nginx/tls/cert.pem /etc/nginx/tls/key.pem; do
  [ -r "$cert" ] || { echo "lb: $cert is missing (switcher up provides it)" >&2; exit 1; }
done
mkdir -p /etc/nginx/switcher
vars='${BLUE_ADDR} ${GREEN_ADDR} ${HTTPS_PORT_SUFFIX} ${SERVER_NAMES}'
for template in /etc/nginx/templates/*.template; do
  name=$(basename "$template" .template)
  envsubst "$vars" < "$template" > "/etc/nginx/switcher/$name"
done
nginx -t -q
exec "$@"
