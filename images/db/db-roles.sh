#!/bin/sh
# Make the roles what the environment's store says, idempotently: the site's role a
# non-superuser that owns its database, with its password, and the superuser's password.
# switcher runs it through `docker exec` after every `switcher up` and when a secret is
# rotated, with the two passwords on stdin (the site's, then the superuser's): they are on no
# command line and in no container's environment; psql reads them from its own environment
# (\getenv), and the statements are kept out of the server log.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
IFS= read -r site_password || true
IFS= read -r superuser_password || true
[ -n "$site_password" ] && [ -n "$superuser_password" ] || { echo "db-roles: two passwords expected on stdin" >&2; exit 2; }
SITE_PASSWORD=$site_password SUPERUSER_PASSWORD=$superuser_password \
psql -X -v ON_ERROR_STOP=1 -q -U postgres -d postgres <<'SQL'
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
\getenv user POSTGRES_USER
\getenv db POSTGRES_DB
\getenv password SITE_PASSWORD
\getenv superuser_password SUPERUSER_PASSWORD
ALTER ROLE postgres PASSWORD :'superuser_password';
ALTER ROLE :"user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO :"user";
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
SQL
