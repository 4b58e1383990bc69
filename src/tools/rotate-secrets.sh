#!/bin/sh
# Waits until every secret at rest is sealed under the current key of
# helpdesk_secret_key_file (the first one in the file).
#
# The module does the work: when its workers start (nginx started or
# reloaded) and every minute after, one worker re-encrypts, in batches,
# every value that is not under the current key.  This asks the provider
# API (GET /v1/provider/secrets) what is left, until nothing is: then the
# older keys can be taken out of the key file.
#
# It waits for the key id it is given: right after a reload, old workers
# may still answer for a moment with the key they started with, and
# "nothing left under the old key" is no reason to remove it.
#
# usage: rotate-secrets.sh <API base URL> <provider key file> <key id> [timeout s]
set -eu

if [ $# -lt 3 ]; then
    echo "usage: $0 <API base URL, e.g. https://support.example/api> <provider key file> <new key id> [timeout seconds]" >&2
    exit 2
fi

url=$1
keyfile=$2
want=$3
timeout=${4:-300}
deadline=$(( $(date +%s) + timeout ))

# the key goes to curl on its standard input, not on its command line
ask() {
    printf 'header = "Authorization: Bearer %s"\n' "$(cat "$keyfile")" \
        | curl -sf -K - "$url/v1/provider/secrets"
}

while :; do
    if ! status=$(ask); then
        echo "rotate-secrets: no answer from $url/v1/provider/secrets" >&2
        exit 1
    fi
    key_id=$(printf '%s' "$status" | sed -n 's/.*"key_id": *"\([^"]*\)".*/\1/p')
    remaining=$(printf '%s' "$status" | sed -n 's/.*"remaining": *\([0-9]*\).*/\1/p')
    if [ "$key_id" = "$want" ] && [ "$remaining" = 0 ]; then
        echo "rotate-secrets: every secret is sealed under key \"$key_id\""
        exit 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        if [ "$key_id" != "$want" ]; then
            echo "rotate-secrets: nginx still encrypts under \"$key_id\", not \"$want\":" \
                 "is \"$want\" first in the key file, and was nginx reloaded?" >&2
            exit 1
        fi
        echo "rotate-secrets: $remaining value(s) not under key \"$want\" yet: $status" >&2
        echo "rotate-secrets: the error log names those that do not decrypt" \
             "(a key missing from the file, or a value altered)" >&2
        exit 1
    fi
    sleep 1
done
