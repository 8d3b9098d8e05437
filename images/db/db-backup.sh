#!/bin/bash
# The environment's database backups, in the backups volume (/var/lib/switcher/backups), run by
# switcher in a one-off container of this image (compose service db-task) that shares the db's
# socket: the superuser by peer authentication, no password anywhere.
#
#   db-backup create ID RELEASE LABEL   pg_dump -Fc of the site's database, consistent with the
#                                       per-table row counts in ID.json (one snapshot for both);
#                                       then every record, as list prints them
#   db-backup list                      every backup's record, one JSON object per line
#   db-backup verify ID                 the dump's size and sha256 match its record
#   db-backup restore ID                into a fresh database, checked against the record's row
#                                       counts, then swapped in for the site's (never half-done)
#   db-backup delete ID...              remove backups
#
# Writes go to a temporary name first; a record exists only for a complete, checked dump.
set -euo pipefail
: "${POSTGRES_DB:?}"
dir=/var/lib/switcher/backups
umask 077

counts_sql="SELECT coalesce(json_object_agg(t.name, t.rows ORDER BY t.name), '{}') FROM (
  SELECT format('%s.%s', table_schema, table_name) AS name,
         (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name),
                                                false, true, '')))[1]::text::bigint AS rows
  FROM information_schema.tables
  WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')) t"

json_string() {  # a shell string as a JSON string (the ids, releases and labels are checked by switcher)
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

create() {
  id=$1 release=$2 label=$3
  work=$(mktemp -d /tmp/backup.XXXXXX)
  mkfifo "$work/in"
  # One transaction holds the snapshot: pg_dump dumps exactly what the counts count.
  psql -X -At -q -v ON_ERROR_STOP=1 -U postgres -d "$POSTGRES_DB" < "$work/in" > "$work/out" 2> "$work/err" &
  session=$!
  exec 3> "$work/in"
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();" >&3
  tries=0
  until [ -s "$work/out" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { echo "db-backup: no snapshot: $(cat "$work/err")" >&2; exit 1; }
    kill -0 "$session" 2>/dev/null || { echo "db-backup: $(cat "$work/err")" >&2; exit 1; }
    sleep 0.1
  done
  snapshot=$(head -n 1 "$work/out")
  started=$(date -u +%s)
  # The counts run in the snapshot's own session while pg_dump dumps it, and the checksum is
  # taken as the dump is written: both overlap the dump instead of following it.
  printf '%s\n' "$counts_sql;" >&3
  pg_dump -U postgres -d "$POSTGRES_DB" --snapshot="$snapshot" -Fc \
    | tee "$dir/.$id.dump.tmp" | sha256sum | cut -d' ' -f1 > "$work/sum"
  printf '%s\n' "COMMIT;" >&3
  exec 3>&-
  wait "$session"
  counts=$(sed -n 2p "$work/out")
  sum=$(cat "$work/sum")
  migrations=$(psql -X -At -q -U postgres -d "$POSTGRES_DB" -c \
    "SELECT CASE WHEN to_regclass('public.django_migrations') IS NULL THEN 0 ELSE (SELECT count(*) FROM django_migrations) END")
  size=$(stat -c %s "$dir/.$id.dump.tmp")
  pg_restore --list "$dir/.$id.dump.tmp" > /dev/null  # a dump pg_restore can read
  mv "$dir/.$id.dump.tmp" "$dir/$id.dump"
  printf '{"id": %s, "created": "%s", "seconds": %s, "release": %s, "label": %s, "database": %s, "size": %s, "sha256": "%s", "migrations": %s, "tables": %s}\n' \
    "$(json_string "$id")" "$(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ)" "$(($(date -u +%s) - started))" \
    "$(json_string "$release")" "$(json_string "$label")" "$(json_string "$POSTGRES_DB")" \
    "$size" "$sum" "$migrations" "$counts" > "$dir/.$id.json.tmp"
  mv "$dir/.$id.json.tmp" "$dir/$id.json"
  rm -rf "$work"
  list  # every record, the new one among them (retention needs them all)
}

list() {
  for record in "$dir"/*.json; do [ -e "$record" ] && cat "$record"; done; true
}

counts() {  # counts DATABASE: the per-table row counts, as in a record
  psql -X -At -q -v ON_ERROR_STOP=1 -U postgres -d "$1" -c "$counts_sql"
}

sql() {  # sql STATEMENT...: as the superuser, in the maintenance database
  psql -X -At -q -v ON_ERROR_STOP=1 -U postgres -d postgres "$@"
}

restore() {
  id=$1 fresh="${POSTGRES_DB}_restore" old="${POSTGRES_DB}_replaced"
  [ -f "$dir/$id.json" ] && [ -f "$dir/$id.dump" ] || { echo "db-backup: no backup $1" >&2; exit 3; }
  # The checksum is checked while pg_restore reads the same file; the swap waits for both.
  verify "$id" > /dev/null 2> /tmp/verify.err &
  checking=$!
  # A fresh database, owned by the site's role, with the dump's objects owned by it too.
  sql -c "DROP DATABASE IF EXISTS \"$fresh\"" -c "DROP DATABASE IF EXISTS \"$old\""
  sql -c "CREATE DATABASE \"$fresh\" OWNER \"$POSTGRES_USER\" ENCODING 'UTF8' TEMPLATE template0"
  if ! pg_restore -U postgres -d "$fresh" --no-owner --no-privileges --role="$POSTGRES_USER" --exit-on-error \
       "$dir/$id.dump"; then
    wait "$checking" || true
    sql -c "DROP DATABASE IF EXISTS \"$fresh\""
    echo "db-backup: restoring $id failed; the database is unchanged" >&2
    exit 5
  fi
  if ! wait "$checking"; then
    sql -c "DROP DATABASE IF EXISTS \"$fresh\""
    cat /tmp/verify.err >&2
    exit 4
  fi
  want=$(sed -n 's/.*"tables": \({.*}\)}$/\1/p' "$dir/$id.json" | tr -d ' ')
  have=$(counts "$fresh" | tr -d ' ')
  if [ "$want" != "$have" ]; then
    sql -c "DROP DATABASE IF EXISTS \"$fresh\""
    echo "db-backup: the restored rows differ from backup $id's record ($have, not $want); the database is unchanged" >&2
    exit 5
  fi
  # The swap: nobody may connect to either while the names change.
  sql -c "ALTER DATABASE \"$POSTGRES_DB\" ALLOW_CONNECTIONS false"
  tries=0
  until sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$POSTGRES_DB' AND pid <> pg_backend_pid()" \
          -c "ALTER DATABASE \"$POSTGRES_DB\" RENAME TO \"$old\"" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ]; then
      sql -c "ALTER DATABASE \"$POSTGRES_DB\" ALLOW_CONNECTIONS true"
      sql -c "DROP DATABASE IF EXISTS \"$fresh\""
      echo "db-backup: sessions kept reconnecting to $POSTGRES_DB; the database is unchanged" >&2
      exit 5
    fi
    sleep 0.2
  done
  sql -c "ALTER DATABASE \"$fresh\" RENAME TO \"$POSTGRES_DB\""
  sql -c "DROP DATABASE \"$old\" WITH (FORCE)"
  echo "restored $id into $POSTGRES_DB"
}

verify() {
  record="$dir/$1.json"
  [ -f "$record" ] && [ -f "$dir/$1.dump" ] || { echo "db-backup: no backup $1" >&2; exit 3; }
  want=$(sed -n 's/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$record")
  have=$(sha256sum "$dir/$1.dump" | cut -d' ' -f1)
  [ "$want" = "$have" ] || { echo "db-backup: backup $1 is damaged: its checksum does not match its record" >&2; exit 4; }
  pg_restore --list "$dir/$1.dump" > /dev/null
}

case "${1:-}" in
  create) shift; create "$@" ;;
  list) list ;;
  verify) verify "$2" ;;
  restore) restore "$2" ;;
  delete) shift; for id in "$@"; do rm -f "$dir/$id.dump" "$dir/$id.json"; done ;;
  *) echo "usage: db-backup create ID RELEASE LABEL | list | verify ID | restore ID | delete ID..." >&2; exit 2 ;;
esac
