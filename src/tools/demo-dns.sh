#!/bin/sh
# The demo's DNS (pebble-challtestsrv, started by `make run`): points a
# customer's name at the CNAME target the console's Settings → Domains
# page shows, as the customer would at their DNS provider.
#
#   src/tools/demo-dns.sh help.customer.test t-<tenant id>.domains.localhost
#   src/tools/demo-dns.sh --clear help.customer.test
#
# It is one request to challtestsrv's management API on 127.0.0.1:8055:
#   curl -s -X POST http://127.0.0.1:8055/set-cname \
#        -d '{"host": "help.customer.test.", "target": "t-….domains.localhost."}'
set -eu

api=http://127.0.0.1:8055

usage() {
    echo "usage: $0 <name> <CNAME target> | --clear <name>" >&2
    exit 2
}

# a name as a DNS name: lower case, one trailing dot; letters, digits,
# dots and hyphens only (it goes into JSON)
fqdn() {
    n=$(printf '%s' "$1" | tr 'A-Z' 'a-z' | sed 's/\.*$//')
    case "$n" in
        ''|*[!a-z0-9.-]*) echo "$0: \"$1\" is not a DNS name" >&2; exit 2 ;;
    esac
    printf '%s.' "$n"
}

post() {
    if ! out=$(curl -s -S --max-time 5 -w ' %{http_code}' -X POST "$api/$1" -d "$2" 2>&1); then
        echo "$0: the demo's DNS does not answer on $api ($out); is make run running (with pebble installed)?" >&2
        exit 1
    fi
    case "$out" in
        *' 200') ;;
        *) echo "$0: $api/$1 answered: $out" >&2; exit 1 ;;
    esac
}

[ $# -eq 2 ] || usage
if [ "$1" = --clear ]; then
    host=$(fqdn "$2")
    post clear-cname "{\"host\": \"$host\"}"
    echo "$host no longer has a CNAME (challtestsrv answers 127.0.0.1 for it again)"
    exit 0
fi
host=$(fqdn "$1")
target=$(fqdn "$2")
post set-cname "{\"host\": \"$host\", \"target\": \"$target\"}"
echo "$host CNAME $target"
