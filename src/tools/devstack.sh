#!/usr/bin/env bash
# `make run`, `make stop`, `make migrate`: the gateway with a demo tenant on
# a local PostgreSQL and Redis under build/var, on unix sockets.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
var="$top/build/var"

# As root, PostgreSQL and Redis run as "postgres" and nginx workers as
# "nobody": when they cannot reach the work tree (a private home), the
# stack lives under /var/tmp and build/var points there.
if [ "$(id -u)" -eq 0 ] && ! runuser -u nobody -- test -x "$top/build" 2>/dev/null; then
    real="/var/tmp/nginx-helpdesk-$(printf %s "$top" | sha1sum | cut -c1-12)"
    mkdir -p "$real"
    chmod 755 "$real"
    if [ ! -L "$var" ]; then
        rm -rf "$var"
        mkdir -p "$top/build"
        ln -s "$real" "$var"
    fi
    var="$real"
fi
module="$top/build/ngx_http_helpdesk_module.so"
stack="$here/stack.sh"
url="http://127.0.0.1:8080/api"

nginx_pid() {
    cat "$var/run/nginx.pid" 2>/dev/null
}

nginx_running() {
    pid=$(nginx_pid)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

random_key() {
    printf '%s%s' "$1" "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
}

stop() {
    if nginx_running; then
        kill -QUIT "$(nginx_pid)" 2>/dev/null || true
        for _ in $(seq 1 50); do nginx_running || break; sleep 0.1; done
    fi
    "$stack" redis-stop "$var"
    "$stack" pg-stop "$var"
}

start_stack() {
    "$stack" pg-start "$var"
    "$stack" redis-start "$var"
    "$stack" migrate "$var"
}

seed() {
    [ -f "$var/provider.key" ] || { random_key "hdp_" > "$var/provider.key"; chmod 600 "$var/provider.key"; }
    if [ ! -f "$var/demo.env" ]; then
        key=$(random_key "hdk_")
        "$stack" psql "$var" -v api_key="$key" -f - < "$top/sql/demo_seed.sql" >/dev/null
        cat > "$var/demo.env" <<ENV
HELPDESK_URL=$url
HELPDESK_API_KEY=$key
HELPDESK_PROVIDER_KEY=$(cat "$var/provider.key")
ENV
    fi
}

render_conf() {
    mkdir -p "$var/tmp"
    user_line=""
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user nobody nogroup;"
    fi
    sed -e "s|@VAR@|$var|g" -e "s|@MODULE@|$module|g" -e "s|@USER@|$user_line|" \
        "$top/conf/nginx-dev.conf" > "$var/nginx.conf"
}

case "${1:-run}" in

run)
    if nginx_running; then
        echo "nginx-helpdesk is already running (make stop to stop it)."
        cat "$var/demo.env"
        exit 0
    fi
    start_stack
    seed
    render_conf
    nginx -t -q -p "$var" -c "$var/nginx.conf"
    # shellcheck disable=SC1091
    . "$var/demo.env"
    cat <<MSG

nginx-helpdesk is running (PostgreSQL and Redis on unix sockets in build/var/run).

  API base URL   $HELPDESK_URL
  API key        $HELPDESK_API_KEY
  Provider key   $HELPDESK_PROVIDER_KEY
  (also in build/var/demo.env; logs in build/var/log)

Try:
  curl -s -X POST $HELPDESK_URL/v1/tickets \\
       -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" \\
       -d '{"title": "Problema reportado pelo sistema", "description": "Detectado erro no servidor XYZ", "priority": "high", "category": "infrastructure", "requester_email": "sistema@empresa.com"}'
  curl -s $HELPDESK_URL/v1/tickets -H "Authorization: Bearer $HELPDESK_API_KEY"

Ctrl-C (or make stop) stops everything.
MSG
    trap 'echo; echo stopping...; stop; exit 0' INT TERM
    nginx -p "$var" -c "$var/nginx.conf" -g 'daemon off;' &
    wait $! || true
    stop
    ;;

stop)
    stop
    ;;

migrate)
    "$stack" pg-start "$var"
    "$stack" migrate "$var"
    ;;

*)
    echo "usage: devstack.sh run|stop|migrate" >&2
    exit 2
    ;;
esac
