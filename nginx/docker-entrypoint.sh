#!/bin/sh
# Render nginx/templates/*.template with this environment's values, test, then run nginx.
set -eu
: "${BLUE_ADDR:?}" "${GREEN_ADDR:?}" "${SITE_HOSTS:?}" "${PUBLIC_HTTPS_PORT:=443}" "${WRITE_RATE_LIMIT:=10}"
: "${TRUSTED_PROXIES:=}" "${MEDIA_URL:=/media/}"
if [ "$PUBLIC_HTTPS_PORT" = 443 ]; then HTTPS_PORT_SUFFIX=""; else HTTPS_PORT_SUFFIX=":$PUBLIC_HTTPS_PORT"; fi
SERVER_NAMES=$(echo "$SITE_HOSTS" | tr ',' ' ')
WRITE_BURST=$((WRITE_RATE_LIMIT * 2))
export HTTPS_PORT_SUFFIX SERVER_NAMES WRITE_BURST
# site.pem from cert.pem and key.pem (refused when they are not a pair: then the last good
# site.pem, if there is one, keeps serving; a bad pair never takes a working certificate away).
lb-tls-install || [ -r /etc/nginx/tls/site.pem ]
export MEDIA_URL
mkdir -p /etc/nginx/switcher/server
vars='${BLUE_ADDR} ${GREEN_ADDR} ${HTTPS_PORT_SUFFIX} ${SERVER_NAMES} ${WRITE_RATE_LIMIT} ${WRITE_BURST} ${MEDIA_URL}'
# templates/*: http level (included by nginx.conf); templates/server/*: inside server blocks.
for template in /etc/nginx/templates/*.template /etc/nginx/templates/server/*.template; do
  name=${template#/etc/nginx/templates/}
  envsubst "$vars" < "$template" > "/etc/nginx/switcher/${name%.template}"
done
# The client's address is the connection's, unless the connection comes from a trusted proxy
# (TRUSTED_PROXIES, checked by switcher as addresses or networks): then it is the last
# address in X-Forwarded-For that is not itself a trusted proxy (nginx's realip module).
{
  echo "# Rendered from TRUSTED_PROXIES by the lb entrypoint."
  for proxy in $(echo "$TRUSTED_PROXIES" | tr ',' ' '); do
    echo "set_real_ip_from $proxy;"
  done
  if [ -n "$TRUSTED_PROXIES" ]; then
    echo "real_ip_header X-Forwarded-For;"
    echo "real_ip_recursive on;"
  fi
} > /etc/nginx/switcher/00-realip.conf
nginx -t -q -e stderr
exec "$@"
