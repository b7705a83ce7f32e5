#!/bin/sh
# The first start of an empty data folder, as the official image does it:
# initdb with POSTGRES_USER and the password from POSTGRES_PASSWORD_FILE,
# password (scram) logins from the network, POSTGRES_DB created. Then postgres.
set -eu
wants_server=yes
for argument in "$@"; do
    case "$argument" in -V|--version|-'?'|--help|--describe-config) wants_server=no ;; esac
done
if [ "${1:-}" = postgres ] && [ "$wants_server" = yes ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    pwfile="${POSTGRES_PASSWORD_FILE:?POSTGRES_PASSWORD_FILE is required}"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.auto.conf"
    if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
        postgres --single -D "$PGDATA" postgres <<SQL >/dev/null
CREATE DATABASE "$POSTGRES_DB" OWNER "$user";
SQL
    fi
    echo "docker-entrypoint: initialised $PGDATA"
fi
exec "$@"
