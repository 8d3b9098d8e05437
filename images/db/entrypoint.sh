#!/bin/sh
# First start: create a UTF-8 cluster (the old guide: "UTF8, tables and fields!"), the site's
# role (without a password until db-roles sets it) and database. Every start: the platform's
# connection settings and pg_hba.conf, so an older cluster is brought to the same rules:
# - no TCP at all (listen_addresses ''): clients use the unix socket in /run/postgresql, a
#   volume that only the site's containers mount;
# - the superuser postgres only by peer authentication, i.e. only processes of this image's
#   postgres user (docker exec, or switcher's database commands); never by password;
# - on a cluster (ENGINE=swarm) the site's tasks run on other nodes: DB_NETWORK (the stack's
#   own overlay subnet, checked by switcher) turns on TCP for that subnet only, by password,
#   never for postgres;
# - every other role by password (scram-sha-256). `db-roles` (run by switcher up) keeps the
#   site's role a non-superuser that owns its database, and sets both passwords (they are
#   never in this container's environment, so rotating one changes no container).
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${DB_NETWORK:=}"
case "$DB_NETWORK" in
  "") listen="''" ;;
  *[!0-9./]*) echo "db: DB_NETWORK must be an IPv4 network (a.b.c.d/n), not $DB_NETWORK" >&2; exit 2 ;;
  *) listen="'*'" ;;
esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --username=postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=peer \
    --auth-host=reject -D "$PGDATA" >/dev/null
  # The server that creates the role and database listens in a private directory: on the shared
  # socket the health check would pass while this server is still to be stopped, and whoever
  # connected then (switcher up's db-roles) would lose the connection.
  init_socket=$(mktemp -d /tmp/db-init.XXXXXX)
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" -w start >/dev/null
  psql -X -v ON_ERROR_STOP=1 -q -h "$init_socket" -U postgres -d postgres <<'SQL'
\getenv user POSTGRES_USER
\getenv db POSTGRES_DB
CREATE ROLE :"user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE :"db" OWNER :"user" ENCODING 'UTF8' TEMPLATE template0;
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  rmdir "$init_socket"
  echo "db: initialised a UTF-8 cluster with database $POSTGRES_DB"
fi
cat > "$PGDATA/switcher.conf" <<CONF
# Written by the db image's entrypoint at every start; later lines of postgresql.conf lose.
listen_addresses = $listen
unix_socket_directories = '/run/postgresql'
unix_socket_permissions = 0777
password_encryption = scram-sha-256
max_connections = 200
shared_buffers = 128MB
CONF
grep -qx "include 'switcher.conf'" "$PGDATA/postgresql.conf" \
  || printf "\ninclude 'switcher.conf'\n" >> "$PGDATA/postgresql.conf"
cat > "$PGDATA/pg_hba.conf" <<'HBA'
# Written by the db image's entrypoint at every start (see it for why).
# TYPE  DATABASE  USER      METHOD
local   all       postgres  peer
local   all       all       scram-sha-256
HBA
if [ -n "$DB_NETWORK" ]; then
  printf 'host    all       postgres  0.0.0.0/0  reject\nhost    all       all       %s  scram-sha-256\n' \
    "$DB_NETWORK" >> "$PGDATA/pg_hba.conf"
fi
exec "$@"
