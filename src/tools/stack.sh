#!/usr/bin/env bash
# The local stack: a PostgreSQL cluster and a Redis server living in one
# directory, on unix sockets only, touching no system service or port.
# Used by `make run` (devstack.sh) and by the test harness (t/lib).
#
#   stack.sh pg-start DIR      create (once) and start PostgreSQL in DIR/pg
#   stack.sh pg-stop DIR [mode] stop it (mode: fast, immediate)
#   stack.sh redis-start DIR   start Redis on DIR/run/redis.sock
#   stack.sh redis-stop DIR    stop it
#   stack.sh migrate DIR       apply pending migrations from sql/migrations/,
#                              then every function from sql/<concern>/
#   stack.sh provider-key DIR FILE
#                              install the hosting provider's key (the file
#                              helpdesk_provider_key_file names) in the
#                              database, as SHA-256(SHA-256(key)): the entry points
#                              that look across tenants require it
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
        --save '' --appendonly yes --appendfsync everysec
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
    # The schema in two parts (see sql/migrations/001_schema.sql):
    #   sql/migrations/NNN_*.sql  table changes, each applied once, in order,
    #                             recorded with its checksum; never edited
    #                             once released
    #   sql/<concern>/*.sql       functions, all re-applied every time after
    #                             the migrations, then sql/privileges.sql
    # all in one transaction: a step that fails leaves the database as it
    # was, with the functions that go with its tables.
    # The files are read from a copy in DIR, which the server's account can
    # read even when the work tree is private.
    rm -rf "$dir/sql"
    cp -R "$top/sql" "$dir/sql"
    chmod -R a+rX "$dir/sql"
    psql_su -d helpdesk -c "CREATE SCHEMA IF NOT EXISTS helpdesk_meta;
        CREATE TABLE IF NOT EXISTS helpdesk_meta.schema_migrations (
            version text PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now());
        ALTER TABLE helpdesk_meta.schema_migrations
            ADD COLUMN IF NOT EXISTS checksum text"
    old=$(psql_su -d helpdesk -tAc "SELECT string_agg(version, ' ' ORDER BY version)
                                    FROM helpdesk_meta.schema_migrations
                                    WHERE version !~ '^migrations/'")
    if [ -n "$old" ]; then
        real=$(cd "$dir" && pwd -P)
        cat >&2 <<MSG
This database was created with the earlier layout of sql/ (numbered files
that mixed tables and functions and were applied again whenever they
changed: $old).
It cannot be brought to the current layout (sql/migrations/ applied once,
functions re-applied from sql/<concern>/, entry points in schema "api")
in place.  Recreate it; for the local stack of \`make run\`, which loses
its demo data and seeds new demo data:

    make stop && rm -rf $real && make run
MSG
        exit 1
    fi
    applied=$(psql_su -d helpdesk -tAc "SELECT version || ' ' || coalesce(checksum, '') FROM helpdesk_meta.schema_migrations")
    set --
    pending=
    for f in "$dir"/sql/migrations/[0-9]*.sql; do
        v="migrations/$(basename "$f" .sql)"
        sum=$(sha256sum "$f" | cut -c1-64)
        line=$(printf '%s\n' "$applied" | grep "^$v " || true)
        if [ -n "$line" ]; then
            if [ "$line" != "$v $sum" ]; then
                echo "sql/$v.sql was changed after it was applied to this database." >&2
                echo "Migrations are never edited once released: restore it and put the change in a new migration." >&2
                exit 1
            fi
            continue
        fi
        set -- "$@" -f "$f" -c "RESET ROLE" \
            -c "INSERT INTO helpdesk_meta.schema_migrations (version, checksum) VALUES ('$v', '$sum')"
        pending="$pending $v"
    done
    for f in "$dir"/sql/*/*.sql; do
        case "$f" in "$dir"/sql/migrations/*) continue ;; esac
        set -- "$@" -f "$f" -c "RESET ROLE"
    done
    psql_su -d helpdesk --single-transaction \
        -c "SET LOCAL check_function_bodies = off" "$@" \
        -f "$dir/sql/privileges.sql" >/dev/null
    for v in $pending; do
        echo "migrated: $v"
    done
    ;;

provider-key)
    # the key as nginx reads it: the file's one word, blanks around it
    # dropped; only its hash reaches the database (and this process)
    file=${3:?file}
    key=$(tr -d ' \t\r\n' < "$file")
    [ -n "$key" ] || { echo "$file: no key" >&2; exit 1; }
    hash=$(printf '%s' "$key" | sha256sum | cut -c1-64)
    psql_su -d helpdesk -c "INSERT INTO helpdesk_meta.module_keys (name, key_hash)
        VALUES ('provider', sha256('\\x$hash'::bytea))
        ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash, set_at = now()"
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
