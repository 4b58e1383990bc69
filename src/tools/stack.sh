#!/usr/bin/env bash
# The local stack: a PostgreSQL cluster and a Redis server living in one
# directory, on unix sockets only, touching no system service or port.
# Used by `make run` (devstack.sh) and by the test harness (t/lib).
#
#   stack.sh pg-start DIR      create (once) and start PostgreSQL in DIR/pg
#   stack.sh pg-stop DIR [mode] stop it (mode: fast, immediate)
#   stack.sh redis-start DIR   start Redis on DIR/run/redis.sock
#   stack.sh redis-stop DIR    stop it
#   stack.sh migrate DIR       apply pending migrations from sql/
#   stack.sh psql DIR [args]   psql as the superuser
#
# PostgreSQL refuses to run as root; as root, both servers run as the
# unprivileged "postgres" account (created by Debian's postgresql package),
# and their sockets are world-accessible so nginx workers can reach them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cmd=${1:?command}
dir=${2:?directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_service() {
    if [ "$(id -u)" -eq 0 ]; then
        # from a directory the service account can enter
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

prepare_dirs() {
    mkdir -p "$dir/run" "$dir/log" "$dir/pg" "$dir/redis"
    chmod 755 "$dir" "$dir/run" "$dir/log"
    chmod 700 "$dir/pg" "$dir/redis"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir/run" "$dir/log" "$dir/pg" "$dir/redis"
        chmod 1777 "$dir/run"
    fi
}

psql_su() {
    PGOPTIONS="-c client_min_messages=warning" as_service "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -U postgres "$@"
}

case "$cmd" in

pg-start)
    prepare_dirs
    if [ ! -f "$dir/pg/PG_VERSION" ]; then
        as_service "$pgbin/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/log/initdb.log" 2>&1 \
            || { cat "$dir/log/initdb.log" >&2; exit 1; }
        cat >>"$dir/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0777
fsync = on
max_connections = 100
shared_buffers = 128MB
log_min_messages = warning
CONF
    fi
    if ! as_service "$pgbin/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
        as_service "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/log/postgresql.log" \
            -w -t 60 start >/dev/null
    fi
    if ! psql_su -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'helpdesk'" | grep -q 1; then
        psql_su -d postgres -c "CREATE DATABASE helpdesk"
    fi
    ;;

pg-stop)
    if [ -f "$dir/pg/postmaster.pid" ]; then
        as_service "$pgbin/pg_ctl" -D "$dir/pg" -m "${3:-fast}" -w stop >/dev/null 2>&1 || true
    fi
    ;;

redis-start)
    prepare_dirs
    if [ -S "$dir/run/redis.sock" ] && redis-cli -s "$dir/run/redis.sock" ping >/dev/null 2>&1; then
        exit 0
    fi
    as_service redis-server --port 0 --unixsocket "$dir/run/redis.sock" \
        --unixsocketperm 777 --dir "$dir/redis" --daemonize yes \
        --pidfile "$dir/run/redis.pid" --logfile "$dir/log/redis.log" \
        --save '' --appendonly no
    for _ in $(seq 1 100); do
        redis-cli -s "$dir/run/redis.sock" ping >/dev/null 2>&1 && exit 0
        sleep 0.05
    done
    echo "redis did not start; see $dir/log/redis.log" >&2
    exit 1
    ;;

redis-stop)
    if [ -S "$dir/run/redis.sock" ]; then
        redis-cli -s "$dir/run/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    fi
    ;;

migrate)
    # Every migration is idempotent (CREATE ... IF NOT EXISTS, CREATE OR
    # REPLACE FUNCTION): a new file is applied, and so is a file whose
    # content changed, which is how function bodies are updated in place.
    # Table changes always come in a new file.
    psql_su -d helpdesk -c "CREATE SCHEMA IF NOT EXISTS helpdesk_meta;
        CREATE TABLE IF NOT EXISTS helpdesk_meta.schema_migrations (
            version text PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now());
        ALTER TABLE helpdesk_meta.schema_migrations
            ADD COLUMN IF NOT EXISTS checksum text"
    applied=$(psql_su -d helpdesk -tAc "SELECT version || ' ' || coalesce(checksum, '') FROM helpdesk_meta.schema_migrations")
    for f in "$top"/sql/[0-9]*.sql; do
        v=$(basename "$f" .sql)
        sum=$(sha256sum "$f" | cut -c1-64)
        if printf '%s\n' "$applied" | grep -qx "$v $sum"; then
            continue
        fi
        { cat "$f"
          printf "\nINSERT INTO helpdesk_meta.schema_migrations (version, checksum) VALUES ('%s', '%s')\n" "$v" "$sum"
          printf "ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now();\n"
        } | psql_su -d helpdesk --single-transaction -f - >/dev/null
        echo "migrated: $v"
    done
    ;;

psql)
    shift 2
    psql_su -d helpdesk "$@"
    ;;

pgbench)
    shift 2
    as_service "$pgbin/pgbench" -h "$dir/run" -U helpdesk_app "$@" helpdesk
    ;;

*)
    echo "unknown command: $cmd" >&2
    exit 2
    ;;
esac
