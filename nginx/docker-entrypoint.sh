#!/bin/sh
# Render nginx/templates/*.template with this environment's values, test, then run nginx.
set -eu
: "${BLUE_ADDR:?}" "${GREEN_ADDR:?}" "${SITE_HOSTS:?}" "${PUBLIC_HTTPS_PORT:=443}" "${WRITE_RATE_LIMIT:=10}"
: "${TRUSTED_PROXIES:=}" "${MEDIA_URL:=/media/}"
for address in "$BLUE_ADDR" "$GREEN_ADDR"; do  # an address or a service name, nothing else
  case "$address" in *[!A-Za-z0-9.-]*) echo "lb: not an address or name: $address" >&2; exit 2 ;; esac
done
if [ "$PUBLIC_HTTPS_PORT" = 443 ]; then HTTPS_PORT_SUFFIX=""; else HTTPS_PORT_SUFFIX=":$PUBLIC_HTTPS_PORT"; fi
SERVER_NAMES=$(echo "$SITE_HOSTS" | tr ',' ' ')
WRITE_BURST=$((WRITE_RATE_LIMIT * 2))
export HTTPS_PORT_SUFFIX SERVER_NAMES WRITE_BURST
# site.pem from cert.pem and key.pem (refused when they are not a pair: then the last good
# site.pem, if there is one, keeps serving; a bad pair never takes a working certificate away).
# On a cluster (ENGINE=swarm) the certificate and key come as Swarm secrets (TLS_SECRETS=1).
if [ "${TLS_SECRETS:-}" = 1 ]; then
  install -m 0644 /run/secrets/tls-cert /etc/nginx/tls/cert.pem
  install -m 0600 /run/secrets/tls-key /etc/nginx/tls/key.pem
fi
lb-tls-install || [ -r /etc/nginx/tls/site.pem ]
export MEDIA_URL
mkdir -p /etc/nginx/switcher/server
# The colours. One engine (APP_DNS empty): each colour's container on its fixed address, over
# keep-alive connections (upstream blocks). A cluster (APP_DNS=1): each colour is its Swarm
# service's name, whose tasks Docker's DNS (127.0.0.11, endpoint_mode dnsrr) lists; nginx asks
# again at most every second and spreads requests over the addresses it got, trying the next
# one when a task refuses or does not answer, so tasks that come and go (scale, reschedule,
# a lost node) are followed without a reload.
if [ "${APP_DNS:-}" = 1 ]; then
  cat > /etc/nginx/switcher/00-upstreams.conf <<CONF
resolver 127.0.0.11 valid=1s ipv6=off;
resolver_timeout 2s;
# A task on a node that is gone does not refuse, it does not answer: try the next one soon.
proxy_connect_timeout 1s;
map \$switcher_route \$switcher_upstream {
    green   $GREEN_ADDR:8000;
    default $BLUE_ADDR:8000;
}
CONF
else
  cat > /etc/nginx/switcher/00-upstreams.conf <<CONF
proxy_connect_timeout 3s;
map \$switcher_route \$switcher_upstream {
    green   app_green;
    default app_blue;
}
upstream app_blue {
    server $BLUE_ADDR:8000 max_fails=0;
    keepalive 32;
    # Shorter than gunicorn's keepalive (65 s): nginx closes idle connections first.
    keepalive_timeout 55s;
    keepalive_requests 10000;
}
upstream app_green {
    server $GREEN_ADDR:8000 max_fails=0;
    keepalive 32;
    keepalive_timeout 55s;
    keepalive_requests 10000;
}
CONF
fi
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
# A cluster: follow the committed live colour and maintenance (lb-follow; switcher flips every
# lb itself): once before nginx serves (an lb back from an outage serves nothing it missed,
# maintenance above all), then beside it.
if [ "${LB_FOLLOW:-}" = 1 ]; then
  lb-follow --once
  lb-follow &
fi
exec "$@"
